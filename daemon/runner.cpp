// The streaming HTTP client behind every probe. See runner.hpp for the contract; REFERENCE.md §7
// lists the Beast traps this file is written around (read the header first, then one
// read_some at a time; explicit body limit; deadlines re-armed before every read; a timed-out
// connection is never reused).
#include "llmprobe/runner.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <unordered_map>
#include <utility>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/stream_recorder.hpp"

namespace llmprobe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kReadBufferLimit = 1024 * 1024;
constexpr std::size_t kErrorBodyLimit = 4 * 1024;

#ifndef LLMPROBE_VERSION
#define LLMPROBE_VERSION "dev"
#endif

// Words that are one token in the common tokenizers (GPT-2/Llama/Qwen BPEs).
constexpr std::array<std::string_view, 16> kPromptWords = {
    "the", "quick", "brown", "fox",  "jumps", "over", "a",   "lazy",
    "dog", "and",   "then",  "runs", "to",    "the",  "old", "house"};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string host_header(const Endpoint& endpoint) {
  std::string host =
      endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  const std::uint16_t default_port = endpoint.tls ? 443 : 80;
  if (endpoint.port != default_port)
    host += ":" + std::to_string(endpoint.port);
  return host;
}

bool is_end_of_stream(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

// Which deadline governs the next operation, so a timeout maps to the right reason.
struct Deadline {
  TimePoint at;
  ErrorReason reason;
};

Deadline earliest(Deadline a, Deadline b) {
  return a.at <= b.at ? a : b;
}

// Resolves with a deadline that holds even while getaddrinfo blocks on its worker thread: the
// coroutine waits on a timer that the resolve completion cancels, and state shared with the
// completion handler keeps everything alive until the lookup finally returns.
asio::awaitable<std::pair<error_code, tcp::resolver::results_type>> resolve_with_deadline(
    asio::any_io_executor executor, std::string host, std::string port, TimePoint deadline) {
  struct State {
    explicit State(asio::any_io_executor ex) : resolver(ex), timer(ex) {}
    tcp::resolver resolver;
    asio::steady_timer timer;
    bool done = false;
    error_code ec;
    tcp::resolver::results_type results;
  };
  auto state = std::make_shared<State>(executor);
  state->timer.expires_at(deadline);
  state->resolver.async_resolve(host, port,
                                [state](error_code ec, tcp::resolver::results_type results) {
                                  state->done = true;
                                  state->ec = ec;
                                  state->results = std::move(results);
                                  state->timer.cancel();
                                });
  co_await state->timer.async_wait(kNoThrow);
  if (!state->done) {
    state->resolver.cancel();
    co_return std::pair{error_code(asio::error::timed_out), tcp::resolver::results_type{}};
  }
  co_return std::pair{state->ec, state->results};
}

std::string tls_error_detail(SSL* ssl_handle, const error_code& ec) {
  std::string detail = "TLS handshake failed: " + ec.message();
  const long verify = SSL_get_verify_result(ssl_handle);
  if (verify != X509_V_OK) {
    detail += " (certificate verification: ";
    detail += X509_verify_cert_error_string(verify);
    detail += ")";
  }
  return detail;
}

}  // namespace

std::string build_prompt(const Workload& workload, std::string_view nonce) {
  std::string prompt;
  prompt.reserve(static_cast<std::size_t>(workload.prompt_tokens) * 6 + nonce.size() + 4);
  if (workload.cache_busting_prefix) {
    prompt += '[';
    prompt += nonce;
    prompt += "] ";
  }
  for (int i = 0; i < workload.prompt_tokens; ++i) {
    if (i > 0)
      prompt += ' ';
    prompt += kPromptWords[static_cast<std::size_t>(i) % kPromptWords.size()];
  }
  return prompt;
}

struct ProbeRunner::Impl {
  Impl(asio::any_io_executor ex, const ClockSource& c) : executor(std::move(ex)), clock(c) {
    tls.set_default_verify_paths();
    tls.set_verify_mode(ssl::verify_peer);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  asio::any_io_executor executor;
  const ClockSource& clock;
  ssl::context tls{ssl::context::tls_client};
  std::unordered_map<std::uint64_t, std::function<void()>> aborts;
  std::uint64_t next_abort_id = 0;

  // Registers a way to close the in-flight connection; unregistered when the guard dies.
  class AbortGuard {
   public:
    AbortGuard(Impl& impl, std::function<void()> abort) : impl_(impl), id_(impl.next_abort_id++) {
      impl_.aborts.emplace(id_, std::move(abort));
    }
    ~AbortGuard() { impl_.aborts.erase(id_); }
    AbortGuard(const AbortGuard&) = delete;
    AbortGuard& operator=(const AbortGuard&) = delete;

   private:
    Impl& impl_;
    std::uint64_t id_;
  };

  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, const ProbeSpec& spec, std::string body,
                                 StreamRecord& record, TimePoint total_deadline);
};

