// The non-OpenAI flavors (TGI, Triton/TensorRT-LLM, MindIE native and chat, Ollama chat and
// generate): real streams, byte for byte as the servers write them (testdata/streams), run
// through the real StreamRecorder whole, split at every byte offset and one event per read, and
// checked down to the measurement; then the request each flavor sends, its path, and the error
// and malformed shapes.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/measurement.hpp"
#include "llmprobe/stream_recorder.hpp"

namespace llmprobe {
namespace {

namespace json = boost::json;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

const TimePoint kStart = TimePoint{} + std::chrono::hours(1);
// Each piece of a stream is read 10 ms after the previous one.
constexpr Duration kReadGap = milliseconds(10);

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(LLMPROBE_TESTDATA_DIR) + "/streams/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct RecorderRun {
  StreamRecorder::State state = StreamRecorder::State::streaming;
  StreamRecord record;
};

// Feeds `pieces` to a recorder, piece i read at kStart + (i + 1) * kReadGap, then ends the body
// (unless the stream already finished or failed).
RecorderRun feed(ApiFlavor flavor, const std::vector<std::string_view>& pieces,
                 bool message_complete) {
  RecorderRun run;
  run.record.scheduled_start = kStart;
  run.record.begin = kStart;
  run.record.start = kStart;
  run.record.http_status = 200;
  StreamRecorder recorder(adapter_for(flavor), run.record);
  TimePoint at = kStart;
  for (std::string_view piece : pieces) {
    at += kReadGap;
    run.state = recorder.on_body_bytes(piece, at);
  }
  run.state = recorder.on_end_of_body(message_complete);
  return run;
}

RecorderRun feed_whole(ApiFlavor flavor, std::string_view bytes, bool message_complete = true) {
  return feed(flavor, {bytes}, message_complete);
}

// One piece per event: SSE events end in a blank line, NDJSON lines in a newline.
std::vector<std::string_view> events_of(ApiFlavor flavor, std::string_view bytes) {
  const std::string_view end = adapter_for(flavor).framing() == Framing::sse ? "\n\n" : "\n";
  std::vector<std::string_view> pieces;
  while (!bytes.empty()) {
    std::size_t cut = bytes.find(end);
    cut = cut == std::string_view::npos ? bytes.size() : cut + end.size();
    pieces.push_back(bytes.substr(0, cut));
    bytes.remove_prefix(cut);
  }
  return pieces;
}

void expect_timings(const ServerTimings& actual, const ServerTimings& expected) {
  EXPECT_EQ(actual.queue, expected.queue);
  EXPECT_EQ(actual.prefill, expected.prefill);
  EXPECT_EQ(actual.decode, expected.decode);
  EXPECT_EQ(actual.total, expected.total);
}

void expect_usage(const std::optional<Usage>& usage, std::optional<Usage> expected) {
  ASSERT_EQ(usage.has_value(), expected.has_value());
  if (expected) {
    EXPECT_EQ(usage->prompt_tokens, expected->prompt_tokens);
    EXPECT_EQ(usage->completion_tokens, expected->completion_tokens);
  }
}

struct Expected {
  std::size_t content_events = 0;
  std::optional<Usage> usage;
  bool saw_finish = false;
  bool saw_done = false;
  ServerTimings timings;
};

// Everything but the content times must not depend on how the bytes were cut.
void expect_run(const RecorderRun& run, const Expected& expected, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(run.state, StreamRecorder::State::finished) << run.record.error_detail;
  EXPECT_FALSE(run.record.error.has_value()) << run.record.error_detail;
  EXPECT_EQ(run.record.content_times.size(), expected.content_events);
  expect_usage(run.record.usage, expected.usage);
  EXPECT_EQ(run.record.saw_finish, expected.saw_finish);
  EXPECT_EQ(run.record.saw_done, expected.saw_done);
  expect_timings(run.record.server_timings, expected.timings);
}

// The fixture whole, split in two at every byte offset, and one byte per read.
void expect_every_split(ApiFlavor flavor, const std::string& bytes, const Expected& expected) {
  expect_run(feed_whole(flavor, bytes), expected, "whole");
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    const std::string_view view(bytes);
    expect_run(feed(flavor, {view.substr(0, cut), view.substr(cut)}, true), expected,
               "split at " + std::to_string(cut));
    if (::testing::Test::HasFailure())
      return;  // one broken offset is enough to read
  }
  std::vector<std::string_view> bytewise;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytewise.push_back(std::string_view(bytes).substr(i, 1));
  expect_run(feed(flavor, bytewise, true), expected, "byte by byte");
}

