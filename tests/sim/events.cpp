// SSE events in vLLM's exact shape, built by concatenation into one reused buffer: at 2048
// streams x 100 events/s a JSON library per event would make the simulator the bottleneck.
// Everything variable is either a number, our own ASCII words, or the model name, which was
// escaped once per request (Plan::model_json).
#include <string>

#include "sim_internal.hpp"

namespace llmprobe::sim::detail {

namespace {

constexpr std::string_view kWord = " tok";

void append_words(std::string& out, int tokens) {
  for (int i = 0; i < tokens; ++i) {
    out += kWord;
  }
}

void append_finish_reason(std::string& out, const char* finish_reason) {
  if (finish_reason == nullptr) {
    out += "null";
  } else {
    out += '"';
    out += finish_reason;
    out += '"';
  }
}

}  // namespace

EventBuilder::EventBuilder(const Plan& plan, std::string_view id, std::int64_t created)
    : plan_(plan) {
  const bool chat = plan.endpoint == Endpoint::chat;
  prefix_ = "{\"id\":\"";
  prefix_ += chat ? "chatcmpl-" : "cmpl-";
  prefix_ += id;
  prefix_ += chat ? "\",\"object\":\"chat.completion.chunk\"" : "\",\"object\":\"text_completion\"";
  prefix_ += ",\"created\":";
  prefix_ += std::to_string(created);
  prefix_ += ",\"model\":";
  prefix_ += plan.model_json;
  prefix_ += ",\"choices\":[";
  buffer_.reserve(prefix_.size() + 256 +
                  kWord.size() * static_cast<std::size_t>(plan.tokens_per_event));
}

void EventBuilder::append_usage(std::string& out, int completion_tokens) const {
  out += "\"usage\":{\"prompt_tokens\":";
  out += std::to_string(plan_.prompt_tokens);
  out += ",\"completion_tokens\":";
  out += std::to_string(completion_tokens);
  out += ",\"total_tokens\":";
  out += std::to_string(plan_.prompt_tokens + completion_tokens);
  out += '}';
}

std::string_view EventBuilder::role_event() {
  buffer_ = "data: ";
  buffer_ += prefix_;
  // vLLM sends content "" beside the role: a client must not take it for the first token.
  buffer_ +=
      "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
      "\"finish_reason\":null}]}\n\n";
  return buffer_;
}

std::string_view EventBuilder::content_event(int tokens, const char* finish_reason,
                                             bool with_usage) {
  buffer_ = "data: ";
  buffer_ += prefix_;
  if (plan_.endpoint == Endpoint::chat) {
    buffer_ += "{\"index\":0,\"delta\":{\"content\":\"";
    append_words(buffer_, tokens);
    buffer_ += "\"},\"logprobs\":null,\"finish_reason\":";
  } else {
    buffer_ += "{\"index\":0,\"text\":\"";
    append_words(buffer_, tokens);
    buffer_ += "\",\"logprobs\":null,\"finish_reason\":";
  }
  append_finish_reason(buffer_, finish_reason);
  buffer_ += "}]";
  if (with_usage) {
    buffer_ += ',';
    append_usage(buffer_, plan_.output_tokens);
  }
  buffer_ += "}\n\n";
  return buffer_;
}

std::string_view EventBuilder::usage_event() {
  buffer_ = "data: ";
  buffer_ += prefix_;
  buffer_ += "],";
  append_usage(buffer_, plan_.output_tokens);
  buffer_ += "}\n\n";
  return buffer_;
}

std::string_view EventBuilder::done_event() {
  return "data: [DONE]\n\n";
}

std::string_view EventBuilder::malformed_event() {
  buffer_ = "data: ";
  buffer_ += prefix_;
  buffer_ += "{\"index\":0,\"text\": this is not json\n\n";
  return buffer_;
}

std::string_view EventBuilder::error_event() {
  buffer_ = "data: ";
  buffer_ +=
      error_body("simulated error mid-stream (fault error_event)", "InternalServerError", 500);
  buffer_ += "\n\n";
  return buffer_;
}

std::string_view EventBuilder::long_line_event(std::size_t bytes) {
  buffer_ = "data: ";
  buffer_ += prefix_;
  if (plan_.endpoint == Endpoint::chat) {
    buffer_ +=
        "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":null}],\"padding\":\"";
  } else {
    buffer_ +=
        "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":null}],\"padding\":\"";
  }
  const std::size_t tail = 4;  // "}\n\n" and the closing quote
  if (buffer_.size() + tail < bytes) {
    buffer_.append(bytes - buffer_.size() - tail, 'x');
  }
  buffer_ += "\"}\n\n";
  return buffer_;
}

std::string EventBuilder::full_response(int tokens, const char* finish_reason) const {
  std::string out = prefix_;
  if (plan_.endpoint == Endpoint::chat) {
    // Non-streaming objects are "chat.completion", not ".chunk".
    const auto at = out.find("chat.completion.chunk");
    out.replace(at, 21, "chat.completion");
    out += "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"";
    append_words(out, tokens);
    out += "\"},\"logprobs\":null,\"finish_reason\":";
  } else {
    out += "{\"index\":0,\"text\":\"";
    append_words(out, tokens);
    out += "\",\"logprobs\":null,\"finish_reason\":";
  }
  append_finish_reason(out, finish_reason);
  out += "}],";
  append_usage(out, tokens);
  out += '}';
  return out;
}

}  // namespace llmprobe::sim::detail
