// Measurement math on hand-worked cases (REFERENCE.md §1), and the stream recorder's
// timestamping: an event is stamped with the read that completed it.
#include "llmprobe/measurement.hpp"

#include <gtest/gtest.h>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/stream_recorder.hpp"

namespace llmprobe {
namespace {

using std::chrono::milliseconds;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

TimePoint at_ms(int ms) {
  return kT0 + milliseconds(ms);
}

StreamRecord record_with(std::vector<int> content_ms, std::optional<Usage> usage) {
  StreamRecord r;
  r.scheduled_start = at_ms(-3);
  r.begin = at_ms(-1);
  r.start = at_ms(0);
  for (int ms : content_ms)
    r.content_times.push_back(at_ms(ms));
  r.usage = usage;
  r.saw_done = true;
  return r;
}

TEST(Measurement, MultiTokenEventsGiveOneGapEachAndTpotUsesUsageTokens) {
  // Three events carrying 6 tokens (2 each): gaps 20 ms and 30 ms, TPOT = (150-100)/(6-1).
  const Measurement m = measure(record_with({100, 120, 150}, Usage{40, 6}));
  ASSERT_TRUE(m.success());
  EXPECT_EQ(*m.ttft, milliseconds(100));
  ASSERT_EQ(m.itl.size(), 2u);
  EXPECT_EQ(m.itl[0], milliseconds(20));
  EXPECT_EQ(m.itl[1], milliseconds(30));
  EXPECT_EQ(*m.e2e, milliseconds(150));
  EXPECT_EQ(*m.tpot, milliseconds(10));
  EXPECT_EQ(m.output_tokens, 6u);
  EXPECT_FALSE(m.output_tokens_estimated);
  EXPECT_EQ(*m.input_tokens, 40u);
  EXPECT_EQ(m.lateness, milliseconds(2));  // begin - scheduled
}

TEST(Measurement, MissingUsageCountsContentEventsAndSaysSo) {
  const Measurement m = measure(record_with({50, 60, 70, 80, 90}, std::nullopt));
  ASSERT_TRUE(m.success());
  EXPECT_EQ(m.output_tokens, 5u);
  EXPECT_TRUE(m.output_tokens_estimated);
  EXPECT_FALSE(m.input_tokens.has_value());
  EXPECT_EQ(*m.tpot, milliseconds(10));  // (90-50)/(5-1)
}

TEST(Measurement, SingleTokenHasNoTpotAndNoItl) {
  const Measurement m = measure(record_with({70}, Usage{3, 1}));
  ASSERT_TRUE(m.success());
  EXPECT_EQ(*m.ttft, milliseconds(70));
  EXPECT_EQ(*m.e2e, milliseconds(70));
  EXPECT_TRUE(m.itl.empty());
  EXPECT_FALSE(m.tpot.has_value());
}

TEST(Measurement, ZeroCompletionTokensInUsageFallsBackToCounting) {
  const Measurement m = measure(record_with({10, 20}, Usage{3, 0}));
  EXPECT_EQ(m.output_tokens, 2u);
  EXPECT_TRUE(m.output_tokens_estimated);
}

TEST(Measurement, ErrorKeepsWhatWasSeenButHasNoE2E) {
  StreamRecord r = record_with({100, 120}, std::nullopt);
  r.saw_done = false;
  r.error = ErrorReason::idle_timeout;
  const Measurement m = measure(r);
  EXPECT_EQ(m.error, ErrorReason::idle_timeout);
  EXPECT_EQ(*m.ttft, milliseconds(100));
  EXPECT_EQ(m.itl.size(), 1u);
  EXPECT_FALSE(m.e2e.has_value());
  EXPECT_FALSE(m.tpot.has_value());
}

TEST(Measurement, DoneWithoutContentIsAProtocolError) {
  const Measurement m = measure(record_with({}, Usage{3, 0}));
  EXPECT_EQ(m.error, ErrorReason::protocol);
  EXPECT_FALSE(m.ttft.has_value());
}

TEST(Measurement, NoContentAndNoEndIsTruncated) {
  StreamRecord r = record_with({}, std::nullopt);
  r.saw_done = false;
  EXPECT_EQ(measure(r).error, ErrorReason::truncated);
}

TEST(Measurement, StartBeforeScheduleMeansZeroLateness) {
  StreamRecord r = record_with({10}, std::nullopt);
  r.scheduled_start = at_ms(5);
  EXPECT_EQ(measure(r).lateness, Duration::zero());
}

// --- StreamRecorder: decoding + timestamps ---

std::string chat_chunk(const std::string& delta, const std::string& finish = "null") {
  return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
         "\"choices\":[{\"index\":0,\"delta\":" +
         delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]}\n\n";
}

