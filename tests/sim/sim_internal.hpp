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

enum class Endpoint { completions, chat };

// Everything the I/O code needs to serve one generation request.
struct Plan {
  Endpoint endpoint = Endpoint::completions;
  bool stream = false;
  bool include_usage = false;
  std::string model;       // as sent by the client
  std::string model_json;  // the model as a JSON string literal (escaped, with quotes)
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
  const char* finish_reason() const;  // "length" when max_tokens cut the output, else "stop"
  bool hit_max_tokens = false;
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
};

// Pure: request body + headers + defaults -> what to send, or why the request is refused.
std::variant<Plan, PlanError> make_plan(Endpoint endpoint, std::string_view body,
                                        const SimHeaders& headers, const Options& options);

// JSON error body as OpenAI-compatible servers send it.
std::string error_body(std::string_view message, std::string_view type, unsigned code);

// Builds the `data: ...\n\n` payloads of one stream. Reuses one buffer: the returned view is
// valid until the next call.
class EventBuilder {
 public:
  EventBuilder(const Plan& plan, std::string_view id, std::int64_t created);

  std::string_view role_event();  // chat only: delta.role with content "" (not content)
  // A content event with `tokens` words; finish_reason set on the last event of a normal stream;
  // with_usage puts usage on it (usage_on_last_choice).
  std::string_view content_event(int tokens, const char* finish_reason, bool with_usage);
  std::string_view usage_event();  // "choices":[] and usage
  std::string_view done_event();
  std::string_view malformed_event();
  std::string_view error_event();
  std::string_view long_line_event(std::size_t bytes);  // valid JSON, no content, one long line

  // A whole non-streaming response body.
  std::string full_response(int tokens, const char* finish_reason) const;

 private:
  void append_usage(std::string& out, int completion_tokens) const;

  const Plan& plan_;
  std::string prefix_;  // {"id":..,"object":..,"created":..,"model":..,"choices":[
  std::string buffer_;
};

}  // namespace llmprobe::sim::detail