ServerTimings timings(std::optional<Duration> queue, std::optional<Duration> prefill,
                      std::optional<Duration> decode, std::optional<Duration> total) {
  ServerTimings t;
  t.queue = queue;
  t.prefill = prefill;
  t.decode = decode;
  t.total = total;
  return t;
}

// ---- names ----

TEST(FlavorNames, EveryNameRoundTrips) {
  const std::vector<std::string_view> names = api_flavor_names();
  const std::vector<std::string_view> expected = {
      "openai-completions", "openai-chat", "tgi", "triton", "mindie", "mindie-chat", "ollama",
      "ollama-generate"};
  EXPECT_EQ(names, expected);
  for (std::string_view name : names) {
    const std::optional<ApiFlavor> flavor = parse_api_flavor(name);
    ASSERT_TRUE(flavor.has_value()) << name;
    EXPECT_EQ(to_string(*flavor), name);
  }
  for (ApiFlavor flavor :
       {ApiFlavor::openai_completions, ApiFlavor::openai_chat, ApiFlavor::tgi, ApiFlavor::triton,
        ApiFlavor::mindie, ApiFlavor::mindie_chat, ApiFlavor::ollama, ApiFlavor::ollama_generate}) {
    EXPECT_EQ(parse_api_flavor(to_string(flavor)), flavor);
  }
  EXPECT_FALSE(parse_api_flavor("TGI").has_value());
  EXPECT_FALSE(parse_api_flavor("ollama_generate").has_value());
  EXPECT_FALSE(parse_api_flavor("").has_value());
}

TEST(FlavorNames, FramingAndEndMarkers) {
  EXPECT_EQ(adapter_for(ApiFlavor::ollama).framing(), Framing::ndjson);
  EXPECT_EQ(adapter_for(ApiFlavor::ollama_generate).framing(), Framing::ndjson);
  for (ApiFlavor flavor :
       {ApiFlavor::tgi, ApiFlavor::triton, ApiFlavor::mindie, ApiFlavor::mindie_chat}) {
    EXPECT_EQ(adapter_for(flavor).framing(), Framing::sse) << to_string(flavor);
  }
  EXPECT_FALSE(adapter_for(ApiFlavor::triton).marks_end());
  for (ApiFlavor flavor : {ApiFlavor::tgi, ApiFlavor::mindie, ApiFlavor::mindie_chat,
                           ApiFlavor::ollama, ApiFlavor::ollama_generate}) {
    EXPECT_TRUE(adapter_for(flavor).marks_end()) << to_string(flavor);
  }
}

// ---- fixtures through the recorder ----

TEST(FlavorFixtures, TgiSpecialEosTokenIsNotContent) {
  const std::string bytes = read_fixture("tgi_generate_stream.txt");
  expect_every_split(ApiFlavor::tgi, bytes, {4, Usage{7, 5}, true, false, {}});

  const RecorderRun run = feed(ApiFlavor::tgi, events_of(ApiFlavor::tgi, bytes), true);
  ASSERT_EQ(run.state, StreamRecorder::State::finished);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));
  EXPECT_EQ(m.e2e, milliseconds(40));  // the EOS event at 50 ms is not content
  EXPECT_EQ(m.itl, (std::vector<Duration>{milliseconds(10), milliseconds(10), milliseconds(10)}));
  EXPECT_EQ(m.output_tokens, 5u);  // details.generated_tokens, EOS included
  EXPECT_FALSE(m.output_tokens_estimated);
  EXPECT_EQ(m.input_tokens, 7u);
  EXPECT_EQ(m.tpot, microseconds(7500));
  EXPECT_TRUE(m.server_timings.empty());
}

