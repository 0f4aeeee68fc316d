// The Prometheus side of llmprobe: one registry holding every llmprobe_* family, one
// ProbeSeries per (target, workload) created from the configuration at start-up so every known
// series exists before the first request, and the text exposition (with process_* metrics).
// Thread-safe: observations and serialization may happen on different threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "llmprobe/config.hpp"
#include "llmprobe/measurement.hpp"

namespace llmprobe {

struct BuildInfo {
  std::string version;
  std::string revision;
};
BuildInfo build_info();

// Default bucket ladders: supersets of vLLM's server-side edges (REFERENCE.md §2).
const std::vector<double>& default_ttft_buckets();
const std::vector<double>& default_itl_buckets();  // also TPOT
const std::vector<double>& default_request_duration_buckets();
const std::vector<double>& default_schedule_lag_buckets();
const std::vector<double>& default_phase_buckets();  // the same 0.1 ms .. 10 s ladder

class MetricsRegistry;

// The series of one (target, workload) pair. Thread-safe; methods never throw.
class ProbeSeries {
 public:
  virtual ~ProbeSeries() = default;
  // Observes one finished request: histograms, counters, last-run gauges.
  // `finished_at` is wall-clock time for the *_timestamp_seconds gauges.
  virtual void observe(const Measurement& measurement,
                       std::chrono::system_clock::time_point finished_at) = 0;
  virtual void run_skipped() = 0;
  virtual void request_started() = 0;   // in_flight + 1
  virtual void request_finished() = 0;  // in_flight - 1
};

class MetricsRegistry {
 public:
  explicit MetricsRegistry(const Config& config, BuildInfo info = build_info());
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The series for a configured pair; throws std::out_of_range for an unknown pair.
  ProbeSeries& series(const std::string& target, const std::string& workload);

  // Text exposition format 0.0.4 of every llmprobe_* and process_* metric.
  std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace llmprobe
