// How a probe request ends: success, or exactly one error reason from a bounded enum. The reason
// is a metric label value, so the set is closed; adding one is a contract change (README).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace llmprobe {

enum class ErrorReason : std::uint8_t {
  dns,                  // name resolution failed or timed out
  connect_refused,      // TCP RST on connect
  connect_timeout,      // resolve + connect did not finish within timeouts.connect
  connect_error,        // any other connect failure (unreachable, reset during connect)
  tls,                  // handshake or certificate verification failed
  http_4xx,             // 4xx status other than 429
  http_429,             // rate limited
  http_5xx,             // 5xx status (and any other non-2xx status)
  first_token_timeout,  // no content event within timeouts.first_token of the request start
  idle_timeout,         // gap between two reads longer than timeouts.idle after the first token
  total_timeout,        // whole request longer than timeouts.total
  truncated,            // stream ended (EOF/reset) without [DONE] or a finish_reason
  protocol,             // malformed HTTP, SSE or JSON, or a non-stream content type
  server_error,         // an error object inside the stream
  too_large,            // response body, SSE line or event over its cap
  canceled,             // the daemon shut down before the request finished
};

inline constexpr std::array<ErrorReason, 16> kAllErrorReasons = {
    ErrorReason::dns,
    ErrorReason::connect_refused,
    ErrorReason::connect_timeout,
    ErrorReason::connect_error,
    ErrorReason::tls,
    ErrorReason::http_4xx,
    ErrorReason::http_429,
    ErrorReason::http_5xx,
    ErrorReason::first_token_timeout,
    ErrorReason::idle_timeout,
    ErrorReason::total_timeout,
    ErrorReason::truncated,
    ErrorReason::protocol,
    ErrorReason::server_error,
    ErrorReason::too_large,
    ErrorReason::canceled,
};

constexpr std::string_view to_string(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::dns:
      return "dns";
    case ErrorReason::connect_refused:
      return "connect_refused";
    case ErrorReason::connect_timeout:
      return "connect_timeout";
    case ErrorReason::connect_error:
      return "connect_error";
    case ErrorReason::tls:
      return "tls";
    case ErrorReason::http_4xx:
      return "http_4xx";
    case ErrorReason::http_429:
      return "http_429";
    case ErrorReason::http_5xx:
      return "http_5xx";
    case ErrorReason::first_token_timeout:
      return "first_token_timeout";
    case ErrorReason::idle_timeout:
      return "idle_timeout";
    case ErrorReason::total_timeout:
      return "total_timeout";
    case ErrorReason::truncated:
      return "truncated";
    case ErrorReason::protocol:
      return "protocol";
    case ErrorReason::server_error:
      return "server_error";
    case ErrorReason::too_large:
      return "too_large";
    case ErrorReason::canceled:
      return "canceled";
  }
  return "unknown";
}

// The reason for a non-2xx HTTP status.
constexpr ErrorReason reason_for_http_status(unsigned status) {
  if (status == 429)
    return ErrorReason::http_429;
  if (status >= 400 && status < 500)
    return ErrorReason::http_4xx;
  return ErrorReason::http_5xx;
}

}  // namespace llmprobe
