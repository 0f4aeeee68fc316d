// WHATWG event-stream parsing, written for throughput: line ends are found with memchr, and a
// line that lies wholly inside the fed buffer is parsed in place; only a line cut by the end of
// a feed is copied (into line_), so a large read costs one pass over the bytes.
#include "llmprobe/sse_parser.hpp"

#include <cstring>

namespace llmprobe {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// First byte of `bytes` at or after `from` equal to `c`, or bytes.size().
std::size_t find_byte(std::string_view bytes, std::size_t from, char c) {
  if (from >= bytes.size())
    return bytes.size();
  const void* hit = std::memchr(bytes.data() + from, c, bytes.size() - from);
  return hit == nullptr ? bytes.size()
                        : static_cast<std::size_t>(static_cast<const char*>(hit) - bytes.data());
}

}  // namespace

SseParser::SseParser(Limits limits) : limits_(limits) {}

SseStatus SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  // The BOM may itself arrive split across feeds, so match it byte by byte until decided.
  while (!bom_decided_ && !bytes.empty()) {
    if (bytes.front() != kBom[bom_matched_]) {
      // Not a BOM after all: the bytes matched so far are ordinary line content.
      bom_decided_ = true;
      line_.append(kBom.substr(0, bom_matched_));
      break;
    }
    ++bom_matched_;
    bytes.remove_prefix(1);
    if (bom_matched_ == kBom.size())
      bom_decided_ = true;
  }
  if (bytes.empty())
    return SseStatus::ok;
  bom_decided_ = true;

  std::size_t pos = 0;
  if (last_was_cr_) {
    last_was_cr_ = false;
    if (bytes.front() == '\n')
      pos = 1;  // the LF half of a CRLF split across feeds
  }

  // CR is rare in real streams: one scan per feed usually proves there is none, so the loop
  // below does a single memchr per line for LF.
  std::size_t next_cr = find_byte(bytes, pos, '\r');
  while (pos < bytes.size()) {
    if (next_cr < pos)
      next_cr = find_byte(bytes, pos, '\r');
    const std::size_t next_lf = find_byte(bytes, pos, '\n');
    const std::size_t eol = next_lf < next_cr ? next_lf : next_cr;

    if (eol == bytes.size()) {
      // A partial line: keep it, but never let it grow past the cap, so an endless line is
      // refused before it costs memory.
      const std::string_view rest = bytes.substr(pos);
      if (line_.size() + rest.size() > limits_.max_line_bytes)
        return SseStatus::line_too_long;
      line_.append(rest);
      return SseStatus::ok;
    }

    const std::string_view piece = bytes.substr(pos, eol - pos);
    if (line_.size() + piece.size() > limits_.max_line_bytes)
      return SseStatus::line_too_long;
    SseStatus status;
    if (line_.empty()) {
      status = process_line(piece, out);
    } else {
      line_.append(piece);
      status = process_line(line_, out);
      line_.clear();
    }
    if (status != SseStatus::ok)
      return status;

    pos = eol + 1;
    if (bytes[eol] == '\r') {
      if (pos == bytes.size()) {
        last_was_cr_ = true;  // the LF, if any, is in the next feed
      } else if (bytes[pos] == '\n') {
        ++pos;
      }
    }
  }
  return SseStatus::ok;
}

bool SseParser::finish() {
  const bool pending = !line_.empty() || have_data_ || !current_.event.empty() ||
                       (bom_matched_ > 0 && !bom_decided_);
  line_.clear();
  current_ = SseEvent{};
  have_data_ = false;
  last_was_cr_ = false;
  return pending;
}

SseStatus SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    if (have_data_) {
      current_.data.pop_back();  // every data line appended a '\n'; the spec drops the last
      out.push_back(std::move(current_));
    }
    current_ = SseEvent{};
    have_data_ = false;
    return SseStatus::ok;
  }
  if (line.front() == ':')
    return SseStatus::ok;  // comment, e.g. ": keep-alive"

  std::string_view field = line;
  std::string_view value;
  if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);  // exactly one space
  }

  if (field == "data")
    return append_data(value);
  if (field == "event")
    current_.event.assign(value);
  // "id" and "retry" only matter to a reconnecting EventSource; a probe never reconnects.
  return SseStatus::ok;
}

SseStatus SseParser::append_data(std::string_view value) {
  // data_ already holds the '\n' joining earlier lines, so this is exactly the size the event
  // would dispatch with if this were its last line.
  if (current_.data.size() + value.size() > limits_.max_event_bytes) {
    return SseStatus::event_too_large;
  }
  current_.data.append(value);
  current_.data.push_back('\n');
  have_data_ = true;
  return SseStatus::ok;
}

}  // namespace llmprobe