TEST(FlavorFixtures, MindieInferTimingsAndNullTextLastToken) {
  const std::string bytes = read_fixture("mindie_infer_stream.txt");
  // decode = 128.32 + 18.17 + 3 * 16.80 ms, summed over the events.
  expect_every_split(
      ApiFlavor::mindie, bytes,
      {6, Usage{0, 6}, true, false,
       timings(std::nullopt, nanoseconds(45'540'000), nanoseconds(196'890'000), std::nullopt)});

  const RecorderRun run = feed(ApiFlavor::mindie, events_of(ApiFlavor::mindie, bytes), true);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));
  EXPECT_EQ(m.e2e, milliseconds(60));
  EXPECT_EQ(m.itl.size(), 5u);
  EXPECT_EQ(m.output_tokens, 6u);
  EXPECT_FALSE(m.output_tokens_estimated);
  EXPECT_FALSE(m.input_tokens.has_value());  // /infer reports no prompt length
  EXPECT_EQ(m.tpot, milliseconds(10));
  EXPECT_EQ(m.server_timings.prefill, nanoseconds(45'540'000));
}

TEST(FlavorFixtures, TritonTensorRtLlmEstimatesTokensAndEndsWithTheMessage) {
  const std::string bytes = read_fixture("triton_trtllm_generate_stream.txt");
  expect_every_split(ApiFlavor::triton, bytes, {4, std::nullopt, false, false, {}});

  const RecorderRun run = feed(ApiFlavor::triton, events_of(ApiFlavor::triton, bytes), true);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));
  EXPECT_EQ(m.e2e, milliseconds(40));
  EXPECT_EQ(m.output_tokens, 4u);
  EXPECT_TRUE(m.output_tokens_estimated);
  EXPECT_EQ(m.tpot, milliseconds(10));
}

TEST(FlavorFixtures, TritonCompletesOnlyWhenTheHttpMessageDoes) {
  const std::string bytes = read_fixture("triton_trtllm_generate_stream.txt");
  const RecorderRun cut = feed_whole(ApiFlavor::triton, bytes, /*message_complete=*/false);
  EXPECT_EQ(cut.state, StreamRecorder::State::failed);
  EXPECT_EQ(cut.record.error, ErrorReason::truncated);
  EXPECT_EQ(measure(cut.record).error, ErrorReason::truncated);

  const RecorderRun complete = feed_whole(ApiFlavor::triton, bytes, /*message_complete=*/true);
  EXPECT_EQ(complete.state, StreamRecorder::State::finished);

  // A complete message without any content is not an answer.
  const RecorderRun empty = feed_whole(ApiFlavor::triton, "data: {\"text_output\":\"\"}\n\n", true);
  EXPECT_EQ(empty.state, StreamRecorder::State::failed);
}

TEST(FlavorFixtures, TritonOnMindieReadsTimingsUsageAndFinish) {
  const std::string bytes = read_fixture("triton_mindie_generate_stream.txt");
  // queue: the first event's queue_wait_time (5082 us); decode: 9 + 8 + 7 + 7 ms.
  expect_every_split(
      ApiFlavor::triton, bytes,
      {5, Usage{0, 5}, true, false,
       timings(microseconds(5082), milliseconds(28), milliseconds(31), std::nullopt)});
  // finish_reason makes even a cut connection a complete stream.
  const RecorderRun cut = feed_whole(ApiFlavor::triton, bytes, false);
  EXPECT_EQ(cut.state, StreamRecorder::State::finished);
  const Measurement m = measure(cut.record);
  EXPECT_EQ(m.output_tokens, 5u);
  EXPECT_FALSE(m.output_tokens_estimated);
}

TEST(FlavorFixtures, MindieChatUsageOnLastChoiceWithTimings) {
  const std::string bytes = read_fixture("mindie_chat_timings.txt");
  expect_every_split(
      ApiFlavor::mindie_chat, bytes,
      {4, Usage{9, 4}, true, true,
       timings(std::nullopt, nanoseconds(52'300'000), nanoseconds(33'500'000), std::nullopt)});
  const RecorderRun run =
      feed(ApiFlavor::mindie_chat, events_of(ApiFlavor::mindie_chat, bytes), false);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));
  EXPECT_EQ(m.e2e, milliseconds(40));
  EXPECT_EQ(m.output_tokens, 4u);
  EXPECT_EQ(m.input_tokens, 9u);
  EXPECT_EQ(m.tpot, milliseconds(10));
}

