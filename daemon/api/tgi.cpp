// TGI /generate_stream: the prompt is "inputs", generation settings sit under "parameters", and
// each SSE event carries one token; the last one also carries generated_text and details (with
// generated_tokens, and input_length on TGI 2.x). TGI has no ignore_eos parameter, so none is sent.
#include "api/tgi.hpp"

#include <boost/json/serialize.hpp>

#include "api/adapters.hpp"
#include "api/json_helpers.hpp"

namespace llmprobe {

namespace json = boost::json;

namespace tgi {

namespace {

// Whether the token object is generated output. Returns false and sets `reason` when the token
// has the wrong shape.
bool token_is_content(const json::object& token, std::string& reason) {
  bool special = false;
  if (const json::value* value = token.if_contains("special");
      value != nullptr && !value->is_null()) {
    if (!value->is_bool()) {
      reason = "\"token.special\" is not a boolean";
      return false;
    }
    special = value->get_bool();
  }
  const json::value* text = token.if_contains("text");
  if (text == nullptr || text->is_null()) {
    // MindIE's /infer puts the last token's text only into generated_text and sends
    // {"id": [29945], "text": null}: the token was still generated (details count it).
    const json::value* id = token.if_contains("id");
    if (id == nullptr || id->is_null())
      return false;
    if (const json::array* ids = id->if_array())
      return !special && !ids->empty();
    return !special;
  }
  const json::string* string = text->if_string();
  if (string == nullptr) {
    reason = "\"token.text\" is not a string";
    return false;
  }
  return !special && !string->empty();
}

}  // namespace

DecodedEvent decode_token_event(const json::object& event) {
  if (const json::value* error = event.if_contains("error"); error != nullptr && !error->is_null())
    return api::error_event(*error);

  DecodedEvent result;
  bool wrong_type = false;
  bool content = false;
  if (const json::object* token = api::object_field(event, "token", wrong_type)) {
    std::string reason;
    content = token_is_content(*token, reason);
    if (!reason.empty())
      return api::malformed(reason);
  }
  if (wrong_type)
    return api::malformed("\"token\" is not an object");

  const json::object* details = api::object_field(event, "details", wrong_type);
  if (wrong_type)
    return api::malformed("\"details\" is not an object");
  if (details != nullptr) {
    result.finished = true;
    if (const auto generated = api::count_field(*details, "generated_tokens"))
      result.usage = Usage{api::count_field(*details, "input_length").value_or(0), *generated};
  }
  // Without details (a server that ignores "details": true) generated_text still marks the end.
  if (const json::value* text = event.if_contains("generated_text"); text != nullptr) {
    if (text->is_string()) {
      result.finished = true;
    } else if (!text->is_null()) {
      return api::malformed("\"generated_text\" is neither a string nor null");
    }
  }

  result.timings.prefill = api::milliseconds_field(event, "prefill_time");
  result.timings.decode = api::milliseconds_field(event, "decode_time");
  result.kind = content ? EventKind::content : EventKind::other;
  return result;
}

}  // namespace tgi

namespace {

class TgiAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/generate_stream"; }

  std::string encode_request(const ProbeRequest& request) const override {
    json::object body;
    body["inputs"] = request.prompt;
    // details: true makes the last event carry generated_tokens, the server's token count.
    body["parameters"] = json::object{{"max_new_tokens", request.max_tokens}, {"details", true}};
    api::merge_extra_body(body, request.extra_body, {"inputs", "stream"}, "parameters");
    return json::serialize(body);
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return api::decode_json_object(data, &tgi::decode_token_event);
  }
};

}  // namespace

const ApiAdapter& tgi_adapter() {
  static const TgiAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
