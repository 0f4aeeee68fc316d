// SseParser against raw stream fixtures and the WHATWG event-stream rules. Events do not line up
// with reads, so every fixture is also fed split at every byte offset and one byte at a time:
// the events must not depend on where the reads happened to cut.
#include "llmprobe/sse_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace llmprobe {

bool operator==(const SseEvent& a, const SseEvent& b) {
  return a.data == b.data && a.event == b.event;
}

std::ostream& operator<<(std::ostream& os, const SseEvent& e) {
  return os << "{event=\"" << e.event << "\", data=\"" << e.data << "\"}";
}

namespace {

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(LLMPROBE_TESTDATA_DIR) + "/streams/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Feeds `pieces` in order and finishes; the stream is expected to end cleanly.
std::vector<SseEvent> parse_pieces(const std::vector<std::string_view>& pieces) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (std::string_view piece : pieces) {
    EXPECT_EQ(parser.feed(piece, events), SseStatus::ok);
  }
  EXPECT_FALSE(parser.finish());
  return events;
}

std::vector<SseEvent> parse_whole(std::string_view text) {
  return parse_pieces({text});
}

// Parses without the clean-end expectation, returning whether finish() saw a pending event.
std::vector<SseEvent> parse_text(std::string_view text, bool* pending = nullptr) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.feed(text, events), SseStatus::ok);
  const bool was_pending = parser.finish();
  if (pending != nullptr)
    *pending = was_pending;
  return events;
}

std::vector<std::string> data_of(const std::vector<SseEvent>& events) {
  std::vector<std::string> data;
  for (const SseEvent& event : events)
    data.push_back(event.data);
  return data;
}

struct FixtureCase {
  const char* file;
  std::size_t events;  // counted by hand from the fixture
};

// Names the fixture in failure messages instead of gtest's byte dump.
void PrintTo(const FixtureCase& fixture, std::ostream* os) {
  *os << fixture.file;
}

class SseFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(SseFixtureTest, WholeFeedYieldsEveryEventEndingWithDone) {
  const std::string text = read_fixture(GetParam().file);
  ASSERT_FALSE(text.empty());
  const std::vector<SseEvent> events = parse_whole(text);
  ASSERT_EQ(events.size(), GetParam().events);
  EXPECT_EQ(events.back().data, "[DONE]");
  for (const SseEvent& event : events) {
    EXPECT_FALSE(event.data.empty());
    EXPECT_NE(event.data.back(), '\n') << "the final newline must be stripped";
    EXPECT_EQ(event.data.find('\r'), std::string::npos) << "CR is a line end, never data";
  }
}

TEST_P(SseFixtureTest, EverySplitPointYieldsTheSameEvents) {
  const std::string text = read_fixture(GetParam().file);
  const std::vector<SseEvent> expected = parse_whole(text);
  const std::string_view view(text);
  for (std::size_t cut = 0; cut <= view.size(); ++cut) {
    ASSERT_EQ(parse_pieces({view.substr(0, cut), view.substr(cut)}), expected) << "cut at " << cut;
  }
}

TEST_P(SseFixtureTest, OneByteAtATimeYieldsTheSameEvents) {
  const std::string text = read_fixture(GetParam().file);
  const std::vector<SseEvent> expected = parse_whole(text);
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < text.size(); ++i)
    bytes.push_back(std::string_view(text).substr(i, 1));
  EXPECT_EQ(parse_pieces(bytes), expected);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, SseFixtureTest,
    ::testing::Values(FixtureCase{"vllm_completions.txt", 10}, FixtureCase{"vllm_chat.txt", 11},
                      FixtureCase{"openai_chat_include_usage.txt", 11},
                      FixtureCase{"mindie_chat_usage_last_choice.txt", 7},
                      FixtureCase{"reasoning_chat.txt", 17}, FixtureCase{"tool_calls_chat.txt", 12},
                      FixtureCase{"error_midstream.txt", 6},
                      FixtureCase{"crlf_and_comments.txt", 7}, FixtureCase{"cr_only.txt", 5}),
    [](const ::testing::TestParamInfo<FixtureCase>& info) {
      std::string name = info.param.file;
      name = name.substr(0, name.find('.'));
      return name;
    });

