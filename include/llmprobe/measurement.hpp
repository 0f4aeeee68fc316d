// Turns what the client saw of one streamed request into the numbers users compare with
// `vllm bench serve` (REFERENCE.md §1). Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/clock.hpp"
#include "llmprobe/outcome.hpp"

namespace llmprobe {

// When each connection phase ended (unset when the phase did not happen, e.g. on a reused
// keep-alive connection, or failed).
struct PhaseTimes {
  std::optional<TimePoint> started;      // a new connection's setup began
  std::optional<TimePoint> resolved;     // name resolution done (started -> here: resolve)
  std::optional<TimePoint> connected;    // TCP connected (resolved -> here: connect)
  std::optional<TimePoint> tls_done;     // TLS handshake done (connected -> here: tls)
  std::optional<TimePoint> written;      // request written (start -> here: request_write)
  std::optional<TimePoint> header_read;  // response header read (written -> here: first_byte)
};

// Everything the transport observed, in the order it happened. Filled by the runner.
struct StreamRecord {
  TimePoint scheduled_start{};           // when the scheduler meant to send it
  TimePoint begin{};                     // when the runner began (before DNS/connect)
  TimePoint start{};                     // just before the request was written (vLLM's `st`)
  std::vector<TimePoint> content_times;  // read-completion time of each content event
  std::optional<Usage> usage;            // last usage seen in any chunk
  ServerTimings server_timings;          // what the server reported (decode summed over events)
  bool saw_done = false;                 // "[DONE]"
  bool saw_finish = false;               // a finish_reason
  unsigned http_status = 0;
  PhaseTimes phases;
  std::optional<ErrorReason> error;  // set by the transport/runner on failure
  std::string error_detail;          // log text; never contains secrets
};

struct Measurement {
  std::optional<ErrorReason> error;      // nullopt = success
  Duration lateness{};                   // begin - scheduled_start (>= 0)
  std::optional<Duration> ttft;          // first content event - start
  std::optional<Duration> e2e;           // last content event - start (success only)
  std::vector<Duration> itl;             // one per gap between consecutive content events
  std::optional<Duration> tpot;          // (e2e - ttft) / (output_tokens - 1), output_tokens > 1
  std::uint64_t output_tokens = 0;       // usage.completion_tokens, else content events
  bool output_tokens_estimated = false;  // true when no usage arrived
  std::optional<std::uint64_t> input_tokens;  // usage.prompt_tokens
  ServerTimings server_timings;               // as reported by the server, when it does
  // Connection phases, like blackbox_exporter's: each set only when the phase happened.
  std::optional<Duration> resolve, connect, tls, request_write, first_byte;
  bool success() const { return !error.has_value(); }
};

// Computes the measurement. A request with no error but no content event is an error
// (`truncated` when the stream ended early, `protocol` when it finished without content).
Measurement measure(const StreamRecord& record);

}  // namespace llmprobe
