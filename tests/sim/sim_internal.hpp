// Private to llmprobe-sim: the sans-I/O half of the simulator. A request is turned into a Plan
// (what to send, when, with which fault) by a pure function, and stream events are built by
// string concatenation into reused buffers, so the I/O code in simulator.cpp only waits and
// writes. Not thread-safe: an EventBuilder belongs to one stream.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>

#include "simulator.hpp"

namespace llmprobe::sim::detail {

enum class FaultKind {
  none,
  status,
  stall_before_first,
  stall_after_first,
  close_mid_stream,
  malformed_event,
  error_event,
  long_line,
  no_usage,
  no_done,
  usage_on_last_choice,
  echo_auth,  // 401 whose error message quotes the request's Authorization header back
};

struct Fault {
  FaultKind kind = FaultKind::none;
  unsigned status = 0;  // for FaultKind::status
};

// Parses the fault text of Options::fault / x-sim-fault; nullopt for an unknown fault.
std::optional<Fault> parse_fault(std::string_view text);

// Draws one delay; normal is clamped at 0.
std::chrono::nanoseconds draw_delay(const DelaySpec& spec, std::mt19937_64& rng);

// Parses a positive duration such as "200ms", "1.5s", "300us", "50ns".
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// Whitespace-separated words: the simulator's stand-in for a tokenizer.
int count_words(std::string_view text);

// The request shapes the simulator serves, one per API flavor.
enum class Endpoint {
  completions,      // POST /v1/completions
  chat,             // POST /v1/chat/completions
  tgi,              // POST /generate_stream
  triton,           // POST /v2/models/{model}/generate_stream
  mindie,           // POST /infer (MindIE native)
  ollama_chat,      // POST /api/chat (NDJSON)
  ollama_generate,  // POST /api/generate (NDJSON)
};

inline bool is_openai(Endpoint endpoint) {
  return endpoint == Endpoint::completions || endpoint == Endpoint::chat;
}
inline bool is_tgi_shaped(Endpoint endpoint) {
  return endpoint == Endpoint::tgi || endpoint == Endpoint::mindie;
}
inline bool is_ollama(Endpoint endpoint) {
  return endpoint == Endpoint::ollama_chat || endpoint == Endpoint::ollama_generate;
}

// Everything the I/O code needs to serve one generation request.
struct Plan {
  Endpoint endpoint = Endpoint::completions;
  bool stream = false;
  bool include_usage = false;
  bool mindie_style = false;  // x-sim-style: mindie ("data:" without space; OpenAI: usage on the
                              // last choice chunk, stream_options ignored)
  bool details = true;        // MindIE /infer: parameters.details (false = "details":null)
  std::string model;          // as sent by the client (Triton: from the path)
  std::string model_json;     // the model as a JSON string literal (escaped, with quotes)
  int prompt_tokens = 0;
  int output_tokens = 0;  // N
  int tokens_per_event = 1;
  DelaySpec ttft;
  DelaySpec itl;
  std::string fault_text;
  Fault fault;

  int content_events() const { return (output_tokens + tokens_per_event - 1) / tokens_per_event; }
  // Tokens carried by content event `index` (0-based): k, the last one possibly fewer.
  int tokens_in_event(int index) const;
  // "length" when max_tokens cut the output, else the flavor's natural end: "stop" (OpenAI,
  // Ollama) or "eos_token" (TGI, MindIE).
  const char* finish_reason() const;
  bool hit_max_tokens = false;
  bool usage_on_last_choice() const {
    return is_openai(endpoint) && (mindie_style || fault.kind == FaultKind::usage_on_last_choice);
  }
  std::string_view sse_prefix() const {
    return mindie_style || is_tgi_shaped(endpoint) ? "data:" : "data: ";
  }
  const char* content_type() const {
    return is_ollama(endpoint) ? "application/x-ndjson" : "text/event-stream";
  }
  // The daemon's config spelling of the flavor ("openai-chat", "tgi", "mindie-chat", ...).
  std::string flavor() const;
};

struct PlanError {
  unsigned status = 400;
  std::string message;
};

// Per-request header values (empty = absent) that override Options.
struct SimHeaders {
  std::string_view ttft;
  std::string_view itl;
  std::string_view tokens_per_event;
  std::string_view output_tokens;
  std::string_view fault;
  std::string_view style;  // x-sim-style: "" or "mindie"
};

// Pure: request body + headers + defaults -> what to send, or why the request is refused.
// `path_model` is the model named in a Triton path.
std::variant<Plan, PlanError> make_plan(Endpoint endpoint, std::string_view body,
                                        const SimHeaders& headers, const Options& options,
                                        std::string_view path_model = {});

// JSON error body as OpenAI-compatible servers send it.
std::string error_body(std::string_view message, std::string_view type, unsigned code);
// The error body in the flavor's own shape (TGI: {"error","error_type"}; Triton, Ollama:
// {"error": message}; OpenAI: error_body).
std::string flavor_error_body(Endpoint endpoint, std::string_view message, std::string_view type,
                              unsigned code);

// One content event as the I/O code describes it to the EventBuilder.
struct ContentEvent {
  int tokens = 1;
  int tokens_before = 0;    // tokens sent in earlier events (TGI's index and token id)
  bool final = false;       // carries the end: finish_reason (OpenAI), generated_text (TGI)
  bool with_usage = false;  // OpenAI: usage on this chunk; TGI/MindIE: details on the final one
  std::optional<std::int64_t> prefill_us;  // MindIE: prefill_time, written in ms
  std::optional<std::int64_t> decode_us;   // MindIE: decode_time, written in ms
};

// Ollama's reported durations, in nanoseconds.
struct OllamaTimings {
  std::int64_t total = 0;
  std::int64_t load = 0;
  std::int64_t prompt_eval = 0;
  std::int64_t eval = 0;
};

// Builds the event payloads of one stream (SSE "data: ...\n\n" or an NDJSON line). Reuses one
// buffer: the returned view is valid until the next call.
class EventBuilder {
 public:
  EventBuilder(const Plan& plan, std::string_view id, std::int64_t created);

  std::string_view role_event();  // chat only: delta.role with content "" (not content)
  std::string_view content_event(const ContentEvent& event);
  std::string_view usage_event();  // OpenAI: "choices":[] and usage
  std::string_view done_event();   // OpenAI: [DONE]
  // Ollama: the final object; with_counts = false leaves out the counts and durations.
  std::string_view ollama_done_event(const OllamaTimings& timings, bool with_counts);
  std::string_view malformed_event();
  std::string_view error_event();
  std::string_view long_line_event(std::size_t bytes);  // valid JSON (or SSE comment), no content

  // A whole non-streaming response body (OpenAI, MindIE /infer, Ollama).
  std::string full_response(int tokens, const OllamaTimings& timings) const;

 private:
  void append_usage(std::string& out, int completion_tokens) const;
  void append_tgi_details(std::string& out, int tokens) const;
  void append_ollama_head(std::string& out) const;
  void append_ollama_tail(std::string& out, const OllamaTimings& timings, bool with_counts) const;

  const Plan& plan_;
  std::string prefix_;  // OpenAI: {"id":..,"object":..,"created":..,"model":..,"choices":[
                        // Triton: {"model_name":..,..,"text_output":"
  std::string buffer_;
};

}  // namespace llmprobe::sim::detail
