// The OpenAI-compatible adapters: what each event of a real stream means (the fixtures), the
// shapes that must not be taken for content (role-only and usage-only chunks), and the request
// body. Each decoded event is summarised as a token, e.g. "Cf" = content with finish_reason:
// R role_only, C content, U usage_only, D done, E error, O other, M malformed; suffix f =
// finished, u = carries usage.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/sse_parser.hpp"

namespace llmprobe {
namespace {

namespace json = boost::json;

const ApiAdapter& chat() {
  return adapter_for(ApiFlavor::openai_chat);
}
const ApiAdapter& completions() {
  return adapter_for(ApiFlavor::openai_completions);
}

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(LLMPROBE_TESTDATA_DIR) + "/streams/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string token(const DecodedEvent& event) {
  std::string text;
  switch (event.kind) {
    case EventKind::content:
      text = "C";
      break;
    case EventKind::role_only:
      text = "R";
      break;
    case EventKind::usage_only:
      text = "U";
      break;
    case EventKind::done:
      text = "D";
      break;
    case EventKind::error:
      text = "E";
      break;
    case EventKind::other:
      text = "O";
      break;
    case EventKind::malformed:
      text = "M";
      break;
  }
  if (event.finished)
    text += "f";
  if (event.usage)
    text += "u";
  return text;
}

struct StreamSummary {
  std::string tokens;  // space-separated tokens, one per event
  std::size_t content_events = 0;
  std::optional<Usage> usage;  // the last usage seen, as the runner keeps it
  std::string error_message;
};

StreamSummary decode_fixture(const std::string& file, const ApiAdapter& adapter) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed(read_fixture(file), events), SseStatus::ok);
  EXPECT_FALSE(parser.finish());
  StreamSummary summary;
  for (const SseEvent& event : events) {
    const DecodedEvent decoded = adapter.decode_event(event.data);
    if (!summary.tokens.empty())
      summary.tokens += ' ';
    summary.tokens += token(decoded);
    if (decoded.kind == EventKind::content)
      ++summary.content_events;
    if (decoded.usage)
      summary.usage = decoded.usage;
    if (decoded.kind == EventKind::error)
      summary.error_message = decoded.error_message;
  }
  return summary;
}

void expect_usage(const std::optional<Usage>& usage, std::uint64_t prompt,
                  std::uint64_t completion) {
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->prompt_tokens, prompt);
  EXPECT_EQ(usage->completion_tokens, completion);
}

// ---- fixtures ----

TEST(OpenAiFixtures, VllmCompletions) {
  const StreamSummary s = decode_fixture("vllm_completions.txt", completions());
  EXPECT_EQ(s.tokens, "C C C C C C C Cf Uu D");
  EXPECT_EQ(s.content_events, 8u);
  expect_usage(s.usage, 6, 8);
}

TEST(OpenAiFixtures, VllmChatRoleOnlyFirstChunkIsNotContent) {
  const StreamSummary s = decode_fixture("vllm_chat.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C C C C C Cf Uu D");
  EXPECT_EQ(s.content_events, 8u);
  expect_usage(s.usage, 11, 8);
}

TEST(OpenAiFixtures, OpenAiUsageNullOnEveryChunkThenUsageChunk) {
  const StreamSummary s = decode_fixture("openai_chat_include_usage.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C C C C C Of Uu D");
  EXPECT_EQ(s.content_events, 7u);
  expect_usage(s.usage, 14, 7);
}

TEST(OpenAiFixtures, MindieUsageOnTheFinishChunk) {
  const StreamSummary s = decode_fixture("mindie_chat_usage_last_choice.txt", chat());
  // MindIE repeats the role on every delta: content wins over role.
  EXPECT_EQ(s.tokens, "C C C C C Cfu D");
  EXPECT_EQ(s.content_events, 6u);
  expect_usage(s.usage, 9, 6);
}

TEST(OpenAiFixtures, ReasoningCountsAsContent) {
  const StreamSummary s = decode_fixture("reasoning_chat.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C C C C C C C C C C C Cf Uu D");
  EXPECT_EQ(s.content_events, 14u);
  expect_usage(s.usage, 10, 15);
}

