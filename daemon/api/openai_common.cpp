#include "api/openai_common.hpp"

#include <boost/json/serialize.hpp>
#include <optional>

#include "api/json_helpers.hpp"

namespace llmprobe::openai {

namespace {

namespace json = boost::json;

using api::malformed;

// Usage counts only when completion_tokens is usable: a usage without it would make the
// measurement report zero output tokens, whereas no usage makes it fall back to counting
// content events (an approximation it labels as such).
std::optional<Usage> read_usage(const json::object& chunk) {
  const json::value* value = chunk.if_contains("usage");
  if (value == nullptr)
    return std::nullopt;
  const json::object* usage = value->if_object();
  if (usage == nullptr)
    return std::nullopt;  // "usage": null on every OpenAI chunk
  const std::optional<std::uint64_t> completion = api::count_field(*usage, "completion_tokens");
  if (!completion)
    return std::nullopt;
  return Usage{api::count_field(*usage, "prompt_tokens").value_or(0), *completion};
}

DecodedEvent decode_object(const json::object& chunk, ChoiceReader read_choice) {
  DecodedEvent event;
  if (const json::value* error = chunk.if_contains("error");
      error != nullptr && !error->is_null()) {
    return api::error_event(*error);
  }
  // Older vLLM and some proxies send the error body itself: {"object": "error", "message": ...}.
  if (const json::value* object = chunk.if_contains("object")) {
    if (const json::string* type = object->if_string(); type != nullptr && *type == "error") {
      return api::error_event(chunk);
    }
  }

  event.usage = read_usage(chunk);

  const json::value* choices_value = chunk.if_contains("choices");
  if (choices_value == nullptr || choices_value->is_null()) {
    event.kind = event.usage ? EventKind::usage_only : EventKind::other;
    return event;
  }
  const json::array* choices = choices_value->if_array();
  if (choices == nullptr)
    return malformed("\"choices\" is not an array");
  if (choices->empty()) {
    event.kind = event.usage ? EventKind::usage_only : EventKind::other;
    return event;
  }

  ChoiceScan scan;
  for (const json::value& element : *choices) {
    const json::object* choice = element.if_object();
    if (choice == nullptr)
      return malformed("a choice is not an object");
    if (const json::value* finish = choice->if_contains("finish_reason")) {
      if (finish->is_string()) {
        event.finished = true;
      } else if (!finish->is_null()) {
        return malformed("\"finish_reason\" is neither a string nor null");
      }
    }
    if (std::string reason = read_choice(*choice, scan); !reason.empty()) {
      return malformed(reason);
    }
  }
  if (scan.content) {
    event.kind = EventKind::content;
  } else if (scan.role) {
    event.kind = EventKind::role_only;
  } else {
    event.kind = EventKind::other;
  }
  return event;
}

}  // namespace

bool non_empty_string(const json::object& object, std::string_view key, bool& wrong_type) {
  return api::non_empty_string(object, key, wrong_type);
}

DecodedEvent decode_event(std::string_view data, ChoiceReader read_choice) {
  if (api::trim(data) == "[DONE]") {
    DecodedEvent event;
    event.kind = EventKind::done;
    return event;
  }
  return api::decode_json_object(
      data, [read_choice](const json::object& chunk) { return decode_object(chunk, read_choice); });
}

std::string encode_body(const ProbeRequest& request, std::string_view input_key, json::value input,
                        bool stream_options) {
  json::object body;
  body["model"] = request.model;
  body[input_key] = std::move(input);
  body["max_tokens"] = request.max_tokens;
  body["stream"] = true;
  // Without it vLLM sends no usage, and output tokens could only be estimated.
  if (stream_options)
    body["stream_options"] = json::object{{"include_usage", true}};
  if (request.ignore_eos)
    body["ignore_eos"] = true;
  api::merge_extra_body(body, request.extra_body, {"model", "stream", "prompt", "messages"});
  return json::serialize(body);
}

}  // namespace llmprobe::openai
