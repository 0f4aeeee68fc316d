// The process_* metrics every Prometheus exporter has (the Go client's process collector), which
// prometheus-cpp does not provide. Read from /proc at collection time, so a scrape always shows
// current values. Linux only; anything unreadable is left out of the scrape rather than thrown.
// Thread-safe: Collect() keeps no state besides the page size and clock tick rate.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace llmprobe {

class ProcessCollector final : public prometheus::Collectable {
 public:
  ProcessCollector();
  // process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
  // process_open_fds, process_max_fds, process_start_time_seconds.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  long page_size_;
  long clock_ticks_per_second_;
};

}  // namespace llmprobe