TEST(OpenAiFixtures, ToolCallDeltasCountAsContent) {
  const StreamSummary s = decode_fixture("tool_calls_chat.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C C C C C C Of Uu D");
  EXPECT_EQ(s.content_events, 8u);
  expect_usage(s.usage, 312, 32);
}

TEST(OpenAiFixtures, ErrorMidStream) {
  const StreamSummary s = decode_fixture("error_midstream.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C E D");
  EXPECT_EQ(s.content_events, 3u);
  EXPECT_FALSE(s.usage.has_value());
  EXPECT_EQ(s.error_message, "The engine was terminated while processing the request.");
}

TEST(OpenAiFixtures, CrlfCommentsAndMultiLineData) {
  const StreamSummary s = decode_fixture("crlf_and_comments.txt", chat());
  EXPECT_EQ(s.tokens, "R C C C C Of D");
  EXPECT_EQ(s.content_events, 4u);
  EXPECT_FALSE(s.usage.has_value());
}

TEST(OpenAiFixtures, CrOnly) {
  const StreamSummary s = decode_fixture("cr_only.txt", chat());
  EXPECT_EQ(s.tokens, "R C Cf Uu D");
  EXPECT_EQ(s.content_events, 2u);
  expect_usage(s.usage, 5, 2);
}

// ---- targeted decoding cases ----

TEST(OpenAiDecode, DoneSentinelIsExactAfterTrimming) {
  EXPECT_EQ(chat().decode_event("[DONE]").kind, EventKind::done);
  EXPECT_EQ(chat().decode_event(" \t[DONE]\r\n").kind, EventKind::done);
  EXPECT_EQ(completions().decode_event("[DONE]").kind, EventKind::done);
  EXPECT_EQ(chat().decode_event("[done]").kind, EventKind::malformed);
  EXPECT_EQ(chat().decode_event("[DONE] x").kind, EventKind::malformed);
}

TEST(OpenAiDecode, NotJsonIsMalformedWithAMessage) {
  for (std::string_view data : {"", "hello", "{\"choices\": [", "{} {}", "{\"a\":1,}"}) {
    const DecodedEvent event = chat().decode_event(data);
    EXPECT_EQ(event.kind, EventKind::malformed) << data;
    EXPECT_FALSE(event.error_message.empty()) << data;
  }
}

TEST(OpenAiDecode, JsonThatIsNotAnObjectIsMalformed) {
  for (std::string_view data : {"[1,2]", "42", "\"text\"", "null", "true"}) {
    EXPECT_EQ(chat().decode_event(data).kind, EventKind::malformed) << data;
    EXPECT_EQ(completions().decode_event(data).kind, EventKind::malformed) << data;
  }
}

TEST(OpenAiDecode, WrongShapesAreMalformed) {
  const std::vector<std::string_view> both{
      R"({"choices":"x"})",
      R"({"choices":{"index":0}})",
      R"({"choices":[1]})",
      R"({"choices":[{"index":0,"finish_reason":7}]})",
  };
  for (std::string_view data : both) {
    EXPECT_EQ(chat().decode_event(data).kind, EventKind::malformed) << data;
    EXPECT_EQ(completions().decode_event(data).kind, EventKind::malformed) << data;
  }
  EXPECT_EQ(completions().decode_event(R"({"choices":[{"text":5}]})").kind, EventKind::malformed);
  for (std::string_view data : {
           R"({"choices":[{"delta":"x"}]})",
           R"({"choices":[{"delta":{"content":5}}]})",
           R"({"choices":[{"delta":{"reasoning_content":["a"]}}]})",
           R"({"choices":[{"delta":{"tool_calls":{"index":0}}}]})",
           R"({"choices":[{"delta":{"role":1}}]})",
       }) {
    const DecodedEvent event = chat().decode_event(data);
    EXPECT_EQ(event.kind, EventKind::malformed) << data;
    EXPECT_FALSE(event.error_message.empty()) << data;
  }
}

