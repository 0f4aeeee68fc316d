// llmprobe-sim: an OpenAI-compatible inference server for tests and the demo. It streams with
// controlled timing and faults and records the ground truth of every request (when each event
// was written). It shares no parsing or measurement code with the daemon on purpose: a bug in a
// shared SSE writer/reader would cancel out and every test would still pass.
//
// Per-request controls come from request headers (so one simulator can serve many targets in a
// test config): x-sim-ttft, x-sim-itl (durations like "200ms", or distributions),
// x-sim-tokens-per-event, x-sim-output-tokens, x-sim-fault. Header values override Options.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmprobe::sim {

using SimClock = std::chrono::steady_clock;

// A delay: fixed, or drawn from a seeded distribution. Text forms (CLI and headers):
// "200ms", "uniform(100ms,300ms)", "normal(200ms,20ms)" (clamped at 0), "exp(200ms)" (mean).
struct DelaySpec {
  enum class Kind { fixed, uniform, normal, exponential };
  Kind kind = Kind::fixed;
  std::chrono::nanoseconds a{0};  // fixed value / lower bound / mean
  std::chrono::nanoseconds b{0};  // upper bound / stddev
  static std::optional<DelaySpec> parse(const std::string& text);
};

// Faults, one per request (CLI --fault for all requests, or header x-sim-fault):
//   "status:<code>"        reply with that HTTP status and a JSON error body
//   "stall_before_first"   send headers, then nothing until the client goes away
//   "stall_after_first"    send the first content event, then nothing
//   "close_mid_stream"     close the connection after half the content events (no [DONE])
//   "malformed_event"      the second event's data is not JSON
//   "error_event"          after one content event, send data: {"error": {...}} and [DONE]
//   "long_line"            send one 2 MiB data line
//   "no_usage"             omit usage even when include_usage is asked
//   "no_done"              finish the stream without finish_reason and without [DONE]
//   "usage_on_last_choice" put usage on the finish_reason chunk (MindIE), no separate chunk
// Details a client test may rely on:
//   - stall_before_first still sends the chat role chunk (it is not content);
//   - close_mid_stream sends floor(events/2) content events, then closes the socket;
//   - malformed_event is an extra event right after the first content event; all content
//     events, usage and [DONE] are still sent;
//   - error_event: one content event, the error event, [DONE], terminating chunk;
//   - long_line is an extra, valid JSON chunk with no content (a "padding" field), written just
//     before the first content event; the stream then continues normally;
//   - no_done keeps the usage chunk when asked (only finish_reason and [DONE] are omitted);
//   - usage_on_last_choice puts usage on the last chunk even without include_usage, as MindIE;
//   - non-streaming requests honour status:<code>, the stalls (no response at all) and
//     close_mid_stream (closed before the response); the others are recorded but not applied.
// A bad x-sim-* header or an unknown fault gets HTTP 400 naming it.
struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = pick a free port (read it back with port())
  DelaySpec ttft{DelaySpec::Kind::fixed, std::chrono::milliseconds(50), {}};
  DelaySpec itl{DelaySpec::Kind::fixed, std::chrono::milliseconds(10), {}};
  int tokens_per_event = 1;
  int natural_output_tokens = 64;  // output length when ignore_eos is false (capped by max_tokens)
  bool role_chunk = true;          // chat: first chunk carries only delta.role (as vLLM does)
  int max_concurrency = 0;         // 0 = unlimited; beyond it requests queue (TTFT grows)
  std::string fault;               // default fault for every request ("" = none)
  std::uint64_t seed = 1;
  std::size_t max_truth_records = 100000;  // ground truth kept (oldest dropped first)
  int threads = 1;
};

// Ground truth of one request, in the simulator's steady clock (same clock as the daemon's
// when both run on one machine: CLOCK_MONOTONIC).
struct RequestTruth {
  std::string request_id;  // the client's X-Request-Id header, else "sim-<n>"
  std::string path;
  std::string model;
  std::string fault;
  unsigned status = 200;
  bool stream = true;
  SimClock::time_point received_at{};                     // request fully read
  SimClock::time_point started_at{};                      // left the concurrency queue
  std::vector<SimClock::time_point> content_event_times;  // after each content write returned
  std::vector<int> tokens_per_content_event;
  int prompt_tokens = 0;  // whitespace-separated words of the prompt
  int output_tokens = 0;  // tokens actually sent
  bool usage_sent = false;
  bool completed = false;  // the stream ended as planned ([DONE] written or fault finished)
};

// Thread-safe: start/stop from one thread; truth() from any thread.
// Fixed limits: request body 1 MiB (413 beyond), 10 s to read a request, 8192 connections
// (further ones are closed at once). start() raises the process's RLIMIT_NOFILE soft limit to
// the hard limit, since thousands of streams need more descriptors than the usual 1024.
// requests_seen() counts generation requests (/v1/completions, /v1/chat/completions).
class Simulator {
 public:
  explicit Simulator(Options options);
  ~Simulator();  // stops
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Binds and starts serving on its own thread(s). Throws std::runtime_error on bind failure.
  void start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void stop();
  std::uint16_t port() const;

  std::vector<RequestTruth> truth() const;
  std::optional<RequestTruth> truth_for(const std::string& request_id) const;
  std::size_t requests_seen() const;
  void clear_truth();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmprobe::sim
