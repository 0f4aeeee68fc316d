// What /v1/completions and /v1/chat/completions share: the request body around the prompt, and
// the event envelope (the [DONE] sentinel, error objects, usage on any chunk, finish_reason).
// The flavors differ only in the prompt's key and in how one choice shows content, so each
// supplies just that. Private header of daemon/api.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "llmprobe/api/flavor.hpp"

namespace llmprobe::openai {

// What one choice contributes to its event's kind.
struct ChoiceScan {
  bool content = false;  // carries generated output
  bool role = false;     // chat: delta.role present
};

// Reads the flavor-specific part of one element of "choices" into `scan`. Returns an empty
// string when the choice is well-formed, else a short reason (the event is then malformed).
using ChoiceReader = std::string (*)(const boost::json::object& choice, ChoiceScan& scan);

// Decodes one SSE event's data for an OpenAI-compatible stream. Never throws; thread-safe (the
// only state is a thread_local parser, reused so its internal stack is allocated once).
DecodedEvent decode_event(std::string_view data, ChoiceReader read_choice);

// The request body: model, `input_key` (prompt or messages), max_tokens, stream,
// stream_options.include_usage (unless `stream_options` is false: MindIE ignores it), ignore_eos
// when asked, then extra_body merged over it.
std::string encode_body(const ProbeRequest& request, std::string_view input_key,
                        boost::json::value input, bool stream_options = true);

// For ChoiceReader implementations: whether `key` holds a non-empty string. Absent or null is
// simply false; any other type is also false and sets `wrong_type`.
bool non_empty_string(const boost::json::object& object, std::string_view key, bool& wrong_type);

}  // namespace llmprobe::openai
