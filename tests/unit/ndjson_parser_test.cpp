// The NDJSON line splitter (Ollama's framing): lines cut anywhere by the reads must come out
// whole and identical, LF and CRLF alike, blank lines skipped, the line cap enforced wherever the
// line is cut, and a pending partial line reported at the end.
#include "llmprobe/ndjson_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace llmprobe {
namespace {

std::vector<std::string> lines_of(const std::vector<SseEvent>& events) {
  std::vector<std::string> lines;
  for (const SseEvent& event : events) {
    EXPECT_TRUE(event.event.empty());
    lines.push_back(event.data);
  }
  return lines;
}

// Feeds `pieces` in order; every status must be ok.
std::vector<std::string> parse(const std::vector<std::string_view>& pieces,
                               bool* pending_at_end = nullptr) {
  NdjsonParser parser;
  std::vector<SseEvent> events;
  for (std::string_view piece : pieces)
    EXPECT_EQ(parser.feed(piece, events), SseStatus::ok);
  const bool pending = parser.finish();
  if (pending_at_end != nullptr)
    *pending_at_end = pending;
  return lines_of(events);
}

const std::string kStream =
    "{\"response\":\"The\",\"done\":false}\n"
    "\n"
    "{\"response\":\" sky\",\"done\":false}\r\n"
    "   \r\n"
    "  {\"response\":\" é\",\"done\":false}\t\n"
    "\r\n"
    "{\"response\":\"\",\"done\":true,\"eval_count\":3}\n";

const std::vector<std::string> kLines = {
    "{\"response\":\"The\",\"done\":false}",
    "{\"response\":\" sky\",\"done\":false}",
    "{\"response\":\" é\",\"done\":false}",
    "{\"response\":\"\",\"done\":true,\"eval_count\":3}",
};

TEST(NdjsonParser, WholeStreamLfCrlfAndBlankLines) {
  bool pending = true;
  EXPECT_EQ(parse({kStream}, &pending), kLines);
  EXPECT_FALSE(pending);
}

TEST(NdjsonParser, SplitAtEveryByteOffset) {
  const std::string_view view(kStream);
  for (std::size_t cut = 0; cut <= view.size(); ++cut) {
    bool pending = true;
    EXPECT_EQ(parse({view.substr(0, cut), view.substr(cut)}, &pending), kLines) << "cut " << cut;
    EXPECT_FALSE(pending);
  }
}

TEST(NdjsonParser, SplitAtEveryPairOfOffsets) {
  const std::string_view view(kStream);
  for (std::size_t first = 0; first <= view.size(); ++first) {
    for (std::size_t second = first; second <= view.size(); ++second) {
      ASSERT_EQ(
          parse({view.substr(0, first), view.substr(first, second - first), view.substr(second)}),
          kLines)
          << "cuts " << first << ", " << second;
    }
  }
}

TEST(NdjsonParser, ByteByByte) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < kStream.size(); ++i)
    bytes.push_back(std::string_view(kStream).substr(i, 1));
  EXPECT_EQ(parse(bytes), kLines);
}

TEST(NdjsonParser, EventsArriveAsSoonAsTheirNewlineDoes) {
  NdjsonParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("{\"a\":1}", events), SseStatus::ok);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(parser.feed("\r", events), SseStatus::ok);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(parser.feed("\n{\"b\"", events), SseStatus::ok);
  EXPECT_EQ(lines_of(events), std::vector<std::string>{"{\"a\":1}"});
  EXPECT_EQ(parser.feed(":2}\n", events), SseStatus::ok);
  EXPECT_EQ(lines_of(events), (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
}

TEST(NdjsonParser, FinishReportsAndDropsAPartialLine) {
  NdjsonParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("{\"a\":1}\n{\"done\":tr", events), SseStatus::ok);
  EXPECT_TRUE(parser.finish());
  EXPECT_EQ(lines_of(events), std::vector<std::string>{"{\"a\":1}"});
  // The partial line is gone: the parser starts afresh.
  EXPECT_FALSE(parser.finish());
  events.clear();
  EXPECT_EQ(parser.feed("{\"b\":2}\n", events), SseStatus::ok);
  EXPECT_EQ(lines_of(events), std::vector<std::string>{"{\"b\":2}"});
}

TEST(NdjsonParser, FinishIgnoresTrailingBlanks) {
  NdjsonParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("{\"a\":1}\n  \r", events), SseStatus::ok);
  EXPECT_FALSE(parser.finish());
  EXPECT_FALSE(NdjsonParser().finish());
}

TEST(NdjsonParser, LineCapHoldsWhereverTheLineIsCut) {
  constexpr std::size_t kCap = 8;
  // A line of exactly the cap passes, however it is cut.
  const std::string fits = "12345678\n";
  for (std::size_t cut = 0; cut <= fits.size(); ++cut) {
    NdjsonParser parser(kCap);
    std::vector<SseEvent> events;
    EXPECT_EQ(parser.feed(std::string_view(fits).substr(0, cut), events), SseStatus::ok);
    EXPECT_EQ(parser.feed(std::string_view(fits).substr(cut), events), SseStatus::ok);
    EXPECT_EQ(lines_of(events), std::vector<std::string>{"12345678"}) << "cut " << cut;
  }
  // One byte more fails, complete or still pending, wherever it is cut.
  const std::string too_long = "123456789\n";
  for (std::size_t cut = 0; cut <= too_long.size(); ++cut) {
    NdjsonParser parser(kCap);
    std::vector<SseEvent> events;
    SseStatus status = parser.feed(std::string_view(too_long).substr(0, cut), events);
    if (status == SseStatus::ok)
      status = parser.feed(std::string_view(too_long).substr(cut), events);
    EXPECT_EQ(status, SseStatus::line_too_long) << "cut " << cut;
    EXPECT_TRUE(events.empty());
  }
  // The pending part alone is enough to fail: no newline needs to arrive.
  NdjsonParser parser(kCap);
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("12345", events), SseStatus::ok);
  EXPECT_EQ(parser.feed("6789", events), SseStatus::line_too_long);
  // Lines before the long one were still delivered.
  NdjsonParser earlier(kCap);
  events.clear();
  EXPECT_EQ(earlier.feed("{\"a\":1}\n123456789\n", events), SseStatus::line_too_long);
  EXPECT_EQ(lines_of(events), std::vector<std::string>{"{\"a\":1}"});
}

TEST(NdjsonParser, TheCapCountsTheCarriageReturn) {
  NdjsonParser parser(8);
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("12345678\r\n", events), SseStatus::line_too_long);
}

TEST(NdjsonParser, EmptyFeedsAndOnlyBlankLines) {
  NdjsonParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed("", events), SseStatus::ok);
  EXPECT_EQ(parser.feed("\n\r\n \n\t\r\n", events), SseStatus::ok);
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(parser.finish());
}

}  // namespace
}  // namespace llmprobe
