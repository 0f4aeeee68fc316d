// Triton's generate extension, POST /v2/models/{model}/generate_stream, as TensorRT-LLM's
// ensemble serves it: {"text_input", "max_tokens", "stream": true} in, one SSE event per step out
// with the new text in "text_output". Those streams carry no token counts and no end marker, so
// tokens are estimated from content events and a cleanly ended HTTP message is a complete stream
// (marks_end() is false). MindIE's Triton endpoint adds "prefill_time" / "decode_time"
// (milliseconds) and a per-event "details" with generated_tokens, queue_wait_time (microseconds)
// and, on the last event, finish_reason: read when present.
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "api/adapters.hpp"
#include "api/json_helpers.hpp"

namespace llmprobe {

namespace {

namespace json = boost::json;

DecodedEvent decode_triton_event(const json::object& event) {
  if (const json::value* error = event.if_contains("error"); error != nullptr && !error->is_null())
    return api::error_event(*error);

  DecodedEvent result;
  bool wrong_type = false;
  const bool content = api::non_empty_string(event, "text_output", wrong_type);
  if (wrong_type)
    return api::malformed("\"text_output\" is not a string");

  result.timings.prefill = api::milliseconds_field(event, "prefill_time");
  result.timings.decode = api::milliseconds_field(event, "decode_time");

  const json::object* details = api::object_field(event, "details", wrong_type);
  if (wrong_type)
    return api::malformed("\"details\" is not an object");
  if (details != nullptr) {
    // MindIE repeats details on every event with a running generated_tokens: the last one wins.
    if (const auto generated = api::count_field(*details, "generated_tokens"))
      result.usage = Usage{0, *generated};
    if (const json::value* finish = details->if_contains("finish_reason");
        finish != nullptr && finish->is_string()) {
      result.finished = true;
    }
    // queue_wait_time is given on every event, but only the first token's is the request's wait
    // for a batch slot; later ones are per-step waits.
    if (result.timings.prefill)
      result.timings.queue = api::microseconds_field(*details, "queue_wait_time");
  }
  result.kind = content ? EventKind::content : EventKind::other;
  return result;
}

class TritonAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest& request) const override {
    // One path segment whatever the model is called ("org/model" must not add a segment).
    return "/v2/models/" + boost::urls::encode(request.model, boost::urls::unreserved_chars) +
           "/generate_stream";
  }

  bool marks_end() const override { return false; }

  std::string encode_request(const ProbeRequest& request) const override {
    json::object body;
    body["text_input"] = request.prompt;
    body["max_tokens"] = request.max_tokens;
    body["stream"] = true;
    api::merge_extra_body(body, request.extra_body, {"text_input", "stream"});
    return json::serialize(body);
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return api::decode_json_object(data, &decode_triton_event);
  }
};

}  // namespace

const ApiAdapter& triton_adapter() {
  static const TritonAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
