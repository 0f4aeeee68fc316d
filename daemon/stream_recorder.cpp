#include "llmprobe/stream_recorder.hpp"

#include <string>
#include <utility>

namespace llmprobe {

StreamRecorder::StreamRecorder(const ApiAdapter& adapter, StreamRecord& record,
                               SseParser::Limits limits)
    : adapter_(adapter),
      record_(record),
      framing_(adapter.framing()),
      sse_(limits),
      ndjson_(limits.max_line_bytes) {}

StreamRecorder::State StreamRecorder::fail(ErrorReason reason, std::string detail) {
  record_.error = reason;
  record_.error_detail = std::move(detail);
  state_ = State::failed;
  return state_;
}

void StreamRecorder::merge_timings(const ServerTimings& timings) {
  ServerTimings& total = record_.server_timings;
  if (timings.queue)
    total.queue = timings.queue;
  if (timings.prefill)
    total.prefill = timings.prefill;
  if (timings.total)
    total.total = timings.total;
  if (timings.decode)
    total.decode = total.decode.value_or(Duration::zero()) + *timings.decode;
}

StreamRecorder::State StreamRecorder::on_body_bytes(std::string_view bytes, TimePoint read_at) {
  if (state_ != State::streaming)
    return state_;
  events_.clear();
  const SseStatus status =
      framing_ == Framing::sse ? sse_.feed(bytes, events_) : ndjson_.feed(bytes, events_);
  // Events completed before a cap was hit still count: they were really received.
  for (const SseEvent& event : events_) {
    const DecodedEvent decoded = adapter_.decode_event(event.data);
    if (decoded.usage)
      record_.usage = decoded.usage;
    if (decoded.finished)
      record_.saw_finish = true;
    merge_timings(decoded.timings);
    switch (decoded.kind) {
      case EventKind::content:
        record_.content_times.push_back(read_at);
        break;
      case EventKind::done:
        record_.saw_done = true;
        state_ = State::finished;
        return state_;
      case EventKind::error:
        return fail(ErrorReason::server_error, "error event in stream: " + decoded.error_message);
      case EventKind::malformed:
        return fail(ErrorReason::protocol, "malformed event: " + decoded.error_message);
      case EventKind::role_only:
      case EventKind::usage_only:
      case EventKind::other:
        break;
    }
  }
  switch (status) {
    case SseStatus::ok:
      return state_;
    case SseStatus::line_too_long:
      return fail(ErrorReason::too_large, "SSE line longer than the line cap");
    case SseStatus::event_too_large:
      return fail(ErrorReason::too_large, "SSE event larger than the event cap");
  }
  return state_;
}

StreamRecorder::State StreamRecorder::on_end_of_body(bool message_complete) {
  if (state_ != State::streaming)
    return state_;
  if (framing_ == Framing::sse)
    sse_.finish();
  else
    ndjson_.finish();
  // A finish_reason is as good as [DONE]: some servers omit the sentinel. Flavors without any
  // end marker are complete when the HTTP message is.
  if (record_.saw_finish || (message_complete && !adapter_.marks_end() && has_content())) {
    state_ = State::finished;
    return state_;
  }
  return fail(ErrorReason::truncated, "stream ended without [DONE] or finish_reason");
}

}  // namespace llmprobe
