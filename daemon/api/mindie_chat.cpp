// MindIE's OpenAI chat mode (/v1/chat/completions): events are decoded exactly as openai-chat's
// (MindIE puts usage on the last choice chunk, which that decoder reads from any chunk), but the
// body has no stream_options: MindIE ignores them. MindIE's usage may also carry "prefill_time"
// (milliseconds) and "decode_time_arr" (one decode time per token, milliseconds), which become the
// server timings.
#include <boost/json/array.hpp>

#include "api/adapters.hpp"
#include "api/json_helpers.hpp"
#include "api/openai_common.hpp"

namespace llmprobe {

namespace {

namespace json = boost::json;

// The timings of a MindIE chunk: from its usage, or from the chunk itself.
DecodedEvent read_timings(const json::object& chunk) {
  DecodedEvent event;
  const json::object* source = &chunk;
  if (const json::value* usage = chunk.if_contains("usage"); usage != nullptr && usage->is_object())
    source = &usage->get_object();
  event.timings.prefill = api::milliseconds_field(*source, "prefill_time");
  if (const json::value* times = source->if_contains("decode_time_arr")) {
    if (const json::array* array = times->if_array()) {
      Duration sum{0};
      bool any = false;
      for (const json::value& time : *array) {
        if (const auto duration = api::milliseconds(time)) {
          sum += *duration;
          any = true;
        }
      }
      if (any)
        event.timings.decode = sum;
    }
  }
  return event;
}

class MindieChatAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/v1/chat/completions"; }

  std::string encode_request(const ProbeRequest& request) const override {
    json::array messages;
    messages.push_back(json::object{{"role", "user"}, {"content", request.prompt}});
    return openai::encode_body(request, "messages", std::move(messages), false);
  }

  DecodedEvent decode_event(std::string_view data) const override {
    DecodedEvent event = openai_chat_adapter().decode_event(data);
    // Only the usage chunk carries timings: parse it a second time rather than every chunk
    // through a decoder of our own.
    if (event.kind == EventKind::error || event.kind == EventKind::malformed)
      return event;
    if (data.find("prefill_time") == std::string_view::npos &&
        data.find("decode_time_arr") == std::string_view::npos)
      return event;
    const DecodedEvent timed = api::decode_json_object(data, &read_timings);
    event.timings = timed.timings;
    return event;
  }
};

}  // namespace

const ApiAdapter& mindie_chat_adapter() {
  static const MindieChatAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
