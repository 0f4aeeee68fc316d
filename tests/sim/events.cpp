// Stream events in each flavor's exact shape (vLLM's OpenAI chunks, TGI, Triton, MindIE, Ollama),
// built by concatenation into one reused buffer: at 2048 streams x 100 events/s a JSON library per
// event would make the simulator the bottleneck. Everything variable is either a number, our own
// ASCII words, or the model name, which was escaped once per request (Plan::model_json).
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
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

// Microseconds as milliseconds with three decimals ("20.000"): exact, no float rounding.
void append_ms(std::string& out, std::int64_t microseconds) {
  std::array<char, 32> text{};
  const int length = std::snprintf(text.data(), text.size(), "%" PRId64 ".%03" PRId64,
                                   microseconds / 1000, microseconds % 1000);
  out.append(text.data(), static_cast<std::size_t>(length));
}

// Now, as Ollama writes created_at: RFC 3339 UTC with nanoseconds.
void append_created_at(std::string& out) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds).count();
  const std::time_t time = seconds.count();
  std::tm utc{};
  gmtime_r(&time, &utc);
  std::array<char, 48> text{};
  std::size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  length +=
      static_cast<std::size_t>(std::snprintf(text.data() + length, text.size() - length,
                                             ".%09" PRId64 "Z", static_cast<std::int64_t>(nanos)));
  out += '"';
  out.append(text.data(), length);
  out += '"';
}

}  // namespace

