// Time for llmprobe: one monotonic clock for every measurement, behind an interface so the
// scheduler can be tested with a fake clock. Production uses std::chrono::steady_clock.
#pragma once

#include <chrono>

namespace llmprobe {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Duration = std::chrono::nanoseconds;

// Thread-safe: implementations must be callable from any thread.
class ClockSource {
 public:
  virtual ~ClockSource() = default;
  virtual TimePoint now() const = 0;
};

// Thread-safe. The clock every production component uses.
class SteadyClockSource final : public ClockSource {
 public:
  TimePoint now() const override { return SteadyClock::now(); }
  static const SteadyClockSource& instance() {
    static const SteadyClockSource clock;
    return clock;
  }
};

// Seconds as a double, the unit of every exported metric.
inline double to_seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace llmprobe