namespace {

// Maps a read/write failure after the request started to its reason.
ErrorReason reason_for_io_error(const error_code& ec, const Deadline& deadline) {
  if (ec == beast::error::timeout)
    return deadline.reason;
  if (ec == asio::error::operation_aborted)
    return ErrorReason::canceled;
  return ErrorReason::connect_error;
}

}  // namespace

template <class Stream>
asio::awaitable<void> ProbeRunner::Impl::exchange(Stream& stream, const ProbeSpec& spec,
                                                  std::string body, StreamRecord& record,
                                                  TimePoint total_deadline) {
  const Target& target = *spec.target;
  auto& lowest = beast::get_lowest_layer(stream);

  http::request<http::string_body> request{
      http::verb::post, target.endpoint.base_path + std::string(adapter_for(target.api).path()),
      11};
  request.set(http::field::host, host_header(target.endpoint));
  request.set(http::field::user_agent, "llmprobe/" LLMPROBE_VERSION);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "text/event-stream");
  request.set(http::field::connection, "close");
  request.set("X-Request-Id", spec.request_id);
  for (const auto& [name, value] : target.headers)
    request.set(name, value);
  if (!target.api_key.empty()) {
    request.set(http::field::authorization, "Bearer " + target.api_key.reveal());
  }
  request.body() = std::move(body);
  request.prepare_payload();

  const Deadline total{total_deadline, ErrorReason::total_timeout};
  auto fail = [&record](ErrorReason reason, std::string detail) {
    record.error = reason;
    record.error_detail = std::move(detail);
  };

  record.start = clock.now();
  const Deadline first_token = earliest(
      total, {record.start + target.timeouts.first_token, ErrorReason::first_token_timeout});
  lowest.expires_at(first_token.at);
  if (auto [ec, n] = co_await http::async_write(stream, request, kNoThrow); ec) {
    fail(reason_for_io_error(ec, first_token), "sending the request: " + ec.message());
    co_return;
  }

  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(target.max_response_bytes);
  beast::flat_buffer buffer(kReadBufferLimit);

  lowest.expires_at(first_token.at);
  if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow); ec) {
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      fail(reason_for_io_error(ec, first_token),
           "waiting for the response header: " + ec.message());
    } else if (ec == http::error::header_limit) {
      fail(ErrorReason::too_large,
           "response header over " + std::to_string(kHeaderLimit) + " bytes");
    } else if (is_end_of_stream(ec)) {
      fail(ErrorReason::connect_error, "connection closed before the response: " + ec.message());
    } else {
      fail(ErrorReason::protocol, "bad response header: " + ec.message());
    }
    co_return;
  }
  TimePoint read_at = clock.now();
  const auto& header = parser.get();
  record.http_status = header.result_int();

  const bool ok_status = record.http_status >= 200 && record.http_status < 300;
  if (!ok_status) {
    // Keep a little of the error body for the log; it is the server's explanation.
    std::string detail = "HTTP " + std::to_string(record.http_status);
    parser.body_limit(kErrorBodyLimit);
    lowest.expires_at(std::min(total.at, read_at + target.timeouts.idle));
    // Whatever arrived in time is enough: the status already decided the outcome.
    (void)co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (!parser.get().body().empty()) {
      std::string text = parser.get().body().substr(0, 512);
      std::replace_if(
          text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
      // Some servers echo the rejected key back; it must not reach the log.
      if (const std::string& key = target.api_key.reveal(); !key.empty()) {
        for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at)) {
          text.replace(at, key.size(), "<redacted>");
        }
      }
      detail += ": " + text;
    }
    fail(reason_for_http_status(record.http_status), std::move(detail));
    co_return;
  }
  if (const auto content_type = header[http::field::content_type];
      content_type.substr(0, 17) != "text/event-stream") {
    fail(ErrorReason::protocol, "expected Content-Type text/event-stream, got \"" +
                                    std::string(content_type.substr(0, 64)) +
                                    "\" (does the server support stream: true?)");
    co_return;
  }

  StreamRecorder recorder(adapter_for(target.api), record);
  using State = StreamRecorder::State;

  // Runs the HTTP parser (chunked decoding, body limit) over what is buffered, handing the body
  // bytes to the recorder stamped with the time of the read that delivered them.
  auto feed = [&](TimePoint at) -> State {
    while (buffer.size() > 0 && !parser.is_done()) {
      error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more)
        break;
      if (ec == http::error::body_limit) {
        fail(ErrorReason::too_large, "response body over max_response_bytes (" +
                                         std::to_string(target.max_response_bytes) + ")");
        return State::failed;
      }
      if (ec) {
        fail(ErrorReason::protocol, "bad HTTP body: " + ec.message());
        return State::failed;
      }
      auto& chunk = parser.get().body();
      if (!chunk.empty()) {
        const State state = recorder.on_body_bytes(chunk, at);
        chunk.clear();
        if (state != State::streaming)
          return state;
      }
      if (used == 0)
        break;
    }
    if (parser.is_done())
      return recorder.on_end_of_body();
    return State::streaming;
  };

  // Bytes that arrived with the header belong to the header read.
  State state = feed(read_at);
  while (state == State::streaming) {
    const Deadline deadline =
        recorder.has_content()
            ? earliest(total, {read_at + target.timeouts.idle, ErrorReason::idle_timeout})
            : first_token;
    lowest.expires_at(deadline.at);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
    read_at = clock.now();
    buffer.commit(n);
    if (n > 0)
      state = feed(read_at);
    if (state != State::streaming)
      break;
    if (!ec)
      continue;
    if (is_end_of_stream(ec)) {
      error_code eof_ec;
      parser.put_eof(eof_ec);
      state = recorder.on_end_of_body();
    } else {
      fail(reason_for_io_error(ec, deadline), "reading the stream: " + ec.message());
      state = State::failed;
    }
  }
}