EventBuilder::EventBuilder(const Plan& plan, std::string_view id, std::int64_t created)
    : plan_(plan) {
  if (plan.endpoint == Endpoint::triton) {
    prefix_ = "{\"model_name\":";
    prefix_ += plan.model_json;
    prefix_ +=
        ",\"model_version\":\"1\",\"sequence_end\":false,\"sequence_id\":0,"
        "\"sequence_start\":false,\"text_output\":\"";
  } else if (is_openai(plan.endpoint)) {
    const bool chat = plan.endpoint == Endpoint::chat;
    prefix_ = "{\"id\":\"";
    prefix_ += chat ? "chatcmpl-" : "cmpl-";
    prefix_ += id;
    prefix_ +=
        chat ? "\",\"object\":\"chat.completion.chunk\"" : "\",\"object\":\"text_completion\"";
    prefix_ += ",\"created\":";
    prefix_ += std::to_string(created);
    prefix_ += ",\"model\":";
    prefix_ += plan.model_json;
    prefix_ += ",\"choices\":[";
  }
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

void EventBuilder::append_tgi_details(std::string& out, int tokens) const {
  out += "{\"finish_reason\":\"";
  out += plan_.finish_reason();
  out += "\",\"generated_tokens\":";
  out += std::to_string(tokens);
  out += ",\"seed\":null,\"input_length\":";
  out += std::to_string(plan_.prompt_tokens);
  out += '}';
}

void EventBuilder::append_ollama_head(std::string& out) const {
  out += "{\"model\":";
  out += plan_.model_json;
  out += ",\"created_at\":";
  append_created_at(out);
  out += plan_.endpoint == Endpoint::ollama_chat
             ? ",\"message\":{\"role\":\"assistant\",\"content\":\""
             : ",\"response\":\"";
}

void EventBuilder::append_ollama_tail(std::string& out, const OllamaTimings& timings,
                                      bool with_counts) const {
  out += plan_.endpoint == Endpoint::ollama_chat ? "\"}" : "\"";
  out += ",\"done\":true,\"done_reason\":\"";
  out += plan_.finish_reason();
  out += '"';
  if (with_counts) {
    out += ",\"total_duration\":";
    out += std::to_string(timings.total);
    out += ",\"load_duration\":";
    out += std::to_string(timings.load);
    out += ",\"prompt_eval_count\":";
    out += std::to_string(plan_.prompt_tokens);
    out += ",\"prompt_eval_duration\":";
    out += std::to_string(timings.prompt_eval);
    out += ",\"eval_count\":";
    out += std::to_string(plan_.output_tokens);
    out += ",\"eval_duration\":";
    out += std::to_string(timings.eval);
  }
  out += '}';
}

std::string_view EventBuilder::role_event() {
  buffer_ = plan_.sse_prefix();
  buffer_ += prefix_;
  // vLLM sends content "" beside the role: a client must not take it for the first token.
  buffer_ +=
      "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
      "\"finish_reason\":null}]}\n\n";
  return buffer_;
}

std::string_view EventBuilder::content_event(const ContentEvent& event) {
  switch (plan_.endpoint) {
    case Endpoint::completions:
    case Endpoint::chat:
      buffer_ = plan_.sse_prefix();
      buffer_ += prefix_;
      if (plan_.endpoint == Endpoint::chat) {
        buffer_ += "{\"index\":0,\"delta\":{\"content\":\"";
        append_words(buffer_, event.tokens);
        buffer_ += "\"},\"logprobs\":null,\"finish_reason\":";
      } else {
        buffer_ += "{\"index\":0,\"text\":\"";
        append_words(buffer_, event.tokens);
        buffer_ += "\",\"logprobs\":null,\"finish_reason\":";
      }
      append_finish_reason(buffer_, event.final ? plan_.finish_reason() : nullptr);
      buffer_ += "}]";
      if (event.with_usage) {
        buffer_ += ',';
        append_usage(buffer_, plan_.output_tokens);
      }
      buffer_ += "}\n\n";
      return buffer_;
    case Endpoint::tgi:
    case Endpoint::mindie: {
      // One token per event; index and id count from 1 as TGI's do.
      const auto index = std::to_string(event.tokens_before + 1);
      buffer_ = plan_.sse_prefix();
      buffer_ += "{\"index\":";
      buffer_ += index;
      buffer_ += ",\"token\":{\"id\":";
      buffer_ += index;
      buffer_ += ",\"text\":\"";
      append_words(buffer_, event.tokens);
      buffer_ += "\",\"logprob\":-0.1,\"special\":false},\"generated_text\":";
      if (event.final) {
        buffer_ += '"';
        append_words(buffer_, event.tokens_before + event.tokens);
        buffer_ += '"';
      } else {
        buffer_ += "null";
      }
      buffer_ += ",\"details\":";
      if (event.final && event.with_usage) {
        append_tgi_details(buffer_, event.tokens_before + event.tokens);
      } else {
        buffer_ += "null";
      }
      if (event.prefill_us) {
        buffer_ += ",\"prefill_time\":";
        append_ms(buffer_, *event.prefill_us);
      }
      if (event.decode_us) {
        buffer_ += ",\"decode_time\":";
        append_ms(buffer_, *event.decode_us);
      }
      buffer_ += "}\n\n";
      return buffer_;
    }
    case Endpoint::triton:
      buffer_ = plan_.sse_prefix();
      buffer_ += prefix_;
      append_words(buffer_, event.tokens);
      buffer_ += "\"}\n\n";
      return buffer_;
    case Endpoint::ollama_chat:
    case Endpoint::ollama_generate:
      buffer_.clear();
      append_ollama_head(buffer_);
      append_words(buffer_, event.tokens);
      buffer_ += plan_.endpoint == Endpoint::ollama_chat ? "\"}" : "\"";
      buffer_ += ",\"done\":false}\n";
      return buffer_;
  }
  return {};
}

std::string_view EventBuilder::usage_event() {
  buffer_ = plan_.sse_prefix();
  buffer_ += prefix_;
  buffer_ += "],";
  append_usage(buffer_, plan_.output_tokens);
  buffer_ += "}\n\n";
  return buffer_;
}

std::string_view EventBuilder::done_event() {
  buffer_ = plan_.sse_prefix();
  buffer_ += "[DONE]\n\n";
  return buffer_;
}

std::string_view EventBuilder::ollama_done_event(const OllamaTimings& timings, bool with_counts) {
  buffer_.clear();
  append_ollama_head(buffer_);
  append_ollama_tail(buffer_, timings, with_counts);
  buffer_ += '\n';
  return buffer_;
}

std::string_view EventBuilder::malformed_event() {
  if (is_ollama(plan_.endpoint)) {
    buffer_ = "{\"model\":";
    buffer_ += plan_.model_json;
    buffer_ += ",\"response\": this is not json\n";
    return buffer_;
  }
  buffer_ = plan_.sse_prefix();
  if (is_tgi_shaped(plan_.endpoint)) {
    buffer_ += "{\"index\":0,\"token\": this is not json\n\n";
  } else if (plan_.endpoint == Endpoint::triton) {
    buffer_ += prefix_;
    buffer_ += " this is not json\n\n";  // an unterminated string
  } else {
    buffer_ += prefix_;
    buffer_ += "{\"index\":0,\"text\": this is not json\n\n";
  }
  return buffer_;
}

std::string_view EventBuilder::error_event() {
  constexpr std::string_view message = "simulated error mid-stream (fault error_event)";
  if (is_ollama(plan_.endpoint)) {
    buffer_ = flavor_error_body(plan_.endpoint, message, "generation", 500);
    buffer_ += '\n';
    return buffer_;
  }
  buffer_ = plan_.sse_prefix();
  if (is_openai(plan_.endpoint)) {
    buffer_ += error_body(message, "InternalServerError", 500);
  } else {
    buffer_ += flavor_error_body(plan_.endpoint, message, "generation", 500);
  }
  buffer_ += "\n\n";
  return buffer_;
}

std::string_view EventBuilder::long_line_event(std::size_t bytes) {
  std::size_t tail = 0;
  if (is_tgi_shaped(plan_.endpoint)) {
    buffer_ = ":";  // an SSE comment: TGI has no event without a token
    tail = 2;
  } else if (is_ollama(plan_.endpoint)) {
    buffer_.clear();
    append_ollama_head(buffer_);
    buffer_ += plan_.endpoint == Endpoint::ollama_chat ? "\"}" : "\"";
    buffer_ += ",\"done\":false,\"padding\":\"";
    tail = 3;  // closing quote, "}", "\n"
  } else {
    buffer_ = plan_.sse_prefix();
    buffer_ += prefix_;
    if (plan_.endpoint == Endpoint::triton) {
      buffer_ += "\",\"padding\":\"";
    } else if (plan_.endpoint == Endpoint::chat) {
      buffer_ +=
          "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":null}],\"padding\":\"";
    } else {
      buffer_ +=
          "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":null}],\"padding\":\"";
    }
    tail = 4;  // closing quote, "}", "\n\n"
  }
  if (buffer_.size() + tail < bytes) {
    buffer_.append(bytes - buffer_.size() - tail, 'x');
  }
  if (is_tgi_shaped(plan_.endpoint)) {
    buffer_ += "\n\n";
  } else if (is_ollama(plan_.endpoint)) {
    buffer_ += "\"}\n";
  } else {
    buffer_ += "\"}\n\n";
  }
  return buffer_;
}

std::string EventBuilder::full_response(int tokens, const OllamaTimings& timings) const {
  if (is_ollama(plan_.endpoint)) {
    std::string out;
    append_ollama_head(out);
    append_words(out, tokens);
    append_ollama_tail(out, timings, true);
    return out;
  }
  if (is_tgi_shaped(plan_.endpoint)) {
    std::string out = "{\"generated_text\":\"";
    append_words(out, tokens);
    out += "\",\"details\":";
    if (plan_.details) {
      append_tgi_details(out, tokens);
    } else {
      out += "null";
    }
    out += '}';
    return out;
  }
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
  append_finish_reason(out, plan_.finish_reason());
  out += "}],";
  append_usage(out, tokens);
  out += '}';
  return out;
}

}  // namespace llmprobe::sim::detail
