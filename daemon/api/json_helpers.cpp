#include "api/json_helpers.hpp"

#include <algorithm>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cmath>

namespace llmprobe::api {

namespace json = boost::json;

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

DecodedEvent error_event(const json::value& error) {
  DecodedEvent event;
  event.kind = EventKind::error;
  event.error_message = error_message(error);
  return event;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos)
    return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

std::optional<std::uint64_t> count_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr)
    return std::nullopt;
  if (const auto* u = value->if_uint64())
    return *u;
  if (const auto* i = value->if_int64(); i != nullptr && *i >= 0)
    return static_cast<std::uint64_t>(*i);
  return std::nullopt;
}

namespace {

// `value` units of `Period` as nanoseconds, or nullopt when it is not a non-negative number or is
// absurdly large (a nonsense value must not overflow the Duration).
template <class Period>
std::optional<Duration> as_duration(const json::value& value) {
  double count = 0;
  if (const auto* u = value.if_uint64()) {
    count = static_cast<double>(*u);
  } else if (const auto* i = value.if_int64()) {
    count = static_cast<double>(*i);
  } else if (const auto* d = value.if_double()) {
    count = *d;
  } else {
    return std::nullopt;
  }
  const std::chrono::duration<double, Period> duration(count);
  // 4.6e9 s (about 146 years) is far beyond any request and well inside Duration's range.
  if (!(count >= 0) || std::chrono::duration<double>(duration).count() > 4.6e9)
    return std::nullopt;
  return std::chrono::round<Duration>(duration);
}

template <class Period>
std::optional<Duration> duration_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr)
    return std::nullopt;
  return as_duration<Period>(*value);
}

}  // namespace

std::optional<Duration> milliseconds(const json::value& value) {
  return as_duration<std::milli>(value);
}

std::optional<Duration> milliseconds_field(const json::object& object, std::string_view key) {
  return duration_field<std::milli>(object, key);
}

std::optional<Duration> microseconds_field(const json::object& object, std::string_view key) {
  return duration_field<std::micro>(object, key);
}

std::optional<Duration> nanoseconds_field(const json::object& object, std::string_view key) {
  // Integers stay exact (Ollama's durations are int64 nanoseconds); a double is rounded.
  const json::value* value = object.if_contains(key);
  if (value != nullptr) {
    if (const auto* u = value->if_uint64(); u != nullptr && *u <= 4'600'000'000'000'000'000ULL)
      return Duration(static_cast<Duration::rep>(*u));
    if (const auto* i = value->if_int64(); i != nullptr && *i >= 0)
      return Duration(*i);
  }
  return duration_field<std::nano>(object, key);
}

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

const json::object* object_field(const json::object& object, std::string_view key,
                                 bool& wrong_type) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null())
    return nullptr;
  const json::object* result = value->if_object();
  if (result == nullptr)
    wrong_type = true;
  return result;
}

void merge_extra_body(json::object& body, const json::object* extra_body,
                      std::initializer_list<std::string_view> reserved, std::string_view nested) {
  if (extra_body == nullptr)
    return;
  for (const auto& [key, value] : *extra_body) {
    // Config already rejects the common ones; refusing them here too keeps the probe a stream.
    if (std::find(reserved.begin(), reserved.end(), std::string_view(key)) != reserved.end())
      continue;
    if (!nested.empty() && key == nested && value.is_object()) {
      if (json::value* target = body.if_contains(nested);
          target != nullptr && target->is_object()) {
        json::object& inner = target->get_object();
        for (const auto& [inner_key, inner_value] : value.get_object())
          inner[inner_key] = inner_value;
        continue;
      }
    }
    body[key] = value;
  }
}

namespace detail {

json::value parse(std::string_view text, json::monotonic_resource& resource, std::string& error) {
  thread_local json::parser parser;
  parser.reset(&resource);
  boost::system::error_code ec;
  parser.write(text.data(), text.size(), ec);
  if (ec) {
    parser.reset();  // drop the pointer to `resource` before it goes out of scope
    error = "not JSON: " + ec.message();
    return nullptr;
  }
  json::value value = parser.release();
  parser.reset();
  return value;
}

}  // namespace detail

}  // namespace llmprobe::api