ProbeRunner::ProbeRunner(asio::any_io_executor executor, const ClockSource& clock)
    : impl_(std::make_shared<Impl>(std::move(executor), clock)) {}

ProbeRunner::~ProbeRunner() = default;

void ProbeRunner::abort_all() {
  // Copy first: an abort may complete synchronously and unregister itself.
  std::vector<std::function<void()>> aborts;
  for (const auto& [id, abort] : impl_->aborts)
    aborts.push_back(abort);
  for (auto& abort : aborts)
    abort();
}

std::size_t ProbeRunner::in_flight() const {
  return impl_->aborts.size();
}

asio::awaitable<StreamRecord> ProbeRunner::run(ProbeSpec spec) {
  // Hold the impl for the whole coroutine: the runner may be destroyed while we are suspended.
  const std::shared_ptr<Impl> impl = impl_;
  const Target& target = *spec.target;
  const Workload& workload = *spec.workload;

  StreamRecord record;
  record.scheduled_start = spec.scheduled_start;
  record.begin = impl->clock.now();
  const TimePoint total_deadline = record.begin + target.timeouts.total;
  const TimePoint connect_deadline =
      std::min(total_deadline, record.begin + target.timeouts.connect);
  auto fail = [&record](ErrorReason reason, std::string detail) {
    record.error = reason;
    record.error_detail = std::move(detail);
  };

  ProbeRequest request;
  request.model = target.model;
  request.prompt = build_prompt(workload, spec.request_id);
  request.max_tokens = workload.max_tokens;
  request.ignore_eos = workload.ignore_eos;
  request.extra_body = &workload.extra_body;
  std::string body = adapter_for(target.api).encode_request(request);

  auto [resolve_ec, endpoints] = co_await resolve_with_deadline(
      impl->executor, target.endpoint.host, std::to_string(target.endpoint.port), connect_deadline);
  if (resolve_ec) {
    fail(ErrorReason::dns, "resolving " + target.endpoint.host + ": " + resolve_ec.message());
    co_return record;
  }

  beast::tcp_stream tcp_stream(impl->executor);
  // The connection to close on abort; it moves into the TLS stream below.
  beast::tcp_stream* connection = &tcp_stream;
  Impl::AbortGuard guard(*impl, [&connection] { connection->socket().close(); });
  tcp_stream.expires_at(connect_deadline);
  if (auto [ec, endpoint] = co_await tcp_stream.async_connect(endpoints, kNoThrow); ec) {
    if (ec == beast::error::timeout) {
      fail(ErrorReason::connect_timeout, "connecting: no answer within timeouts.connect");
    } else if (ec == asio::error::connection_refused) {
      fail(ErrorReason::connect_refused, "connecting: " + ec.message());
    } else if (ec == asio::error::operation_aborted) {
      fail(ErrorReason::canceled, "connecting: canceled");
    } else {
      fail(ErrorReason::connect_error, "connecting: " + ec.message());
    }
    co_return record;
  }
  tcp_stream.socket().set_option(tcp::no_delay(true));

  if (!target.endpoint.tls) {
    co_await impl->exchange(tcp_stream, spec, std::move(body), record, total_deadline);
    co_return record;
  }

  beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), impl->tls);
  connection = &beast::get_lowest_layer(tls_stream);
  if (!is_ip_literal(target.endpoint.host)) {
    // SNI: name-based virtual hosts (and most proxies) need it to pick the certificate.
    SSL_set_tlsext_host_name(tls_stream.native_handle(), target.endpoint.host.c_str());
  }
  tls_stream.set_verify_callback(ssl::host_name_verification(target.endpoint.host));
  connection->expires_at(connect_deadline);
  if (auto [ec] = co_await tls_stream.async_handshake(ssl::stream_base::client, kNoThrow); ec) {
    if (ec == beast::error::timeout) {
      fail(ErrorReason::connect_timeout, "TLS handshake: no answer within timeouts.connect");
    } else if (ec == asio::error::operation_aborted) {
      fail(ErrorReason::canceled, "TLS handshake: canceled");
    } else {
      fail(ErrorReason::tls, tls_error_detail(tls_stream.native_handle(), ec));
    }
    co_return record;
  }
  co_await impl->exchange(tls_stream, spec, std::move(body), record, total_deadline);
  co_return record;
}

}  // namespace llmprobe
