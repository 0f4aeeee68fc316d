// Sans-I/O parser for Server-Sent Events (the WHATWG event-stream format) as LLM servers write
// them: bytes in, complete events out. It holds partial lines across feeds, accepts LF, CR and
// CRLF line ends (also a CRLF split across two feeds), skips ':' comments, joins multi-line
// data with '\n', accepts "data:" with or without the space, and caps line and event size.
// Not thread-safe: one parser per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace llmprobe {

struct SseEvent {
  std::string data;   // data lines joined with '\n' (no trailing newline)
  std::string event;  // the "event:" field, empty when absent
};

enum class SseStatus {
  ok,
  line_too_long,    // a line exceeded Limits::max_line_bytes
  event_too_large,  // an event's data exceeded Limits::max_event_bytes
};

class SseParser {
 public:
  struct Limits {
    std::size_t max_line_bytes = 1024 * 1024;
    std::size_t max_event_bytes = 4 * 1024 * 1024;
  };

  SseParser() : SseParser(Limits{}) {}
  explicit SseParser(Limits limits);

  // Parses `bytes`, appending every event completed by them to `out` (events with no data
  // line are not dispatched, as in the spec). After a non-ok status the parser is spent and
  // must not be fed again.
  SseStatus feed(std::string_view bytes, std::vector<SseEvent>& out);

  // End of stream. An event not terminated by a blank line is discarded (spec behaviour);
  // returns true if such a partial event or line was pending, so callers can tell a cut stream.
  bool finish();

 private:
  SseStatus process_line(std::string_view line, std::vector<SseEvent>& out);
  SseStatus append_data(std::string_view value);

  Limits limits_;
  std::string line_;             // partial line carried across feeds
  bool last_was_cr_ = false;     // swallow the LF of a CRLF split across feeds
  bool have_data_ = false;       // current event has at least one data line
  std::size_t bom_matched_ = 0;  // bytes of a leading UTF-8 BOM seen so far (it may be split)
  bool bom_decided_ = false;     // past the point where a BOM could appear
  SseEvent current_;
};

}  // namespace llmprobe
