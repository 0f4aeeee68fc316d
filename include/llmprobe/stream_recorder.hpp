// The sans-I/O heart of a probe: fed the response body bytes of one streamed request together
// with the time the read that delivered them returned, it runs the SSE parser and the flavor's
// event decoder (or the NDJSON line splitter, by the flavor's framing) and fills a StreamRecord
// (content-event times, usage, [DONE], errors). Not thread-safe: one recorder per request.
#pragma once

#include <string_view>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/measurement.hpp"
#include "llmprobe/ndjson_parser.hpp"
#include "llmprobe/sse_parser.hpp"

namespace llmprobe {

class StreamRecorder {
 public:
  enum class State {
    streaming,  // keep reading
    finished,   // [DONE] seen: the measurement is complete
    failed,     // record.error is set
  };

  StreamRecorder(const ApiAdapter& adapter, StreamRecord& record,
                 SseParser::Limits limits = SseParser::Limits{});

  // Every event completed by `bytes` is stamped `read_at`.
  State on_body_bytes(std::string_view bytes, TimePoint read_at);
  // The body ended before [DONE]: `message_complete` when the HTTP message ended properly (last
  // chunk, Content-Length reached, or close-delimited), false when the connection was cut.
  State on_end_of_body(bool message_complete);

  bool has_content() const { return !record_.content_times.empty(); }
  State state() const { return state_; }

 private:
  State fail(ErrorReason reason, std::string detail);
  void merge_timings(const ServerTimings& timings);

  const ApiAdapter& adapter_;
  StreamRecord& record_;
  const Framing framing_;
  SseParser sse_;
  NdjsonParser ndjson_;
  std::vector<SseEvent> events_;  // reused across feeds
  State state_ = State::streaming;
};

}  // namespace llmprobe