TEST(StreamRecorder, RoleOnlyFirstChunkIsNotContent) {
  StreamRecord r;
  r.start = at_ms(0);
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  EXPECT_EQ(recorder.on_body_bytes(chat_chunk(R"({"role":"assistant","content":""})"), at_ms(5)),
            StreamRecorder::State::streaming);
  EXPECT_FALSE(recorder.has_content());
  recorder.on_body_bytes(chat_chunk(R"({"content":"Hi"})"), at_ms(100));
  recorder.on_body_bytes(chat_chunk(R"({"content":" there"})"), at_ms(120));
  recorder.on_body_bytes(chat_chunk("{}", "\"length\""), at_ms(121));
  recorder.on_body_bytes(
      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
      "\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"total_tokens\":9,\"completion_tokens\":2}}"
      "\n\n",
      at_ms(122));
  EXPECT_EQ(recorder.on_body_bytes("data: [DONE]\n\n", at_ms(123)),
            StreamRecorder::State::finished);
  const Measurement m = measure(r);
  ASSERT_TRUE(m.success());
  EXPECT_EQ(*m.ttft, milliseconds(100));
  EXPECT_EQ(*m.e2e, milliseconds(120));  // the finish and usage chunks do not extend E2E
  EXPECT_EQ(m.output_tokens, 2u);
  EXPECT_EQ(*m.input_tokens, 7u);
}

TEST(StreamRecorder, EventSplitAcrossReadsIsStampedByTheReadThatCompletesIt) {
  StreamRecord r;
  r.start = at_ms(0);
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  const std::string chunk = chat_chunk(R"({"content":"Hi"})");
  recorder.on_body_bytes(chunk.substr(0, 30), at_ms(40));
  EXPECT_FALSE(recorder.has_content());
  recorder.on_body_bytes(chunk.substr(30), at_ms(55));
  ASSERT_EQ(r.content_times.size(), 1u);
  EXPECT_EQ(r.content_times[0], at_ms(55));
}

TEST(StreamRecorder, TwoEventsInOneReadShareItsTimestamp) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_completions), r);
  const std::string a =
      "data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":null}]}\n\n";
  recorder.on_body_bytes(a + a, at_ms(9));
  ASSERT_EQ(r.content_times.size(), 2u);
  EXPECT_EQ(r.content_times[0], r.content_times[1]);
}

TEST(StreamRecorder, EndWithoutDoneOrFinishIsTruncated) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  recorder.on_body_bytes(chat_chunk(R"({"content":"Hi"})"), at_ms(1));
  EXPECT_EQ(recorder.on_end_of_body(true), StreamRecorder::State::failed);
  EXPECT_EQ(r.error, ErrorReason::truncated);
}

TEST(StreamRecorder, FinishReasonWithoutDoneIsAcceptedAtEndOfBody) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  recorder.on_body_bytes(chat_chunk(R"({"content":"Hi"})", "\"stop\""), at_ms(1));
  EXPECT_EQ(recorder.on_end_of_body(true), StreamRecorder::State::finished);
  EXPECT_FALSE(r.error.has_value());
}

TEST(StreamRecorder, ErrorEventIsServerError) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  recorder.on_body_bytes(chat_chunk(R"({"content":"Hi"})"), at_ms(1));
  EXPECT_EQ(recorder.on_body_bytes(
                "data: {\"error\":{\"message\":\"out of memory\",\"code\":500}}\n\n", at_ms(2)),
            StreamRecorder::State::failed);
  EXPECT_EQ(r.error, ErrorReason::server_error);
  EXPECT_NE(r.error_detail.find("out of memory"), std::string::npos);
  EXPECT_EQ(r.content_times.size(), 1u);
}

TEST(StreamRecorder, MalformedJsonIsProtocol) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r);
  EXPECT_EQ(recorder.on_body_bytes("data: {not json\n\n", at_ms(1)), StreamRecorder::State::failed);
  EXPECT_EQ(r.error, ErrorReason::protocol);
}

TEST(StreamRecorder, OverlongLineIsTooLarge) {
  StreamRecord r;
  StreamRecorder recorder(adapter_for(ApiFlavor::openai_chat), r,
                          SseParser::Limits{/*max_line_bytes=*/1024, /*max_event_bytes=*/4096});
  EXPECT_EQ(recorder.on_body_bytes("data: " + std::string(2000, 'x'), at_ms(1)),
            StreamRecorder::State::failed);
  EXPECT_EQ(r.error, ErrorReason::too_large);
}

}  // namespace
}  // namespace llmprobe
