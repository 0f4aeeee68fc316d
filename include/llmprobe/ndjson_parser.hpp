// Sans-I/O parser for newline-delimited JSON streams (Ollama's /api/chat and /api/generate):
// bytes in, one event per non-empty line out. Holds partial lines across feeds, accepts LF and
// CRLF, and caps the line length. Events reuse SseEvent (the line is its `data`) so the stream
// recorder treats both framings alike. Not thread-safe: one parser per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "llmprobe/sse_parser.hpp"

namespace llmprobe {

class NdjsonParser {
 public:
  explicit NdjsonParser(std::size_t max_line_bytes = 1024 * 1024)
      : max_line_bytes_(max_line_bytes) {}

  // Appends every line completed by `bytes` to `out`. After line_too_long the parser is spent.
  SseStatus feed(std::string_view bytes, std::vector<SseEvent>& out);
  // End of stream: returns true if a partial line was pending (it is dropped).
  bool finish();

 private:
  std::size_t max_line_bytes_;
  std::string line_;
};

}  // namespace llmprobe