TEST(FlavorFixtures, MindieChatDecodesLikeOpenAiChat) {
  // The OpenAI-chat fixture MindIE writes decodes the same through either adapter.
  const std::string bytes = read_fixture("mindie_chat_usage_last_choice.txt");
  const RecorderRun chat = feed_whole(ApiFlavor::openai_chat, bytes);
  const RecorderRun mindie = feed_whole(ApiFlavor::mindie_chat, bytes);
  EXPECT_EQ(mindie.state, StreamRecorder::State::finished);
  EXPECT_EQ(mindie.record.content_times.size(), chat.record.content_times.size());
  expect_usage(mindie.record.usage, chat.record.usage);
  EXPECT_TRUE(mindie.record.server_timings.empty());
}

TEST(FlavorFixtures, OllamaChatThinkingIsContentAndDurationsAreExact) {
  const std::string bytes = read_fixture("ollama_chat.txt");
  expect_every_split(ApiFlavor::ollama, bytes,
                     {4, Usage{11, 4}, true, false,
                      timings(std::nullopt, nanoseconds(45678901), nanoseconds(701234567),
                              nanoseconds(812345678))});
  const RecorderRun run = feed(ApiFlavor::ollama, events_of(ApiFlavor::ollama, bytes), true);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));  // the first thinking line
  EXPECT_EQ(m.e2e, milliseconds(40));   // the done line carries no text
  EXPECT_EQ(m.output_tokens, 4u);
  EXPECT_EQ(m.input_tokens, 11u);
  EXPECT_EQ(m.tpot, milliseconds(10));
  EXPECT_EQ(m.server_timings.total, nanoseconds(812345678));
  EXPECT_FALSE(m.server_timings.queue.has_value());  // load_duration is not exported
}

TEST(FlavorFixtures, OllamaGenerate) {
  const std::string bytes = read_fixture("ollama_generate.txt");
  expect_every_split(ApiFlavor::ollama_generate, bytes,
                     {4, Usage{26, 4}, true, false,
                      timings(std::nullopt, nanoseconds(325953000), nanoseconds(4709213000),
                              nanoseconds(5043500667))});
  const RecorderRun run =
      feed(ApiFlavor::ollama_generate, events_of(ApiFlavor::ollama_generate, bytes), true);
  const Measurement m = measure(run.record);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.ttft, milliseconds(10));
  EXPECT_EQ(m.e2e, milliseconds(40));
  EXPECT_EQ(m.output_tokens, 4u);
  EXPECT_EQ(m.input_tokens, 26u);
}

TEST(FlavorFixtures, OllamaCrlfLinesDecodeAlike) {
  std::string bytes = read_fixture("ollama_generate.txt");
  std::string crlf;
  for (char c : bytes) {
    if (c == '\n')
      crlf += '\r';
    crlf += c;
  }
  const RecorderRun run = feed_whole(ApiFlavor::ollama_generate, crlf);
  EXPECT_EQ(run.state, StreamRecorder::State::finished);
  EXPECT_EQ(run.record.content_times.size(), 4u);
}

TEST(FlavorFixtures, StreamsCutBeforeTheirEndAreTruncated) {
  // Drop the last event of each stream whose flavor marks its end: even a properly ended HTTP
  // message is then truncated.
  const struct {
    ApiFlavor flavor;
    const char* fixture;
  } cases[] = {{ApiFlavor::tgi, "tgi_generate_stream.txt"},
               {ApiFlavor::mindie, "mindie_infer_stream.txt"},
               {ApiFlavor::ollama, "ollama_chat.txt"},
               {ApiFlavor::ollama_generate, "ollama_generate.txt"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fixture);
    const std::string bytes = read_fixture(c.fixture);
    std::vector<std::string_view> pieces = events_of(c.flavor, bytes);
    pieces.pop_back();
    const RecorderRun run = feed(c.flavor, pieces, true);
    EXPECT_EQ(run.state, StreamRecorder::State::failed);
    EXPECT_EQ(run.record.error, ErrorReason::truncated);
  }
  // An NDJSON last line without its newline is a cut line, not a complete one.
  const std::string bytes = read_fixture("ollama_generate.txt");
  const RecorderRun run = feed_whole(ApiFlavor::ollama_generate,
                                     std::string_view(bytes).substr(0, bytes.size() - 1), true);
  EXPECT_EQ(run.record.error, ErrorReason::truncated);
}

// ---- errors in the stream ----

