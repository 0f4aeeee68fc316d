// What every flavor's event decoder and request encoder share: parsing one event's JSON without
// allocating, bounded log messages, error objects, counts and durations read leniently, and the
// extra_body merge. Private header of daemon/api; everything here is thread-safe and never throws
// on the probe path (decode_json_object turns any failure into a malformed event).
#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "llmprobe/api/flavor.hpp"

namespace llmprobe::api {

// The cap on DecodedEvent::error_message.
inline constexpr std::size_t kMaxMessageBytes = 256;

// Cuts `text` to kMaxMessageBytes without splitting a UTF-8 sequence, so log lines and the status
// page never carry invalid UTF-8.
std::string bounded(std::string_view text);

// A malformed event whose message is `reason`, bounded.
DecodedEvent malformed(std::string_view reason);

// An error event for the value of an "error" key (or the whole error body).
DecodedEvent error_event(const boost::json::value& error);

// The message of an error: {"message": ...} objects (vLLM, OpenAI), plain strings (TGI,
// llama.cpp, Triton, Ollama), or anything else serialized. Bounded.
std::string error_message(const boost::json::value& error);

// `text` without surrounding blanks and line ends.
std::string_view trim(std::string_view text);

// A count, or nullopt for anything that is not a non-negative integer (servers send null or
// floats; one odd field must not cost the rest of the event).
std::optional<std::uint64_t> count_field(const boost::json::object& object, std::string_view key);

// A duration given as a non-negative number (integer or float) of the unit, rounded to
// nanoseconds; nullopt when absent, null, negative or not a number.
std::optional<Duration> milliseconds(const boost::json::value& value);
std::optional<Duration> milliseconds_field(const boost::json::object& object, std::string_view key);
std::optional<Duration> microseconds_field(const boost::json::object& object, std::string_view key);
std::optional<Duration> nanoseconds_field(const boost::json::object& object, std::string_view key);

// Whether `key` holds a non-empty string. Absent or null is simply false; any other type is also
// false and sets `wrong_type`.
bool non_empty_string(const boost::json::object& object, std::string_view key, bool& wrong_type);

// The object under `key`: nullptr when absent or null; sets `wrong_type` when it is something
// else.
const boost::json::object* object_field(const boost::json::object& object, std::string_view key,
                                        bool& wrong_type);

// Merges a workload's extra_body into `body`, its keys winning, except the keys in `reserved`
// (llmprobe owns them: the prompt, the model, "stream"). When `nested` names an object of `body`
// (TGI's "parameters", Ollama's "options") and extra_body holds an object under the same key, its
// keys are merged into that object instead of replacing it, so extra sampling parameters do not
// drop max_new_tokens / num_predict.
void merge_extra_body(boost::json::object& body, const boost::json::object* extra_body,
                      std::initializer_list<std::string_view> reserved,
                      std::string_view nested = {});

namespace detail {
// Parses `text` with a thread_local parser (reused so its internal stack is allocated once) into
// a DOM that lives in `resource`. On failure returns null and sets `error` to the reason.
boost::json::value parse(std::string_view text, boost::json::monotonic_resource& resource,
                         std::string& error);
}  // namespace detail

// Parses one event's data as a JSON object and returns decode(object). Anything that is not a
// JSON object is malformed; an exception (only allocation failure can raise one) becomes a
// malformed event too, since a probe must report it, not die of it.
template <class Decode>
DecodedEvent decode_json_object(std::string_view data, Decode&& decode) noexcept {
  try {
    // Events are small: a stack buffer holds the whole DOM, so parsing allocates nothing.
    unsigned char storage[4096];
    boost::json::monotonic_resource resource(storage, sizeof storage);
    std::string error;
    const boost::json::value value = detail::parse(trim(data), resource, error);
    if (!error.empty())
      return malformed(error);
    const boost::json::object* object = value.if_object();
    if (object == nullptr)
      return malformed("JSON is not an object");
    return decode(*object);
  } catch (const std::exception& e) {
    try {
      return malformed(std::string("decode failed: ") + e.what());
    } catch (...) {
      DecodedEvent event;  // allocates nothing
      event.kind = EventKind::malformed;
      return event;
    }
  }
}

}  // namespace llmprobe::api
