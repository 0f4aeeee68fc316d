// The interface every API flavor implements: encode a probe request into an HTTP body and
// decode one stream event. One small file per flavor; adding a flavor touches only the table in
// daemon/api/flavor.cpp. Implementations are stateless and thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace llmprobe {

enum class ApiFlavor { openai_completions, openai_chat };

std::string_view to_string(ApiFlavor flavor);
// Parses the config spelling ("openai-completions", "openai-chat").
std::optional<ApiFlavor> parse_api_flavor(std::string_view text);

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
  std::optional<Usage> usage;  // read from ANY chunk (MindIE puts it on the last choice chunk)
  bool finished = false;       // a choice carried a non-null finish_reason
  std::string error_message;   // for error / malformed, at most 256 bytes, for the log only
};

class ApiAdapter {
 public:
  virtual ~ApiAdapter() = default;
  // Path appended to the target's base URL, e.g. "/v1/chat/completions".
  virtual std::string_view path() const = 0;
  // JSON request body with "stream": true and stream_options.include_usage.
  virtual std::string encode_request(const ProbeRequest& request) const = 0;
  // Decodes the data of one SSE event. Never throws.
  virtual DecodedEvent decode_event(std::string_view data) const = 0;
};

// The adapter for a flavor; the reference lives for the whole program.
const ApiAdapter& adapter_for(ApiFlavor flavor);

}  // namespace llmprobe