TEST(SseFixture, CrlfFixtureJoinsMultiLineDataAndKeepsEventType) {
  const std::vector<SseEvent> events = parse_whole(read_fixture("crlf_and_comments.txt"));
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].event, "message");
  EXPECT_EQ(events[1].event, "") << "the event type resets after each dispatch";
  const std::string& joined = events[4].data;
  EXPECT_EQ(std::count(joined.begin(), joined.end(), '\n'), 2) << joined;
  EXPECT_NE(joined.find(",\n\"choices\":[{\"index\":0,\n\"delta\":{\"content\":\" it\"}"),
            std::string::npos)
      << joined;
}

TEST(SseLineEnds, LfCrAndCrlfAreEachOneLineEnd) {
  const std::vector<std::string> expected{"a", "b"};
  EXPECT_EQ(data_of(parse_whole("data: a\n\ndata: b\n\n")), expected);
  EXPECT_EQ(data_of(parse_whole("data: a\r\rdata: b\r\r")), expected);
  EXPECT_EQ(data_of(parse_whole("data: a\r\n\r\ndata: b\r\n\r\n")), expected);
  // Mixed within one stream.
  EXPECT_EQ(data_of(parse_whole("data: a\r\n\ndata: b\r\r\n")), expected);
}

TEST(SseLineEnds, CrlfSplitAcrossFeedsIsOneLineEnd) {
  // Were the LF taken as a second line end, "x" and "y" would be two events.
  const std::vector<SseEvent> events = parse_pieces({"data: x\r", "\ndata: y\r", "\n\r", "\n"});
  EXPECT_EQ(data_of(events), std::vector<std::string>{"x\ny"});
}

TEST(SseLineEnds, CrAtFeedEndFollowedByOtherByteIsALineEnd) {
  EXPECT_EQ(data_of(parse_pieces({"data: x\r", "\r"})), std::vector<std::string>{"x"});
  EXPECT_EQ(data_of(parse_pieces({"data: x\r", "data: y\r\r"})), std::vector<std::string>{"x\ny"});
}

TEST(SseFields, CommentLinesAreIgnored) {
  EXPECT_EQ(data_of(parse_whole(": keep-alive\n\n:\ndata: a\n: inside\n\n")),
            std::vector<std::string>{"a"});
}

TEST(SseFields, MultiLineDataIsJoinedWithNewline) {
  EXPECT_EQ(data_of(parse_whole("data: a\ndata: b\ndata:\ndata: c\n\n")),
            std::vector<std::string>{"a\nb\n\nc"});
}

TEST(SseFields, OnlyOneSpaceAfterTheColonIsRemoved) {
  EXPECT_EQ(data_of(parse_whole("data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\n")),
            (std::vector<std::string>{"x", "x", " x", "\tx"}));
}

