// The probe scheduler's decisions, without I/O: one open-loop schedule per target x workload
// job. Run k of a job is due at t0 + k*interval + jitter_k, where jitter_k in [0, jitter) is a
// pure function of (seed, k): the schedule never drifts, however late runs start or finish.
// A run that comes due while the job's previous run is still in flight is skipped and
// counted, never queued (queued probes would hide the very slowness they should report).
// The daemon drives this with an Asio timer; tests drive it with a fake clock.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "llmprobe/clock.hpp"

namespace llmprobe {

class ProbeSchedule {
 public:
  // Requires interval > 0 and 0 <= jitter < interval (the config guarantees both).
  ProbeSchedule(TimePoint t0, Duration interval, Duration jitter, std::uint64_t seed);
  TimePoint due(std::uint64_t run) const;

 private:
  TimePoint t0_;
  Duration interval_;
  Duration jitter_;
  std::uint64_t seed_;
};

class SchedulerCore {
 public:
  struct Action {
    enum class Kind { start, skip };
    Kind kind;
    std::size_t job;
    std::uint64_t run;
    TimePoint scheduled;  // the run's due time (lateness is measured from it)
  };

  std::size_t add_job(ProbeSchedule schedule);
  std::size_t job_count() const { return jobs_.size(); }

  // The earliest due time of any job (TimePoint::max() when there are none).
  TimePoint next_due() const;

  // Appends every decision due at or before `now`. A job more than a whole interval behind
  // (the process was stopped, the machine suspended) starts only its latest due run and skips
  // the older ones.
  void poll(TimePoint now, std::vector<Action>& out);

  // The job's in-flight run ended.
  void finished(std::size_t job);
  bool in_flight(std::size_t job) const { return jobs_.at(job).in_flight; }

 private:
  struct Job {
    ProbeSchedule schedule;
    std::uint64_t next_run = 0;
    bool in_flight = false;
  };
  std::vector<Job> jobs_;
};

}  // namespace llmprobe
