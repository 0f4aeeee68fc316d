#include "api/openai_common.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <exception>
#include <optional>

namespace llmprobe::openai {

namespace {

namespace json = boost::json;

constexpr std::size_t kMaxMessageBytes = 256;

// Cuts `text` to the message cap without splitting a UTF-8 sequence, so log lines and the
// status page never carry invalid UTF-8.
std::string bounded(std::string_view text) {
  if (text.size() <= kMaxMessageBytes)
    return std::string(text);
  std::size_t end = kMaxMessageBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
    --end;
  return std::string(text.substr(0, end));
}

DecodedEvent malformed(std::string_view reason) {
  DecodedEvent event;
  event.kind = EventKind::malformed;
  event.error_message = bounded(reason);
  return event;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos)
    return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// A token count, or nullopt for anything that is not a non-negative integer (some servers send
// null or floats; one odd field must not cost the rest of the event).
std::optional<std::uint64_t> token_count(const json::object& usage, std::string_view key) {
  const json::value* value = usage.if_contains(key);
  if (value == nullptr)
    return std::nullopt;
  if (const auto* u = value->if_uint64())
    return *u;
  if (const auto* i = value->if_int64(); i != nullptr && *i >= 0) {
    return static_cast<std::uint64_t>(*i);
  }
  return std::nullopt;
}

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
  const std::optional<std::uint64_t> completion = token_count(*usage, "completion_tokens");
  if (!completion)
    return std::nullopt;
  return Usage{token_count(*usage, "prompt_tokens").value_or(0), *completion};
}

// The message of an error chunk: {"error": {"message": ...}} (vLLM, OpenAI),
// {"error": "text"} (TGI, llama.cpp), or anything else serialized.
std::string error_message(const json::value& error) {
  if (const json::string* text = error.if_string())
    return bounded(*text);
  if (const json::object* object = error.if_object()) {
    if (const json::value* message = object->if_contains("message")) {
      if (const json::string* text = message->if_string())
        return bounded(*text);
    }
  }
  return bounded(json::serialize(error));
}

DecodedEvent decode_object(const json::object& chunk, ChoiceReader read_choice) {
  DecodedEvent event;
  if (const json::value* error = chunk.if_contains("error");
      error != nullptr && !error->is_null()) {
    event.kind = EventKind::error;
    event.error_message = error_message(*error);
    return event;
  }
  // Older vLLM and some proxies send the error body itself: {"object": "error", "message": ...}.
  if (const json::value* object = chunk.if_contains("object")) {
    if (const json::string* type = object->if_string(); type != nullptr && *type == "error") {
      event.kind = EventKind::error;
      event.error_message = error_message(chunk);
      return event;
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
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null())
    return false;
  const json::string* text = value->if_string();
  if (text == nullptr) {
    wrong_type = true;
    return false;
  }
  return !text->empty();
}

DecodedEvent decode_event(std::string_view data, ChoiceReader read_choice) {
  try {
    const std::string_view trimmed = trim(data);
    if (trimmed == "[DONE]") {
      DecodedEvent event;
      event.kind = EventKind::done;
      return event;
    }

    // Chunks are small: a stack buffer holds the whole DOM, so parsing allocates nothing.
    unsigned char storage[4096];
    json::monotonic_resource resource(storage, sizeof storage);
    thread_local json::parser parser;
    parser.reset(&resource);
    boost::system::error_code ec;
    parser.write(trimmed.data(), trimmed.size(), ec);
    if (ec) {
      parser.reset();  // drop the pointer to `resource` before it goes out of scope
      return malformed("not JSON: " + ec.message());
    }
    const json::value value = parser.release();
    parser.reset();
    const json::object* chunk = value.if_object();
    if (chunk == nullptr)
      return malformed("JSON is not an object");
    return decode_object(*chunk, read_choice);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; a probe must report it, not die of it.
    return malformed(std::string("decode failed: ") + e.what());
  }
}

std::string encode_body(const ProbeRequest& request, std::string_view input_key,
                        json::value input) {
  json::object body;
  body["model"] = request.model;
  body[input_key] = std::move(input);
  body["max_tokens"] = request.max_tokens;
  body["stream"] = true;
  // Without it vLLM sends no usage, and output tokens could only be estimated.
  body["stream_options"] = json::object{{"include_usage", true}};
  if (request.ignore_eos)
    body["ignore_eos"] = true;
  if (request.extra_body != nullptr) {
    for (const auto& [key, value] : *request.extra_body) {
      // Config already rejects these; refusing them here too keeps the probe a stream.
      if (key == "model" || key == "stream" || key == "prompt" || key == "messages")
        continue;
      body[key] = value;
    }
  }
  return json::serialize(body);
}

}  // namespace llmprobe::openai
