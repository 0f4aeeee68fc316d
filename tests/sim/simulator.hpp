// llmprobe-sim: an inference server for tests and the demo that speaks every API flavor llmprobe
// supports. It streams with controlled timing and faults and records the ground truth of every
// request (when each event was written). It shares no parsing or measurement code with the
// daemon on purpose: a bug in a shared SSE writer/reader would cancel out and every test would
// still pass.
//
// Per-request controls come from request headers (so one simulator can serve many targets in a
// test config): x-sim-ttft, x-sim-itl (durations like "200ms", or distributions),
// x-sim-tokens-per-event, x-sim-output-tokens, x-sim-fault, x-sim-style. Header values override
// Options.
//
// Flavors (same timing, output length, concurrency queue, faults and ground truth for all):
//   POST /v1/completions, /v1/chat/completions  OpenAI (vLLM's exact chunks), stream or not.
//        With header "x-sim-style: mindie": MindIE's quirks — "data:" without the space,
//        stream_options ignored, usage on the finish_reason chunk (as usage_on_last_choice).
//   POST /generate_stream                       TGI: {"inputs", "parameters":{"max_new_tokens"}}.
//        "data:" without space, one token per event (tokens_per_event is ignored), index and
//        token.id count from 1; the last event has generated_text and details{finish_reason
//        "length"|"eos_token", generated_tokens, seed, input_length}. No [DONE]. No ignore_eos:
//        the output is max_new_tokens unless the natural length is shorter.
//   POST /v2/models/{model}/generate_stream     Triton/TensorRT-LLM: {"text_input","max_tokens",
//        "stream","ignore_eos"}; "data: {...,"text_output":" tok tok"}" (tokens_per_event words),
//        no end marker: the chunked body just ends.
//   POST /infer                                 MindIE native: {"inputs","stream","parameters":
//        {"max_new_tokens","ignore_eos","details"}}; TGI's events plus "prefill_time" (ms, on
//        the first event: the TTFT drawn) and "decode_time" (ms, on each later event: its ITL
//        gap as scheduled), written with 3 decimals; details on the last event unless
//        "details": false. stream defaults to false (then one {"generated_text","details"}).
//   POST /api/chat, /api/generate               Ollama: {"model","messages"|"prompt","stream",
//        "options":{"num_predict"}} (stream defaults to true; num_predict <= 0 = no cap);
//        application/x-ndjson, one object per line, then a final "done": true object with
//        done_reason "length"|"stop", prompt_eval_count, eval_count and durations in ns equal to
//        what the simulator did: load_duration = request read -> start (the concurrency queue),
//        prompt_eval_duration = first content write - start, eval_duration = first to last
//        content write, total_duration = request read -> final object.
// Server timings a flavor reports are recorded in RequestTruth::reported_*.
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
//   "echo_auth"            401 whose message quotes the Authorization header (key leak tests)
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
// Faults by flavor (status:<code>, the stalls, close_mid_stream and malformed_event apply to all;
// error bodies and events take the flavor's own shape):
//   - status:<code>: OpenAI error_body; TGI/MindIE {"error","error_type"}; Triton and Ollama
//     {"error": message};
//   - error_event: OpenAI as above; TGI/MindIE data:{"error":"...","error_type":"generation"};
//     Triton data: {"error":"..."}; Ollama an {"error":"..."} line; then the body ends (no
//     [DONE] outside OpenAI);
//   - long_line: TGI/MindIE have no event without a token, so there it is a 2 MiB SSE comment
//     line (":xxx..."); Triton and Ollama: a valid object with empty output and "padding";
//   - no_usage: TGI/MindIE: "details": null on the last event; Ollama: the final object without
//     counts and durations; Triton: nothing to omit;
//   - no_done: TGI/MindIE: the last event looks like the others (generated_text and details
//     null); Ollama: no "done": true object; Triton: no effect (it has no end marker);
//   - usage_on_last_choice: OpenAI only.
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
  // HTTPS: with a certificate and key (PEM files) the listener speaks TLS only. With a client CA
  // too, every client must present a certificate signed by it (mutual TLS, as MindIE's default).
  // The handshake has 10 s; a failed one closes that connection (tls_handshake_failures()).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  // Continuous-batching load model (off by default: then every request has its own TTFT/ITL
  // timers, as above). On, one engine per Simulator runs like vLLM's scheduler loop, on one
  // timer with absolute deadlines (steps do not drift):
  //   - generation requests wait in a FIFO queue until fewer than max_running sequences run;
  //   - each engine step first admits queued requests (while running < max_running) and
  //     prefills them in that step, then decodes: the step takes
  //       sum(prompt_tokens of the admitted) / prefill_tokens_per_s
  //         + decode_step_base + decode_step_per_seq * (running sequences, admitted included)
  //     and gives every running sequence one token at its end, when the events are written
  //     (tokens_per_event still bundles k tokens per event); a sequence leaves the batch when it
  //     has its output length (or its client is gone);
  //   - so TTFT = queue wait + prefill + one step, ITL = the step time (longer while a newcomer
  //     is prefilled, as prefill stalls decode in vLLM), and output throughput saturates at
  //     max_running tokens per step;
  //   - the next step starts at the previous step's deadline; an idle engine starts at once;
  //   - x-sim-ttft and x-sim-itl are validated but ignored; max_concurrency, if set, still
  //     limits requests before they reach the engine; faults apply as without the model;
  //   - every flavor, streaming or not, is fed by the engine (non-streaming replies when the
  //     last token is produced); MindIE's prefill_time is then the first token's time since
  //     admission and decode_time the time between the steps that produced two events.
  struct LoadModel {
    bool enabled = false;
    int max_running = 8;                  // S: sequences decoded together
    double prefill_tokens_per_s = 20000;  // P
    std::chrono::nanoseconds decode_step_base{std::chrono::milliseconds(10)};
    std::chrono::nanoseconds decode_step_per_seq{std::chrono::milliseconds(1)};
  };
  LoadModel load_model;
};

