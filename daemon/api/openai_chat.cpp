// /v1/chat/completions: the prompt is one user message and each choice streams a "delta".
// Content is anything the model generated, reasoning and tool calls included (vLLM's benchmark
// times those too); a delta carrying only the role is not content (vLLM issue #3759).
#include "api/adapters.hpp"
#include "api/openai_common.hpp"

namespace llmprobe {

namespace {

std::string read_chat_choice(const boost::json::object& choice, openai::ChoiceScan& scan) {
  const boost::json::value* delta_value = choice.if_contains("delta");
  if (delta_value == nullptr || delta_value->is_null())
    return {};
  const boost::json::object* delta = delta_value->if_object();
  if (delta == nullptr)
    return "\"delta\" is not an object";

  bool wrong_type = false;
  // reasoning_content is vLLM's and DeepSeek's spelling; newer vLLM and others use reasoning.
  for (std::string_view key : {"content", "reasoning_content", "reasoning"}) {
    if (openai::non_empty_string(*delta, key, wrong_type))
      scan.content = true;
    if (wrong_type)
      return "\"delta." + std::string(key) + "\" is not a string";
  }

  if (const boost::json::value* calls = delta->if_contains("tool_calls");
      calls != nullptr && !calls->is_null()) {
    const boost::json::array* array = calls->if_array();
    if (array == nullptr)
      return "\"delta.tool_calls\" is not an array";
    if (!array->empty())
      scan.content = true;
  }
  // The deprecated single-function form some servers still stream.
  if (const boost::json::value* call = delta->if_contains("function_call");
      call != nullptr && !call->is_null()) {
    const boost::json::object* object = call->if_object();
    if (object == nullptr)
      return "\"delta.function_call\" is not an object";
    if (!object->empty())
      scan.content = true;
  }

  if (const boost::json::value* role = delta->if_contains("role");
      role != nullptr && !role->is_null()) {
    if (!role->is_string())
      return "\"delta.role\" is not a string";
    scan.role = true;
  }
  return {};
}

class OpenAiChatAdapter final : public ApiAdapter {
 public:
  std::string path(const ProbeRequest&) const override { return "/v1/chat/completions"; }

  std::string encode_request(const ProbeRequest& request) const override {
    boost::json::array messages;
    messages.push_back(boost::json::object{{"role", "user"}, {"content", request.prompt}});
    return openai::encode_body(request, "messages", std::move(messages));
  }

  DecodedEvent decode_event(std::string_view data) const override {
    return openai::decode_event(data, &read_chat_choice);
  }
};

}  // namespace

const ApiAdapter& openai_chat_adapter() {
  static const OpenAiChatAdapter adapter;
  return adapter;
}

}  // namespace llmprobe
