// MindIE's native POST /infer with "stream": true: TGI's request and event shapes, plus
// "prefill_time" (milliseconds, on the first token's event) and "decode_time" (milliseconds, on
// every later event), which become the server timings. The last event carries generated_text and
// details, and a token whose text is null (its text is only in generated_text): it still counts
// as a generated token. ignore_eos goes under "parameters", like the other sampling settings.
#include <boost/json/serialize.hpp>

#include "api/adapters.hpp"
#include "api/json_helpers.hpp"
#include "api/tgi.hpp"

namespace llmprobe {

namespace {

namespace json = boost::json;

class MindieAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/infer"; }

  std::string encode_request(const ProbeRequest& request) const override {
    json::object parameters{{"max_new_tokens", request.max_tokens}, {"details", true}};
    if (request.ignore_eos)
      parameters["ignore_eos"] = true;
    json::object body;
    body["inputs"] = request.prompt;
    body["stream"] = true;
    body["parameters"] = std::move(parameters);
    api::merge_extra_body(body, request.extra_body, {"inputs", "stream"}, "parameters");
    return json::serialize(body);
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return api::decode_json_object(data, &tgi::decode_token_event);
  }
};

}  // namespace

const ApiAdapter& mindie_adapter() {
  static const MindieAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
