#include "llmprobe/stream_recorder.hpp"

#include <string>
#include <utility>

namespace llmprobe {

StreamRecorder::StreamRecorder(const ApiAdapter& adapter, StreamRecord& record,
                               SseParser::Limits limits)
    : adapter_(adapter), record_(record), parser_(limits) {}

StreamRecorder::State StreamRecorder::fail(ErrorReason reason, std::string detail) {
  record_.error = reason;
  record_.error_detail = std::move(detail);
  state_ = State::failed;
  return state_;
}

StreamRecorder::State StreamRecorder::on_body_bytes(std::string_view bytes, TimePoint read_at) {
  if (state_ != State::streaming)
    return state_;
  events_.clear();
  const SseStatus status = parser_.feed(bytes, events_);
  // Events completed before a cap was hit still count: they were really received.
  for (const SseEvent& event : events_) {
    const DecodedEvent decoded = adapter_.decode_event(event.data);
    if (decoded.usage)
      record_.usage = decoded.usage;
    if (decoded.finished)
      record_.saw_finish = true;
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

StreamRecorder::State StreamRecorder::on_end_of_body() {
  if (state_ != State::streaming)
    return state_;
  parser_.finish();
  // A finish_reason is as good as [DONE]: some servers omit the sentinel.
  if (record_.saw_finish) {
    state_ = State::finished;
    return state_;
  }
  return fail(ErrorReason::truncated, "stream ended without [DONE] or finish_reason");
}

}  // namespace llmprobe