TEST(OpenAiDecode, TooDeepJsonIsMalformedNotAnException) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  EXPECT_EQ(chat().decode_event(deep).kind, EventKind::malformed);
}

TEST(OpenAiDecode, LargeChunkBeyondTheStackBufferDecodes) {
  const std::string text(100000, 'a');
  const DecodedEvent event =
      chat().decode_event(R"({"choices":[{"delta":{"content":")" + text + R"("}}]})");
  EXPECT_EQ(event.kind, EventKind::content);
}

TEST(OpenAiDecode, ErrorObjectStringAndTopLevelForms) {
  DecodedEvent event = chat().decode_event(
      R"({"error": {"object": "error", "message": "boom", "type": "BadRequestError", "param": null, "code": 400}})");
  EXPECT_EQ(event.kind, EventKind::error);
  EXPECT_EQ(event.error_message, "boom");

  event = completions().decode_event(R"({"error":"Input validation error: too long"})");
  EXPECT_EQ(event.kind, EventKind::error);
  EXPECT_EQ(event.error_message, "Input validation error: too long");

  // An error object without a message string: the object itself, for the log.
  event = chat().decode_event(R"({"error":{"code":503}})");
  EXPECT_EQ(event.kind, EventKind::error);
  EXPECT_EQ(event.error_message, R"({"code":503})");

  // Older vLLM streamed the ErrorResponse body itself.
  event = chat().decode_event(
      R"({"object":"error","message":"model not found","type":"NotFoundError","code":404})");
  EXPECT_EQ(event.kind, EventKind::error);
  EXPECT_EQ(event.error_message, "model not found");

  // "error": null is no error.
  event = chat().decode_event(R"({"error":null,"choices":[{"delta":{"content":"a"}}]})");
  EXPECT_EQ(event.kind, EventKind::content);
}

TEST(OpenAiDecode, ErrorMessageIsBoundedWithoutSplittingUtf8) {
  std::string message(255, 'x');
  message += "\xC3\xA9";  // 'é' straddles byte 256
  message += std::string(1000, 'y');
  const DecodedEvent event = chat().decode_event(
      json::serialize(json::object{{"error", json::object{{"message", message}}}}));
  EXPECT_EQ(event.kind, EventKind::error);
  EXPECT_EQ(event.error_message, std::string(255, 'x'));

  const DecodedEvent plain =
      chat().decode_event(json::serialize(json::object{{"error", std::string(1000, 'z')}}));
  EXPECT_EQ(plain.error_message.size(), 256u);
}

TEST(OpenAiDecode, UsageNullIsIgnored) {
  const DecodedEvent event =
      chat().decode_event(R"({"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null})");
  EXPECT_EQ(event.kind, EventKind::content);
  EXPECT_FALSE(event.usage.has_value());
}

TEST(OpenAiDecode, UsageIsReadFromAnyChunk) {
  const DecodedEvent event = chat().decode_event(
      R"({"choices":[{"index":0,"delta":{"content":"."},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
  EXPECT_EQ(event.kind, EventKind::content);
  EXPECT_TRUE(event.finished);
  expect_usage(event.usage, 3, 4);
}

TEST(OpenAiDecode, UsageWithOddValues) {
  // A non-integer prompt_tokens is ignored, the rest kept.
  DecodedEvent event =
      chat().decode_event(R"({"choices":[],"usage":{"prompt_tokens":"5","completion_tokens":3}})");
  EXPECT_EQ(event.kind, EventKind::usage_only);
  expect_usage(event.usage, 0, 3);

  // Without a usable completion_tokens there is no usage: the measurement then counts content
  // events instead of believing zero output tokens.
  for (std::string_view data : {
           R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2.5}})",
           R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":-1}})",
           R"({"choices":[],"usage":{"prompt_tokens":5}})",
           R"({"choices":[],"usage":"n/a"})",
       }) {
    event = chat().decode_event(data);
    EXPECT_EQ(event.kind, EventKind::other) << data;
    EXPECT_FALSE(event.usage.has_value()) << data;
  }
}

