#include "llmprobe/scheduler.hpp"

#include <algorithm>

namespace llmprobe {

namespace {

// SplitMix64: a good 64-bit mix, so jitter_k is an independent-looking pure function of k.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

ProbeSchedule::ProbeSchedule(TimePoint t0, Duration interval, Duration jitter, std::uint64_t seed)
    : t0_(t0), interval_(interval), jitter_(jitter), seed_(seed) {}

TimePoint ProbeSchedule::due(std::uint64_t run) const {
  Duration jitter{0};
  if (jitter_.count() > 0) {
    jitter = Duration(static_cast<Duration::rep>(mix(seed_ ^ mix(run)) %
                                                 static_cast<std::uint64_t>(jitter_.count())));
  }
  return t0_ + interval_ * static_cast<Duration::rep>(run) + jitter;
}

std::size_t SchedulerCore::add_job(ProbeSchedule schedule) {
  jobs_.push_back(Job{schedule});
  return jobs_.size() - 1;
}

TimePoint SchedulerCore::next_due() const {
  TimePoint next = TimePoint::max();
  for (const Job& job : jobs_)
    next = std::min(next, job.schedule.due(job.next_run));
  return next;
}

void SchedulerCore::poll(TimePoint now, std::vector<Action>& out) {
  for (std::size_t index = 0; index < jobs_.size(); ++index) {
    Job& job = jobs_[index];
    while (job.schedule.due(job.next_run) <= now) {
      const std::uint64_t run = job.next_run++;
      const TimePoint scheduled = job.schedule.due(run);
      const bool superseded = job.schedule.due(job.next_run) <= now;
      if (superseded || job.in_flight) {
        out.push_back({Action::Kind::skip, index, run, scheduled});
        continue;
      }
      job.in_flight = true;
      out.push_back({Action::Kind::start, index, run, scheduled});
    }
  }
}

void SchedulerCore::finished(std::size_t job) {
  jobs_.at(job).in_flight = false;
}

}  // namespace llmprobe
