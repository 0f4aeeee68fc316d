// The interface every API flavor implements: encode a probe request into an HTTP body and
// decode one stream event. One small file per flavor; adding a flavor touches only the table in
// daemon/api/flavor.cpp. Implementations are stateless and thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmprobe/clock.hpp"

namespace llmprobe {

enum class ApiFlavor {
  openai_completions,  // POST /v1/completions (vLLM, SGLang, llama.cpp, TGI /v1, MindIE, ...)
  openai_chat,         // POST /v1/chat/completions
  tgi,                 // POST /generate_stream (TGI, also served by MindIE)
  triton,              // POST /v2/models/{model}/generate_stream (TensorRT-LLM, MindIE)
  mindie,              // POST /infer with "stream": true (MindIE native)
  mindie_chat,         // MindIE's OpenAI chat mode: like openai_chat without stream_options
  ollama,              // POST /api/chat, newline-delimited JSON
  ollama_generate,     // POST /api/generate, newline-delimited JSON
};

// How a flavor's response body is cut into events.
enum class Framing {
  sse,     // Server-Sent Events: "data: ..." lines and blank lines
  ndjson,  // one JSON document per line (Ollama)
};

std::string_view to_string(ApiFlavor flavor);
// Parses the config spelling ("openai-completions", "openai-chat", "tgi", "triton", "mindie",
// "mindie-chat", "ollama", "ollama-generate").
std::optional<ApiFlavor> parse_api_flavor(std::string_view text);
// Every config spelling, in table order (for error messages and docs).
std::vector<std::string_view> api_flavor_names();

// What the request asks for; built by the runner from target + workload.
struct ProbeRequest {
  std::string model;
  std::string prompt;
  int max_tokens = 16;
  bool ignore_eos = false;
  const boost::json::object* extra_body = nullptr;  // merged last: its keys win
};

struct Usage {
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
};

// Timings a server reports about its own work (Ollama's durations, MindIE's prefill/decode
// times), so a dashboard can show how much of the client's TTFT the server accounts for.
struct ServerTimings {
  std::optional<Duration> queue;    // waiting before prefill
  std::optional<Duration> prefill;  // prompt processing (the server's view of TTFT)
  std::optional<Duration> decode;   // in a DecodedEvent: this event's share, summed by the recorder
  std::optional<Duration> total;    // the whole request as the server saw it
  bool empty() const { return !queue && !prefill && !decode && !total; }
};

enum class EventKind {
  content,     // carries generated output: text, delta.content, reasoning, tool-call deltas
  role_only,   // chat chunk with only delta.role (NOT content: vLLM issue #3759)
  usage_only,  // "choices": [] with usage
  done,        // the "[DONE]" sentinel
  error,       // an error object in the stream
  other,       // valid JSON without content (e.g. empty delta with finish_reason)
  malformed,   // not JSON, or JSON of the wrong shape
};

struct DecodedEvent {
  EventKind kind = EventKind::other;
  std::optional<Usage> usage;  // read from ANY chunk (MindIE puts it on the last choice chunk);
                               // also TGI details, Ollama eval_count/prompt_eval_count
  bool finished = false;       // a choice carried a non-null finish_reason (TGI: details; Ollama:
                               // done: true): the stream is complete even without [DONE]
  ServerTimings timings;       // server-reported timings carried by this event
  std::string error_message;   // for error / malformed, at most 256 bytes, for the log only
};

class ApiAdapter {
 public:
  virtual ~ApiAdapter() = default;
  // Path appended to the target's base URL, e.g. "/v1/chat/completions" (Triton's holds the
  // model name, escaped for a URL path).
  virtual std::string path(const ProbeRequest& request) const = 0;
  virtual Framing framing() const { return Framing::sse; }
  // False for flavors whose streams carry no end marker (Triton: no [DONE], no finish field):
  // for them a cleanly ended HTTP message is a complete stream. A connection cut mid-message is
  // truncated either way.
  virtual bool marks_end() const { return true; }
  // JSON request body asking for a stream (OpenAI flavors: with stream_options.include_usage).
  virtual std::string encode_request(const ProbeRequest& request) const = 0;
  // Decodes the data of one SSE event. Never throws.
  virtual DecodedEvent decode_event(std::string_view data) const = 0;
};

// The adapter for a flavor; the reference lives for the whole program.
const ApiAdapter& adapter_for(ApiFlavor flavor);

}  // namespace llmprobe