TEST(OpenAiDecode, EmptyOrMissingChoices) {
  EXPECT_EQ(chat().decode_event(R"({})").kind, EventKind::other);
  EXPECT_EQ(chat().decode_event(R"({"choices":[]})").kind, EventKind::other);
  EXPECT_EQ(chat().decode_event(R"({"choices":null})").kind, EventKind::other);
  const DecodedEvent usage_only =
      completions().decode_event(R"({"usage":{"prompt_tokens":1,"completion_tokens":2}})");
  EXPECT_EQ(usage_only.kind, EventKind::usage_only);
  expect_usage(usage_only.usage, 1, 2);
}

TEST(OpenAiDecode, ChatRoleOnlyShapes) {
  for (std::string_view data : {
           R"({"choices":[{"index":0,"delta":{"role":"assistant"}}]})",
           R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
           R"({"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]})",
           R"({"choices":[{"index":0,"delta":{"role":"assistant","content":"","tool_calls":[]}}]})",
       }) {
    const DecodedEvent event = chat().decode_event(data);
    EXPECT_EQ(event.kind, EventKind::role_only) << data;
    EXPECT_FALSE(event.finished) << data;
  }
}

TEST(OpenAiDecode, ChatFinishWithoutContentIsOther) {
  for (std::string_view data : {
           R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})",
           R"({"choices":[{"index":0,"finish_reason":"length"}]})",
           R"({"choices":[{"index":0,"delta":{"content":null},"finish_reason":"stop"}]})",
       }) {
    const DecodedEvent event = chat().decode_event(data);
    EXPECT_EQ(event.kind, EventKind::other) << data;
    EXPECT_TRUE(event.finished) << data;
  }
  const DecodedEvent not_finished =
      chat().decode_event(R"({"choices":[{"index":0,"delta":{},"finish_reason":null}]})");
  EXPECT_EQ(not_finished.kind, EventKind::other);
  EXPECT_FALSE(not_finished.finished);
}

TEST(OpenAiDecode, ChatContentForms) {
  for (
      std::string_view data : {
          R"({"choices":[{"delta":{"content":"a"}}]})",
          R"({"choices":[{"delta":{"reasoning_content":"think"}}]})",
          R"({"choices":[{"delta":{"reasoning":"think","content":null}}]})",
          R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]})",
          R"({"choices":[{"delta":{"role":"assistant","content":"Hi"}}]})",
          // n=2: one choice's content is enough.
          R"({"choices":[{"index":0,"delta":{"role":"assistant"}},{"index":1,"delta":{"content":"b"}}]})",
      }) {
    EXPECT_EQ(chat().decode_event(data).kind, EventKind::content) << data;
  }
}

TEST(OpenAiDecode, CompletionsTextForms) {
  EXPECT_EQ(completions().decode_event(R"({"choices":[{"text":" a"}]})").kind, EventKind::content);
  const DecodedEvent last =
      completions().decode_event(R"({"choices":[{"text":"","finish_reason":"length"}]})");
  EXPECT_EQ(last.kind, EventKind::other);
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(completions().decode_event(R"({"choices":[{"text":null}]})").kind, EventKind::other);
  // A chat delta means nothing to the completions flavor.
  EXPECT_EQ(completions().decode_event(R"({"choices":[{"delta":{"content":"a"}}]})").kind,
            EventKind::other);
}

TEST(OpenAiDecode, ConcurrentDecodingAgrees) {
  // Adapters are shared: decoding from several threads at once must give the same answers.
  const std::string text = read_fixture("vllm_chat.txt");
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_EQ(parser.feed(text, events), SseStatus::ok);
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        std::string tokens;
        for (const SseEvent& event : events)
          tokens += token(chat().decode_event(event.data));
        if (round == 0)
          results[t] = tokens;
        if (tokens != results[t])
          results[t] = "diverged";
      }
    });
  }
  for (std::thread& thread : threads)
    thread.join();
  for (const std::string& result : results)
    EXPECT_EQ(result, "RCCCCCCCCfUuD");
}

