#include "llmprobe/ndjson_parser.hpp"

namespace llmprobe {

namespace {

// A line's content without a trailing CR and surrounding blanks; empty lines are keep-alives.
std::string_view trim(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
    line.remove_prefix(1);
  return line;
}

}  // namespace

SseStatus NdjsonParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (line_.size() + bytes.size() > max_line_bytes_)
        return SseStatus::line_too_long;
      line_.append(bytes);
      return SseStatus::ok;
    }
    std::string_view line = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    if (!line_.empty()) {
      if (line_.size() + line.size() > max_line_bytes_)
        return SseStatus::line_too_long;
      line_.append(line);
      line = line_;
    } else if (line.size() > max_line_bytes_) {
      return SseStatus::line_too_long;
    }
    if (const std::string_view content = trim(line); !content.empty())
      out.push_back(SseEvent{std::string(content), {}});
    line_.clear();
  }
  return SseStatus::ok;
}

bool NdjsonParser::finish() {
  const bool pending = !trim(line_).empty();
  line_.clear();
  return pending;
}

}  // namespace llmprobe