TEST(FlavorErrors, ErrorEventsFailTheProbeWithTheServerMessage) {
  const struct {
    ApiFlavor flavor;
    std::string bytes;
    std::string message;
  } cases[] = {
      {ApiFlavor::tgi,
       "data:{\"index\":1,\"token\":{\"id\":1,\"text\":\" a\",\"logprob\":-1,\"special\":false},"
       "\"generated_text\":null,\"details\":null}\n\n"
       "data:{\"error\":\"Request failed during generation: Server error: CUDA out of memory\","
       "\"error_type\":\"generation\"}\n\n",
       "Request failed during generation: Server error: CUDA out of memory"},
      {ApiFlavor::mindie,
       "data: {\"error\":\"Input validation error\",\"error_type\":\"validation\"}\n\n",
       "Input validation error"},
      {ApiFlavor::triton,
       "data: {\"error\":\"in ensemble 'ensemble', Executor failed process requestId 3\"}\n\n",
       "in ensemble 'ensemble', Executor failed process requestId 3"},
      {ApiFlavor::mindie_chat,
       "data:{\"error\":{\"message\":\"Engine is busy\",\"type\":\"server_error\"}}\n\n",
       "Engine is busy"},
      {ApiFlavor::ollama,
       "{\"model\":\"m\",\"created_at\":\"t\",\"message\":{\"role\":\"assistant\",\"content\":"
       "\"a\"},"
       "\"done\":false}\n{\"error\":\"model runner has unexpectedly stopped\"}\n",
       "model runner has unexpectedly stopped"},
      {ApiFlavor::ollama_generate, "{\"error\":\"model 'nope' not found\"}\n",
       "model 'nope' not found"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.flavor));
    const RecorderRun run = feed_whole(c.flavor, c.bytes);
    EXPECT_EQ(run.state, StreamRecorder::State::failed);
    EXPECT_EQ(run.record.error, ErrorReason::server_error);
    EXPECT_NE(run.record.error_detail.find(c.message), std::string::npos)
        << run.record.error_detail;
  }
}