// ---- request encoding ----

json::object encode(const ApiAdapter& adapter, const ProbeRequest& request) {
  const json::value body = json::parse(adapter.encode_request(request));
  EXPECT_TRUE(body.is_object());
  return body.as_object();
}

TEST(OpenAiEncode, Paths) {
  EXPECT_EQ(completions().path(ProbeRequest{}), "/v1/completions");
  EXPECT_EQ(chat().path(ProbeRequest{}), "/v1/chat/completions");
}

TEST(OpenAiEncode, CompletionsBody) {
  ProbeRequest request;
  request.model = "meta-llama/Llama-3.1-8B-Instruct";
  request.prompt = "Say \"hi\"\n\xE4\xBD\xA0\xE5\xA5\xBD";
  request.max_tokens = 64;
  const json::object expected{
      {"model", "meta-llama/Llama-3.1-8B-Instruct"},
      {"prompt", "Say \"hi\"\n\xE4\xBD\xA0\xE5\xA5\xBD"},
      {"max_tokens", 64},
      {"stream", true},
      {"stream_options", json::object{{"include_usage", true}}},
  };
  EXPECT_EQ(encode(completions(), request), expected);
}

TEST(OpenAiEncode, ChatBody) {
  ProbeRequest request;
  request.model = "Qwen/Qwen2.5-7B-Instruct";
  request.prompt = "Hello";
  request.max_tokens = 8;
  const json::object expected{
      {"model", "Qwen/Qwen2.5-7B-Instruct"},
      {"messages", json::array{json::object{{"role", "user"}, {"content", "Hello"}}}},
      {"max_tokens", 8},
      {"stream", true},
      {"stream_options", json::object{{"include_usage", true}}},
  };
  EXPECT_EQ(encode(chat(), request), expected);
}

TEST(OpenAiEncode, IgnoreEosOnlyWhenTrue) {
  ProbeRequest request;
  request.model = "m";
  request.prompt = "p";
  EXPECT_FALSE(encode(chat(), request).contains("ignore_eos"));
  EXPECT_FALSE(encode(completions(), request).contains("ignore_eos"));
  request.ignore_eos = true;
  EXPECT_EQ(encode(chat(), request).at("ignore_eos"), json::value(true));
  EXPECT_EQ(encode(completions(), request).at("ignore_eos"), json::value(true));
}

TEST(OpenAiEncode, ExtraBodyIsMergedLastButCannotBreakTheStream) {
  const json::object extra{
      {"temperature", 0.0},
      {"max_tokens", 99},
      {"top_k", 1},
      {"chat_template_kwargs", json::object{{"enable_thinking", false}}},
      // Config rejects these; the encoder must not let them through either.
      {"stream", false},
      {"model", "other"},
      {"prompt", "other"},
      {"messages", json::array{}},
  };
  ProbeRequest request;
  request.model = "m";
  request.prompt = "p";
  request.max_tokens = 16;
  request.extra_body = &extra;
  for (const ApiAdapter* adapter : {&chat(), &completions()}) {
    const json::object body = encode(*adapter, request);
    EXPECT_EQ(body.at("temperature"), json::value(0.0));
    EXPECT_EQ(body.at("max_tokens"), json::value(99));
    EXPECT_EQ(body.at("top_k"), json::value(1));
    EXPECT_EQ(body.at("chat_template_kwargs"),
              json::value(json::object{{"enable_thinking", false}}));
    EXPECT_EQ(body.at("stream"), json::value(true));
    EXPECT_EQ(body.at("model"), json::value("m"));
  }
  EXPECT_EQ(encode(completions(), request).at("prompt"), json::value("p"));
  EXPECT_FALSE(encode(completions(), request).contains("messages"));
  EXPECT_EQ(encode(chat(), request).at("messages").as_array().size(), 1u);
  EXPECT_FALSE(encode(chat(), request).contains("prompt"));
}

}  // namespace
}  // namespace llmprobe
