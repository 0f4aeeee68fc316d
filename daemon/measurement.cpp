// Measurement math, exactly as vLLM's serving benchmark (REFERENCE.md §1).
#include "llmprobe/measurement.hpp"

#include <algorithm>

namespace llmprobe {

Measurement measure(const StreamRecord& record) {
  Measurement m;
  m.error = record.error;
  m.lateness = std::max(Duration::zero(), record.begin - record.scheduled_start);
  m.server_timings = record.server_timings;
  const PhaseTimes& p = record.phases;
  if (p.started && p.resolved)
    m.resolve = *p.resolved - *p.started;
  if (p.resolved && p.connected)
    m.connect = *p.connected - *p.resolved;
  if (p.connected && p.tls_done)
    m.tls = *p.tls_done - *p.connected;
  if (p.written)
    m.request_write = *p.written - record.start;
  if (p.written && p.header_read)
    m.first_byte = *p.header_read - *p.written;
  if (record.usage && record.usage->prompt_tokens > 0) {
    m.input_tokens = record.usage->prompt_tokens;
  }

  const auto& times = record.content_times;
  if (!times.empty()) {
    m.ttft = times.front() - record.start;
    m.itl.reserve(times.size() - 1);
    // One gap per pair of consecutive content events: several tokens bundled in one event give
    // one gap, never extra zero-length ones.
    for (std::size_t i = 1; i < times.size(); ++i)
      m.itl.push_back(times[i] - times[i - 1]);
  }
  if (m.error)
    return m;

  if (times.empty()) {
    // The server said it was done but never produced a token: nothing a user would call an answer.
    m.error =
        (record.saw_done || record.saw_finish) ? ErrorReason::protocol : ErrorReason::truncated;
    return m;
  }

  m.e2e = times.back() - record.start;
  if (record.usage && record.usage->completion_tokens > 0) {
    m.output_tokens = record.usage->completion_tokens;
  } else {
    m.output_tokens = times.size();
    m.output_tokens_estimated = true;
  }
  if (m.output_tokens > 1) {
    m.tpot = (*m.e2e - *m.ttft) / static_cast<Duration::rep>(m.output_tokens - 1);
  }
  return m;
}

}  // namespace llmprobe
