// Ollama's native API, POST /api/chat and /api/generate with "stream": true: one JSON object per
// line (NDJSON). Each line carries new text in message.content (chat) or response (generate);
// thinking models add "thinking", tool calls arrive as message.tool_calls. The last line has
// "done": true with prompt_eval_count / eval_count (the usage) and durations in nanoseconds:
// prompt_eval_duration (prefill), eval_duration (decode) and total_duration. load_duration (the
// model load, part of total_duration) has no slot in ServerTimings and is not exported.
// max_tokens becomes options.num_predict; Ollama has no ignore_eos, so none is sent.
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "api/adapters.hpp"
#include "api/json_helpers.hpp"

namespace llmprobe {

namespace {

namespace json = boost::json;

// Whether `holder` (the chat message, or the whole generate line) carries generated output under
// `text_key` or "thinking". Sets `reason` when a field has the wrong type.
bool carries_text(const json::object& holder, std::string_view text_key, std::string& reason) {
  bool wrong_type = false;
  bool content = false;
  for (std::string_view key : {text_key, std::string_view("thinking")}) {
    if (api::non_empty_string(holder, key, wrong_type))
      content = true;
    if (wrong_type) {
      reason = "\"" + std::string(key) + "\" is not a string";
      return false;
    }
  }
  return content;
}

// The fields every line shares: error, done, and on the last line the counts and durations.
// Returns true when the line is an error or malformed (then `event` is final).
bool read_envelope(const json::object& line, DecodedEvent& event) {
  if (const json::value* error = line.if_contains("error"); error != nullptr && !error->is_null()) {
    event = api::error_event(*error);
    return true;
  }
  if (const json::value* done = line.if_contains("done"); done != nullptr && !done->is_null()) {
    if (!done->is_bool()) {
      event = api::malformed("\"done\" is not a boolean");
      return true;
    }
    event.finished = done->get_bool();
  }
  if (event.finished) {
    if (const auto generated = api::count_field(line, "eval_count"))
      event.usage = Usage{api::count_field(line, "prompt_eval_count").value_or(0), *generated};
    event.timings.prefill = api::nanoseconds_field(line, "prompt_eval_duration");
    event.timings.decode = api::nanoseconds_field(line, "eval_duration");
    event.timings.total = api::nanoseconds_field(line, "total_duration");
  }
  return false;
}

DecodedEvent decode_chat_line(const json::object& line) {
  DecodedEvent event;
  if (read_envelope(line, event))
    return event;
  bool wrong_type = false;
  bool content = false;
  if (const json::object* message = api::object_field(line, "message", wrong_type)) {
    std::string reason;
    content = carries_text(*message, "content", reason);
    if (!reason.empty())
      return api::malformed("\"message." + reason.substr(1));
    if (const json::value* calls = message->if_contains("tool_calls");
        calls != nullptr && !calls->is_null()) {
      const json::array* array = calls->if_array();
      if (array == nullptr)
        return api::malformed("\"message.tool_calls\" is not an array");
      if (!array->empty())
        content = true;
    }
  }
  if (wrong_type)
    return api::malformed("\"message\" is not an object");
  event.kind = content ? EventKind::content : EventKind::other;
  return event;
}

DecodedEvent decode_generate_line(const json::object& line) {
  DecodedEvent event;
  if (read_envelope(line, event))
    return event;
  std::string reason;
  const bool content = carries_text(line, "response", reason);
  if (!reason.empty())
    return api::malformed(reason);
  event.kind = content ? EventKind::content : EventKind::other;
  return event;
}

// The body both endpoints share around the prompt's key.
std::string encode_body(const ProbeRequest& request, std::string_view input_key,
                        json::value input) {
  json::object body;
  body["model"] = request.model;
  body[input_key] = std::move(input);
  body["stream"] = true;
  body["options"] = json::object{{"num_predict", request.max_tokens}};
  api::merge_extra_body(body, request.extra_body, {"model", "stream", "prompt", "messages"},
                        "options");
  return json::serialize(body);
}

class OllamaChatAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/api/chat"; }
  Framing framing() const override { return Framing::ndjson; }

  std::string encode_request(const ProbeRequest& request) const override {
    json::array messages;
    messages.push_back(json::object{{"role", "user"}, {"content", request.prompt}});
    return encode_body(request, "messages", std::move(messages));
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return api::decode_json_object(data, &decode_chat_line);
  }
};

class OllamaGenerateAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/api/generate"; }
  Framing framing() const override { return Framing::ndjson; }

  std::string encode_request(const ProbeRequest& request) const override {
    return encode_body(request, "prompt", json::string(request.prompt));
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return api::decode_json_object(data, &decode_generate_line);
  }
};

}  // namespace

const ApiAdapter& ollama_chat_adapter() {
  static const OllamaChatAdapter adapter;
  return adapter;
}

const ApiAdapter& ollama_generate_adapter() {
  static const OllamaGenerateAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
