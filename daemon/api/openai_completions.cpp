// /v1/completions: the prompt is a string and each choice carries its output in "text".
#include "api/adapters.hpp"
#include "api/openai_common.hpp"

namespace llmprobe {

namespace {

std::string read_completion_choice(const boost::json::object& choice, openai::ChoiceScan& scan) {
  bool wrong_type = false;
  if (openai::non_empty_string(choice, "text", wrong_type))
    scan.content = true;
  if (wrong_type)
    return "\"text\" is not a string";
  return {};
}

class OpenAiCompletionsAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/v1/completions"; }

  std::string encode_request(const ProbeRequest& request) const override {
    return openai::encode_body(request, "prompt", boost::json::string(request.prompt));
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return openai::decode_event(data, &read_completion_choice);
  }
};

}  // namespace

const ApiAdapter& openai_completions_adapter() {
  static const OpenAiCompletionsAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