// Ground truth of one request, in the simulator's steady clock (same clock as the daemon's
// when both run on one machine: CLOCK_MONOTONIC).
struct RequestTruth {
  std::string request_id;  // the client's X-Request-Id header, else "sim-<n>"
  std::string path;
  // The daemon's spelling: openai-completions, openai-chat, mindie-completions, mindie-chat
  // (x-sim-style: mindie), tgi, triton, mindie, ollama, ollama-generate; "" if unplanned (400).
  std::string flavor;
  std::string model;
  std::string fault;
  unsigned status = 200;
  bool stream = true;
  SimClock::time_point received_at{};  // request fully read
  SimClock::time_point started_at{};   // left the concurrency queue (load model: admitted)
  // received_at -> started_at: the wait for a concurrency slot and, under the load model, for
  // admission into the running batch.
  std::chrono::nanoseconds queued_for{0};
  // Load model only: the running batch size of the engine step that produced each token sent
  // (one entry per output token); empty without the model.
  std::vector<int> batch_sizes;
  std::vector<SimClock::time_point> content_event_times;  // after each content write returned
  std::vector<int> tokens_per_content_event;
  int prompt_tokens = 0;  // whitespace-separated words of the prompt
  int output_tokens = 0;  // tokens actually sent
  bool usage_sent = false;
  bool completed = false;  // the stream ended as planned ([DONE] written or fault finished)
  // Server timings the simulator reported in the response, as written (MindIE /infer:
  // prefill_time and the sum of the decode_time values written; Ollama: prompt_eval_duration,
  // eval_duration, total_duration, and load_duration as reported_queue). Unset when not sent.
  std::optional<std::chrono::nanoseconds> reported_queue;
  std::optional<std::chrono::nanoseconds> reported_prefill;
  std::optional<std::chrono::nanoseconds> reported_decode;
  std::optional<std::chrono::nanoseconds> reported_total;
  // Keep-alive: which accepted connection served the request (1, 2, ...) and which request on
  // it this was (1 = the first).
  std::uint64_t connection_id = 0;
  std::uint64_t request_on_connection = 0;
};

// Thread-safe: start/stop from one thread; truth() from any thread.
// Fixed limits: request body 1 MiB (413 beyond), 10 s to read a request, 8192 connections
// (further ones are closed at once). start() raises the process's RLIMIT_NOFILE soft limit to
// the hard limit, since thousands of streams need more descriptors than the usual 1024.
// requests_seen() counts generation requests (every flavor's generation path).
class Simulator {
 public:
  explicit Simulator(Options options);
  ~Simulator();  // stops
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Binds and starts serving on its own thread(s). Throws std::runtime_error on bind failure or
  // when the TLS files cannot be loaded.
  void start();
  // Closes the listener and every connection, joins the threads. Idempotent.
  void stop();
  std::uint16_t port() const;

  std::vector<RequestTruth> truth() const;
  std::optional<RequestTruth> truth_for(const std::string& request_id) const;
  std::size_t requests_seen() const;
  std::size_t connections_accepted() const;    // TCP connections accepted (TLS or not)
  std::size_t tls_handshake_failures() const;  // handshakes that failed or timed out
  void clear_truth();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmprobe::sim