TEST(SseFields, FieldWithoutColonHasEmptyValue) {
  // "data" alone is a data line with an empty value: the event's data is "".
  const std::vector<SseEvent> events = parse_whole("data\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "");
  EXPECT_EQ(data_of(parse_whole("data\ndata: a\n\n")), std::vector<std::string>{"\na"});
}

TEST(SseFields, UnknownFieldsIdAndRetryAreIgnored) {
  EXPECT_EQ(data_of(parse_whole("id: 7\nretry: 100\nfoo: bar\ndata: a\nDATA: b\n\n")),
            std::vector<std::string>{"a"});
}

TEST(SseFields, EventFieldSetsTypeAndEventWithoutDataIsNotDispatched) {
  const std::vector<SseEvent> events = parse_whole("event: ping\n\nevent: delta\ndata: a\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "delta");
  EXPECT_EQ(events[0].data, "a");
}

TEST(SseFields, BlankLinesWithoutDataDispatchNothing) {
  EXPECT_TRUE(parse_whole("\n\n\r\n\r\r\n").empty());
}

TEST(SseBom, LeadingBomIsSkippedEvenWhenSplit) {
  const std::vector<std::string> expected{"a"};
  EXPECT_EQ(data_of(parse_whole("\xEF\xBB\xBF"
                                "data: a\n\n")),
            expected);
  EXPECT_EQ(data_of(parse_pieces({"\xEF", "\xBB",
                                  "\xBF"
                                  "da",
                                  "ta: a\n\n"})),
            expected);
}

TEST(SseBom, OnlyTheFirstBomIsSkipped) {
  // A second BOM makes the first line's field name "\xEF\xBB\xBF" "data", which is unknown.
  EXPECT_TRUE(parse_whole("\xEF\xBB\xBF\xEF\xBB\xBF"
                          "data: a\n\n")
                  .empty());
  // A BOM later in the stream is line content too.
  EXPECT_TRUE(parse_whole("data: a\n\n\xEF\xBB\xBF"
                          "data: b\n\n")
                  .size() == 1);
}

TEST(SseBom, BytesThatOnlyStartLikeABomAreKept) {
  // "\xEF" then a non-BOM byte: both belong to the first line (an unknown field here).
  const std::vector<SseEvent> events = parse_pieces({"\xEF", "x\ndata: a\n\n"});
  EXPECT_EQ(data_of(events), std::vector<std::string>{"a"});
}

TEST(SseFinish, UnterminatedEventIsDroppedAndReported) {
  bool pending = false;
  EXPECT_EQ(data_of(parse_text("data: a\n\ndata: b\n", &pending)), std::vector<std::string>{"a"});
  EXPECT_TRUE(pending);

  EXPECT_TRUE(parse_text("data: a", &pending).empty());
  EXPECT_TRUE(pending) << "a partial line is a cut stream";

  parse_text("data: a\n\n: trailing comment\n", &pending);
  EXPECT_FALSE(pending);
}

TEST(SseCaps, LineAtTheCapIsAcceptedOneMoreByteIsNot) {
  SseParser::Limits limits;
  limits.max_line_bytes = 16;
  const std::string at_cap = "data: " + std::string(10, 'x');  // 16 bytes
  {
    SseParser parser(limits);
    std::vector<SseEvent> events;
    EXPECT_EQ(parser.feed(at_cap + "\n\n", events), SseStatus::ok);
    EXPECT_EQ(events.size(), 1u);
  }
  {
    SseParser parser(limits);
    std::vector<SseEvent> events;
    EXPECT_EQ(parser.feed(at_cap + "x\n\n", events), SseStatus::line_too_long);
  }
  {
    // The same line completed from a carried partial.
    SseParser parser(limits);
    std::vector<SseEvent> events;
    EXPECT_EQ(parser.feed("data: xxxxx", events), SseStatus::ok);
    EXPECT_EQ(parser.feed("xxxxxx\n", events), SseStatus::line_too_long);
  }
}

TEST(SseCaps, NeverEndingLineIsRefusedAsSoonAsItPassesTheCap) {
  SseParser::Limits limits;
  limits.max_line_bytes = 64;
  SseParser parser(limits);
  std::vector<SseEvent> events;
  ASSERT_EQ(parser.feed("data: ", events), SseStatus::ok);
  // 6 + 10*k bytes: still ok at 56, refused at 66, i.e. without ever holding much more than
  // the cap; a parser that waited for the line end would buffer without bound.
  const std::string piece(10, 'x');
  int fed = 0;
  SseStatus status = SseStatus::ok;
  while (status == SseStatus::ok && fed < 1000) {
    status = parser.feed(piece, events);
    ++fed;
  }
  EXPECT_EQ(status, SseStatus::line_too_long);
  EXPECT_EQ(fed, 6);
  EXPECT_TRUE(events.empty());
}

TEST(SseCaps, EventDataCapCountsJoinedLines) {
  SseParser::Limits limits;
  limits.max_event_bytes = 16;
  {
    SseParser parser(limits);
    std::vector<SseEvent> events;
    // "0123456789" + '\n' + "01234" = 16 bytes of data.
    EXPECT_EQ(parser.feed("data: 0123456789\ndata: 01234\n\n", events), SseStatus::ok);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].data.size(), 16u);
  }
  {
    SseParser parser(limits);
    std::vector<SseEvent> events;
    EXPECT_EQ(parser.feed("data: 0123456789\ndata: 012345\n\n", events),
              SseStatus::event_too_large);
    EXPECT_TRUE(events.empty());
  }
  {
    // The cap is per event: many events each under it are fine.
    SseParser parser(limits);
    std::vector<SseEvent> events;
    std::string text;
    for (int i = 0; i < 100; ++i)
      text += "data: 0123456789\n\n";
    EXPECT_EQ(parser.feed(text, events), SseStatus::ok);
    EXPECT_EQ(events.size(), 100u);
  }
}

TEST(SseFeed, EventsAppendToTheCallersVector) {
  SseParser parser;
  std::vector<SseEvent> events{SseEvent{"earlier", ""}};
  EXPECT_EQ(parser.feed("data: a\n\n", events), SseStatus::ok);
  EXPECT_EQ(data_of(events), (std::vector<std::string>{"earlier", "a"}));
}

TEST(SseFeed, EmptyFeedsChangeNothing) {
  EXPECT_EQ(data_of(parse_pieces({"", "data: a", "", "\n", "", "\n", ""})),
            std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace llmprobe