TEST(FlavorErrors, MalformedEventsFailAsProtocolWithBoundedMessages) {
  const struct {
    ApiFlavor flavor;
    std::string data;
    std::string reason;  // part of the message
  } cases[] = {
      {ApiFlavor::tgi, "{\"token\":", "not JSON"},
      {ApiFlavor::tgi, "[1,2]", "not an object"},
      {ApiFlavor::tgi, "{\"token\":\"x\"}", "\"token\" is not an object"},
      {ApiFlavor::tgi, "{\"token\":{\"id\":1,\"text\":5}}", "\"token.text\" is not a string"},
      {ApiFlavor::tgi, "{\"token\":{\"text\":\"a\",\"special\":\"no\"}}", "\"token.special\""},
      {ApiFlavor::tgi, "{\"token\":null,\"details\":[]}", "\"details\" is not an object"},
      {ApiFlavor::tgi, "{\"generated_text\":7}", "\"generated_text\""},
      {ApiFlavor::mindie, "{\"prefill_time\":1,\"token\":[]}", "\"token\" is not an object"},
      {ApiFlavor::triton, "{\"text_output\":[\"a\"]}", "\"text_output\" is not a string"},
      {ApiFlavor::triton, "{\"text_output\":\"a\",\"details\":1}", "\"details\""},
      {ApiFlavor::triton, "not json at all", "not JSON"},
      {ApiFlavor::mindie_chat, "{\"choices\":{}}", "\"choices\" is not an array"},
      {ApiFlavor::ollama, "{\"message\":\"hi\",\"done\":false}", "\"message\" is not an object"},
      {ApiFlavor::ollama, "{\"message\":{\"content\":1},\"done\":false}",
       "\"message.content\" is not a string"},
      {ApiFlavor::ollama, "{\"message\":{\"tool_calls\":{}},\"done\":false}",
       "\"message.tool_calls\" is not an array"},
      {ApiFlavor::ollama, "{\"message\":{\"content\":\"a\"},\"done\":\"false\"}",
       "\"done\" is not a boolean"},
      {ApiFlavor::ollama_generate, "{\"response\":null,\"thinking\":3}",
       "\"thinking\" is not a string"},
      {ApiFlavor::ollama_generate, "\"just a string\"", "not an object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.flavor)) + ": " + c.data);
    const DecodedEvent event = adapter_for(c.flavor).decode_event(c.data);
    EXPECT_EQ(event.kind, EventKind::malformed);
    EXPECT_NE(event.error_message.find(c.reason), std::string::npos) << event.error_message;
    EXPECT_LE(event.error_message.size(), 256u);
  }
  // Through the recorder: protocol.
  const RecorderRun run = feed_whole(ApiFlavor::ollama, "{\"done\":false,\n");
  EXPECT_EQ(run.record.error, ErrorReason::protocol);
}

TEST(FlavorErrors, LongErrorMessagesAreBoundedWithoutSplittingUtf8) {
  std::string message;
  for (int i = 0; i < 200; ++i)
    message += "é";  // two bytes each
  for (ApiFlavor flavor : {ApiFlavor::tgi, ApiFlavor::triton, ApiFlavor::mindie, ApiFlavor::ollama,
                           ApiFlavor::ollama_generate}) {
    const DecodedEvent event = adapter_for(flavor).decode_event("{\"error\":\"" + message + "\"}");
    EXPECT_EQ(event.kind, EventKind::error) << to_string(flavor);
    EXPECT_EQ(event.error_message.size(), 256u);
    EXPECT_EQ(event.error_message, message.substr(0, 256));
  }
}

// ---- single events ----

TEST(FlavorDecode, TgiContentRules) {
  const ApiAdapter& tgi = adapter_for(ApiFlavor::tgi);
  EXPECT_EQ(tgi.decode_event(R"({"token":{"id":1,"text":" a","special":false}})").kind,
            EventKind::content);
  EXPECT_EQ(tgi.decode_event(R"({"token":{"id":1,"text":"","special":false}})").kind,
            EventKind::other);
  EXPECT_EQ(tgi.decode_event(R"({"token":{"id":2,"text":"</s>","special":true}})").kind,
            EventKind::other);
  // A token whose text is null (MindIE's last token) counts when it has an id.
  EXPECT_EQ(tgi.decode_event(R"({"token":{"id":[7],"text":null}})").kind, EventKind::content);
  EXPECT_EQ(tgi.decode_event(R"({"token":{"id":[],"text":null}})").kind, EventKind::other);
  EXPECT_EQ(tgi.decode_event(R"({"token":{"text":null}})").kind, EventKind::other);
  EXPECT_EQ(tgi.decode_event(R"({"token":null,"details":null})").kind, EventKind::other);

  // generated_text alone marks the end (details not asked for or not sent): no usage then.
  const DecodedEvent last = tgi.decode_event(
      R"({"token":{"id":3,"text":"!","special":false},"generated_text":"Hi!","details":null})");
  EXPECT_EQ(last.kind, EventKind::content);
  EXPECT_TRUE(last.finished);
  EXPECT_FALSE(last.usage.has_value());

  // details without input_length (older TGI): prompt tokens 0; without generated_tokens: no usage.
  const DecodedEvent old = tgi.decode_event(
      R"({"token":{"id":3,"text":"!"},"details":{"finish_reason":"length","generated_tokens":3}})");
  ASSERT_TRUE(old.usage.has_value());
  EXPECT_EQ(old.usage->prompt_tokens, 0u);
  EXPECT_EQ(old.usage->completion_tokens, 3u);
  EXPECT_TRUE(old.finished);
  const DecodedEvent odd = tgi.decode_event(R"({"details":{"generated_tokens":-1}})");
  EXPECT_TRUE(odd.finished);
  EXPECT_FALSE(odd.usage.has_value());
}

TEST(FlavorDecode, MindieTimesAcceptIntegersFloatsAndNull) {
  const ApiAdapter& mindie = adapter_for(ApiFlavor::mindie);
  DecodedEvent event = mindie.decode_event(
      R"({"prefill_time":470,"decode_time":null,"token":{"id":4571,"text":"'m"}})");
  EXPECT_EQ(event.kind, EventKind::content);
  EXPECT_EQ(event.timings.prefill, milliseconds(470));
  EXPECT_FALSE(event.timings.decode.has_value());
  event =
      mindie.decode_event(R"({"prefill_time":null,"decode_time":0.5,"token":{"id":1,"text":"a"}})");
  EXPECT_EQ(event.timings.decode, microseconds(500));
  // Nonsense times are ignored, not fatal.
  event =
      mindie.decode_event(R"({"prefill_time":-3,"decode_time":"9","token":{"id":1,"text":"a"}})");
  EXPECT_EQ(event.kind, EventKind::content);
  EXPECT_TRUE(event.timings.empty());
}

TEST(FlavorDecode, TritonShapes) {
  const ApiAdapter& triton = adapter_for(ApiFlavor::triton);
  EXPECT_EQ(triton.decode_event(R"({"text_output":" x"})").kind, EventKind::content);
  EXPECT_EQ(triton.decode_event(R"({"text_output":""})").kind, EventKind::other);
  EXPECT_EQ(triton.decode_event(R"({"model_name":"ensemble"})").kind, EventKind::other);
  EXPECT_EQ(triton.decode_event(R"({"text_output":null})").kind, EventKind::other);
  // queue_wait_time counts only on the first token's event (the one with prefill_time).
  const DecodedEvent later = triton.decode_event(
      R"({"text_output":"a","details":{"generated_tokens":2,"queue_wait_time":36},"decode_time":9})");
  EXPECT_FALSE(later.timings.queue.has_value());
  EXPECT_EQ(later.timings.decode, milliseconds(9));
  EXPECT_FALSE(later.finished);
  ASSERT_TRUE(later.usage.has_value());
  EXPECT_EQ(later.usage->completion_tokens, 2u);
}

TEST(FlavorDecode, OllamaShapes) {
  const ApiAdapter& chat = adapter_for(ApiFlavor::ollama);
  const ApiAdapter& generate = adapter_for(ApiFlavor::ollama_generate);
  EXPECT_EQ(chat.decode_event(R"({"message":{"role":"assistant","content":""},"done":false})").kind,
            EventKind::other);
  EXPECT_EQ(
      chat.decode_event(
              R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":false})")
          .kind,
      EventKind::content);
  EXPECT_EQ(
      chat.decode_event(R"({"message":{"role":"assistant","tool_calls":[]},"done":false})").kind,
      EventKind::other);
  EXPECT_EQ(generate.decode_event(R"({"response":"","thinking":"hmm","done":false})").kind,
            EventKind::content);
  EXPECT_EQ(generate.decode_event(R"({"response":"","done":false})").kind, EventKind::other);
  // The last line may carry the last text too.
  const DecodedEvent last = generate.decode_event(
      R"({"response":".","done":true,"done_reason":"stop","eval_count":3,"eval_duration":30})");
  EXPECT_EQ(last.kind, EventKind::content);
  EXPECT_TRUE(last.finished);
  ASSERT_TRUE(last.usage.has_value());
  EXPECT_EQ(last.usage->prompt_tokens, 0u);  // prompt_eval_count absent (fully cached prompt)
  EXPECT_EQ(last.usage->completion_tokens, 3u);
  EXPECT_EQ(last.timings.decode, nanoseconds(30));
  EXPECT_FALSE(last.timings.prefill.has_value());
  // Counts and durations on a line that is not done are not read.
  const DecodedEvent early =
      generate.decode_event(R"({"response":"a","done":false,"eval_count":1})");
  EXPECT_FALSE(early.usage.has_value());
  EXPECT_FALSE(early.finished);
}

// ---- requests ----

ProbeRequest request(std::string model = "m") {
  ProbeRequest r;
  r.model = std::move(model);
  r.prompt = "Say \"hi\"";
  r.max_tokens = 32;
  return r;
}

TEST(FlavorRequest, Paths) {
  EXPECT_EQ(adapter_for(ApiFlavor::tgi).path(request()), "/generate_stream");
  EXPECT_EQ(adapter_for(ApiFlavor::mindie).path(request()), "/infer");
  EXPECT_EQ(adapter_for(ApiFlavor::mindie_chat).path(request()), "/v1/chat/completions");
  EXPECT_EQ(adapter_for(ApiFlavor::ollama).path(request()), "/api/chat");
  EXPECT_EQ(adapter_for(ApiFlavor::ollama_generate).path(request()), "/api/generate");
  EXPECT_EQ(adapter_for(ApiFlavor::triton).path(request("ensemble")),
            "/v2/models/ensemble/generate_stream");
  EXPECT_EQ(adapter_for(ApiFlavor::triton).path(request("meta/llama 3.1:8b?v=1#x%")),
            "/v2/models/meta%2Fllama%203.1%3A8b%3Fv%3D1%23x%25/generate_stream");
  EXPECT_EQ(adapter_for(ApiFlavor::triton).path(request("Qwen2.5-7B_v1~a")),
            "/v2/models/Qwen2.5-7B_v1~a/generate_stream");
}

TEST(FlavorRequest, ExactBodies) {
  ProbeRequest r = request("qwen");
  EXPECT_EQ(adapter_for(ApiFlavor::tgi).encode_request(r),
            R"({"inputs":"Say \"hi\"","parameters":{"max_new_tokens":32,"details":true}})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::mindie).encode_request(r),
      R"({"inputs":"Say \"hi\"","stream":true,"parameters":{"max_new_tokens":32,"details":true}})");
  EXPECT_EQ(adapter_for(ApiFlavor::triton).encode_request(r),
            R"({"text_input":"Say \"hi\"","max_tokens":32,"stream":true})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::mindie_chat).encode_request(r),
      R"({"model":"qwen","messages":[{"role":"user","content":"Say \"hi\""}],"max_tokens":32,"stream":true})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::ollama).encode_request(r),
      R"({"model":"qwen","messages":[{"role":"user","content":"Say \"hi\""}],"stream":true,"options":{"num_predict":32}})");
  EXPECT_EQ(adapter_for(ApiFlavor::ollama_generate).encode_request(r),
            R"({"model":"qwen","prompt":"Say \"hi\"","stream":true,"options":{"num_predict":32}})");
}

TEST(FlavorRequest, IgnoreEosWhereTheServerHasIt) {
  ProbeRequest r = request("qwen");
  r.ignore_eos = true;
  EXPECT_EQ(
      adapter_for(ApiFlavor::mindie).encode_request(r),
      R"({"inputs":"Say \"hi\"","stream":true,"parameters":{"max_new_tokens":32,"details":true,"ignore_eos":true}})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::mindie_chat).encode_request(r),
      R"({"model":"qwen","messages":[{"role":"user","content":"Say \"hi\""}],"max_tokens":32,"stream":true,"ignore_eos":true})");
  // TGI, TensorRT-LLM's ensemble and Ollama have no such parameter: nothing is sent.
  for (ApiFlavor flavor :
       {ApiFlavor::tgi, ApiFlavor::triton, ApiFlavor::ollama, ApiFlavor::ollama_generate}) {
    EXPECT_EQ(adapter_for(flavor).encode_request(r).find("ignore_eos"), std::string::npos)
        << to_string(flavor);
  }
}

TEST(FlavorRequest, ExtraBodyMergesIntoParametersAndOptions) {
  const json::object extra = json::parse(R"({
      "parameters": {"temperature": 0, "max_new_tokens": 8},
      "options": {"temperature": 0, "num_ctx": 4096},
      "inputs": "hijack", "text_input": "hijack", "stream": false, "prompt": "hijack",
      "keep_alive": "5m", "top_k": 1})")
                                 .as_object();
  ProbeRequest r = request("qwen");
  r.extra_body = &extra;
  EXPECT_EQ(
      adapter_for(ApiFlavor::tgi).encode_request(r),
      R"({"inputs":"Say \"hi\"","parameters":{"max_new_tokens":8,"details":true,"temperature":0},"options":{"temperature":0,"num_ctx":4096},"text_input":"hijack","prompt":"hijack","keep_alive":"5m","top_k":1})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::triton).encode_request(r),
      R"({"text_input":"Say \"hi\"","max_tokens":32,"stream":true,"parameters":{"temperature":0,"max_new_tokens":8},"options":{"temperature":0,"num_ctx":4096},"inputs":"hijack","prompt":"hijack","keep_alive":"5m","top_k":1})");
  EXPECT_EQ(
      adapter_for(ApiFlavor::ollama_generate).encode_request(r),
      R"({"model":"qwen","prompt":"Say \"hi\"","stream":true,"options":{"num_predict":32,"temperature":0,"num_ctx":4096},"parameters":{"temperature":0,"max_new_tokens":8},"inputs":"hijack","text_input":"hijack","keep_alive":"5m","top_k":1})");
  // A non-object "parameters" replaces the key like any other extra key.
  const json::object scalar = json::parse(R"({"parameters": 1})").as_object();
  r.extra_body = &scalar;
  EXPECT_EQ(adapter_for(ApiFlavor::mindie).encode_request(r),
            R"({"inputs":"Say \"hi\"","stream":true,"parameters":1})");
}

}  // namespace
}  // namespace llmprobe
