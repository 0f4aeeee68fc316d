// The streaming HTTP client behind every probe. See runner.hpp for the contract; REFERENCE.md §7
// lists the Beast traps this file is written around (read the header first, then one
// read_some at a time; explicit body limit; deadlines re-armed before every read; a timed-out
// connection is never reused).
#include "llmprobe/runner.hpp"

#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

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
constexpr std::size_t kDetailLimit = 600;

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

// The HTTP request a flavor made of a probe.
struct EncodedRequest {
  std::string path;  // appended to the target's base path
  std::string body;
};

// Which deadline governs the next operation, so a timeout maps to the right reason.
struct Deadline {
  TimePoint at;
  ErrorReason reason;
};

Deadline earliest(Deadline a, Deadline b) {
  return a.at <= b.at ? a : b;
}

// One name lookup. It runs getaddrinfo on a thread of its own: Asio's resolver runs every lookup
// of an io_context on a single worker thread, so one hung nameserver would make every other
// target fail with `dns`. The coroutine waits on `timer`, which the answer cancels (posted to the
// io thread) or which expires at the connect deadline. The lookup thread posts only while the
// coroutine still waits, so it never touches an executor that may be gone; a lookup abandoned at
// its deadline finishes on its own and frees its state.
struct Lookup {
  explicit Lookup(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;  // used on the io thread only
  std::mutex mutex;          // guards the fields below
  bool abandoned = false;
  bool done = false;
  std::string error;
  std::vector<tcp::endpoint> endpoints;
};

// Bounds the threads a run of hung lookups can pile up (each lasts the resolver's own timeout).
std::atomic<int> lookups_in_progress{0};
constexpr int kMaxLookupsInProgress = 64;

void start_lookup(const std::shared_ptr<Lookup>& lookup, asio::any_io_executor executor,
                  std::string host, std::uint16_t port) {
  ++lookups_in_progress;
  std::thread([lookup, executor = std::move(executor), host = std::move(host), port] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    std::vector<tcp::endpoint> endpoints;
    for (addrinfo* ai = found; rc == 0 && ai != nullptr; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
        endpoints.emplace_back(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)), port);
      } else if (ai->ai_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
        asio::ip::address_v6::bytes_type bytes;
        std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
        endpoints.emplace_back(asio::ip::address_v6(bytes, in6->sin6_scope_id), port);
      }
    }
    if (found != nullptr)
      ::freeaddrinfo(found);
    {
      std::lock_guard lock(lookup->mutex);
      lookup->done = true;
      if (rc != 0)
        lookup->error = ::gai_strerror(rc);
      else if (endpoints.empty())
        lookup->error = "no IPv4 or IPv6 address";
      lookup->endpoints = std::move(endpoints);
      if (!lookup->abandoned)
        asio::post(executor, [lookup] { lookup->timer.cancel(); });
    }
    --lookups_in_progress;
  }).detach();
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

// The client TLS context for one target's settings. Throws boost::system::system_error when a
// file does not load (the config only checked that it can be read).
std::shared_ptr<ssl::context> make_tls_context(const TlsSettings& settings) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(context->native_handle(),
                                settings.min_version >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (settings.insecure_skip_verify) {
    context->set_verify_mode(ssl::verify_none);
  } else {
    context->set_verify_mode(ssl::verify_peer);
    if (settings.ca_file.empty())
      context->set_default_verify_paths();
    else
      context->load_verify_file(settings.ca_file);
  }
  if (!settings.cert_file.empty()) {
    // An encrypted key must fail here, not make OpenSSL prompt on a terminal for a passphrase.
    context->set_password_callback(
        [](std::size_t, ssl::context::password_purpose) { return std::string(); });
    context->use_certificate_chain_file(settings.cert_file);
    context->use_private_key_file(settings.key_file, ssl::context::pem);
    if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
      throw boost::system::system_error(asio::error::invalid_argument,
                                        "key_file does not match cert_file");
    }
  }
  return context;
}

// A connection that may outlive one request (workloads with connection: keep_alive). Exactly one
// of plain / secure is set.
struct Connection {
  std::shared_ptr<ssl::context> tls_context;  // declared first: outlives the stream using it
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  TimePoint idle_since{};  // when it went back to the pool

  // A pooled connection is usable if the server has neither closed it nor sent anything while it
  // sat idle (an unsolicited 408, say): a non-blocking peek must find nothing to read yet.
  bool looks_alive() {
    char byte = 0;
    const auto n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  template <class Impl, class... Args>
  asio::awaitable<bool> exchange_on(Impl& impl, Args&&... args) {
    if (secure)
      co_return co_await impl.exchange(*secure, std::forward<Args>(args)...);
    co_return co_await impl.exchange(*plain, std::forward<Args>(args)...);
  }
};

struct ProbeRunner::Impl {
  Impl(asio::any_io_executor ex, const ClockSource& c) : executor(std::move(ex)), clock(c) {}

  // Per-target state kept across runs: the TLS context and the idle keep-alive connections
  // (oldest first, at most target.max_idle_connections). The entry holds the config, so the
  // Target it is keyed by cannot be freed and its address reused while the entry exists.
  struct TargetState {
    std::shared_ptr<const Config> config;
    std::shared_ptr<ssl::context> tls;
    std::vector<std::unique_ptr<Connection>> idle;
  };
  std::unordered_map<const Target*, TargetState> targets;

  TargetState& state_for(const ProbeSpec& spec) {
    TargetState& state = targets[spec.target];
    if (!state.config)
      state.config = spec.config;
    return state;
  }

  // A pooled connection that is young enough and still open, or nullptr.
  std::unique_ptr<Connection> take_idle(const ProbeSpec& spec) {
    auto& pool = state_for(spec).idle;
    const TimePoint now = clock.now();
    while (!pool.empty()) {
      std::unique_ptr<Connection> connection = std::move(pool.back());
      pool.pop_back();
      if (now - connection->idle_since <= spec.target->max_idle_time && connection->looks_alive())
        return connection;
    }
    return nullptr;
  }

  void put_idle(const ProbeSpec& spec, std::unique_ptr<Connection> connection) {
    auto& pool = state_for(spec).idle;
    if (pool.size() >= spec.target->max_idle_connections)
      pool.erase(pool.begin());  // the oldest is the likeliest to be closed by the server
    connection->idle_since = clock.now();
    pool.push_back(std::move(connection));
  }

  // One TLS context per target (its CA, client certificate and version floor), normally made by
  // prepare() at start-up.
  std::shared_ptr<ssl::context> tls_context_for(const ProbeSpec& spec) {
    TargetState& state = state_for(spec);
    if (!state.tls)
      state.tls = make_tls_context(spec.target->tls);
    return state.tls;
  }

  // What abort_all needs to stop one run at whatever phase it is in.
  struct RunControl {
    bool aborted = false;
    asio::steady_timer* waiting = nullptr;    // the lookup being waited for
    beast::tcp_stream* connection = nullptr;  // the open connection
    void abort() {
      aborted = true;
      if (waiting != nullptr)
        waiting->cancel();
      if (connection != nullptr) {
        error_code ignored;
        connection->socket().close(ignored);
      }
    }
  };

  // Registers a run for abort_all for as long as it lives.
  class Registration {
   public:
    Registration(Impl& impl, RunControl& control) : impl_(impl), id_(impl.next_run_id++) {
      impl_.runs.emplace(id_, &control);
    }
    ~Registration() { impl_.runs.erase(id_); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    Impl& impl_;
    std::uint64_t id_;
  };

  asio::any_io_executor executor;
  const ClockSource& clock;
  std::unordered_map<std::uint64_t, RunControl*> runs;
  std::uint64_t next_run_id = 0;

  asio::awaitable<std::vector<tcp::endpoint>> resolve(const Target& target, TimePoint deadline,
                                                      RunControl& control, StreamRecord& record);
  // Resolves, connects and (https) handshakes a new connection; nullptr with record.error set.
  asio::awaitable<std::unique_ptr<Connection>> connect(const ProbeSpec& spec,
                                                       TimePoint connect_deadline,
                                                       RunControl& control, StreamRecord& record);
  asio::awaitable<void> run_phases(const ProbeSpec& spec, EncodedRequest encoded,
                                   StreamRecord& record, RunControl& control,
                                   TimePoint total_deadline, TimePoint connect_deadline);

  // Writes the request and reads the response. Returns true when the connection may carry another
  // request (keep-alive asked, the whole message read, the server did not say close).
  template <class Stream>
  asio::awaitable<bool> exchange(Stream& stream, const ProbeSpec& spec, EncodedRequest encoded,
                                 StreamRecord& record, TimePoint total_deadline,
                                 const RunControl& control);
};

namespace {

// The deadline of one request after it is connected. Beast's per-operation expiry would re-arm a
// timer (and often the reactor's timerfd) on every read; at hundreds of streams that cost shows
// up as client lateness. Instead each read only moves `deadline_`: the timer re-arms lazily when
// it wakes before the deadline, and at once only when the deadline moves earlier. When the
// deadline passes it closes the socket, so the pending operation fails and the run reports the
// deadline's reason. Single-threaded, like the runner.
class Watchdog : public std::enable_shared_from_this<Watchdog> {
 public:
  Watchdog(asio::any_io_executor executor, beast::tcp_stream& connection)
      : timer_(std::move(executor)), connection_(&connection) {}

  void set(Deadline deadline) {
    deadline_ = deadline;
    if (!armed_ || deadline.at < armed_at_)
      arm();
  }
  // The request is over: never touch the connection again.
  void finish() {
    connection_ = nullptr;
    timer_.cancel();
  }
  bool fired() const { return fired_; }
  ErrorReason reason() const { return deadline_.reason; }

 private:
  void arm() {
    armed_ = true;
    armed_at_ = deadline_.at;
    timer_.expires_at(armed_at_);
    timer_.async_wait([self = shared_from_this()](error_code ec) { self->on_wake(ec); });
  }
  void on_wake(error_code ec) {
    if (ec || connection_ == nullptr)
      return;  // re-armed or finished meanwhile
    armed_ = false;
    if (SteadyClock::now() < deadline_.at) {
      arm();
      return;
    }
    fired_ = true;
    error_code ignored;
    connection_->socket().close(ignored);
  }

  asio::steady_timer timer_;
  beast::tcp_stream* connection_;
  Deadline deadline_{TimePoint::max(), ErrorReason::total_timeout};
  TimePoint armed_at_{};
  bool armed_ = false;
  bool fired_ = false;
};

// Makes a failure text safe for logs and pages: the API key and secret-looking header values are
// replaced (also a key cut off at the end of a truncated text), control characters become spaces,
// and the result is at most kDetailLimit bytes.
std::string sanitize_detail(std::string text, const Target& target) {
  std::vector<std::string_view> secrets;
  if (!target.api_key.empty())
    secrets.push_back(target.api_key.reveal());
  for (const auto& [name, value] : target.headers) {
    // Short values (a timeout, a flag) are not credentials and would only garble the text.
    if (value.size() >= 8)
      secrets.push_back(value);
  }
  for (std::string_view secret : secrets) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
      text.replace(at, secret.size(), "<redacted>");
    // A secret cut off by an earlier truncation: redact any tail that starts it.
    for (std::size_t len = std::min(secret.size() - 1, text.size()); len >= 4; --len) {
      if (text.compare(text.size() - len, len, secret.substr(0, len)) == 0) {
        text.replace(text.size() - len, len, "<redacted>");
        break;
      }
    }
  }
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = ' ';
  }
  if (text.size() > kDetailLimit)
    text.resize(kDetailLimit);
  return text;
}

}  // namespace

template <class Stream>
asio::awaitable<bool> ProbeRunner::Impl::exchange(Stream& stream, const ProbeSpec& spec,
                                                  EncodedRequest encoded, StreamRecord& record,
                                                  TimePoint total_deadline,
                                                  const RunControl& control) {
  const Target& target = *spec.target;
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_never();  // the watchdog keeps the deadlines from here on
  const auto watchdog = std::make_shared<Watchdog>(executor, lowest);
  struct FinishWatchdog {
    Watchdog& dog;
    ~FinishWatchdog() { dog.finish(); }
  } finish_watchdog{*watchdog};

  http::request<http::string_body> request{http::verb::post,
                                           target.endpoint.base_path + encoded.path, 11};
  request.set(http::field::host, host_header(target.endpoint));
  request.set(http::field::user_agent, "llmprobe/" LLMPROBE_VERSION);
  request.set(http::field::content_type, "application/json");
  const Framing framing = adapter_for(target.api).framing();
  request.set(http::field::accept,
              framing == Framing::sse ? "text/event-stream" : "application/x-ndjson");
  const bool keep_alive = spec.workload->connection == ConnectionPolicy::keep_alive;
  if (!keep_alive)
    request.set(http::field::connection, "close");
  request.set("X-Request-Id", spec.request_id);
  for (const auto& [name, value] : target.headers)
    request.set(name, value);
  if (!target.api_key.empty()) {
    request.set(http::field::authorization, "Bearer " + target.api_key.reveal());
  }
  request.body() = std::move(encoded.body);
  request.prepare_payload();

  const Deadline total{total_deadline, ErrorReason::total_timeout};
  // Once aborted or past a deadline, whatever error the closed socket produced means that.
  auto fail = [&record, &control, &watchdog](ErrorReason reason, std::string detail) {
    record.error = control.aborted     ? ErrorReason::canceled
                   : watchdog->fired() ? watchdog->reason()
                                       : reason;
    record.error_detail = std::move(detail);
  };

  record.start = clock.now();
  const Deadline first_token = earliest(
      total, {record.start + target.timeouts.first_token, ErrorReason::first_token_timeout});
  watchdog->set(first_token);
  if (auto [ec, n] = co_await http::async_write(stream, request, kNoThrow); ec) {
    fail(ec.category() == asio::error::get_ssl_category() ? ErrorReason::tls
                                                          : ErrorReason::connect_error,
         "sending the request: " + ec.message());
    co_return false;
  }
  record.phases.written = clock.now();

  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(target.max_response_bytes);
  beast::flat_buffer buffer(kReadBufferLimit);

  if (auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow); ec) {
    if (watchdog->fired() || control.aborted) {
      fail(ErrorReason::connect_error, "waiting for the response header: " + ec.message());
    } else if (ec == http::error::header_limit) {
      fail(ErrorReason::too_large,
           "response header over " + std::to_string(kHeaderLimit) + " bytes");
    } else if (ec == http::error::body_limit) {
      fail(ErrorReason::too_large, "announced Content-Length over max_response_bytes (" +
                                       std::to_string(target.max_response_bytes) + ")");
    } else if (ec.category() == asio::error::get_ssl_category()) {
      // TLS 1.3 finishes the client's handshake before the server checks the client
      // certificate: a rejected (or missing) certificate arrives as an alert on the first read.
      fail(ErrorReason::tls,
           "TLS alert waiting for the response: " + ec.message() +
               (target.tls.cert_file.empty()
                    ? " (the server may require a client certificate: see tls.cert_file)"
                    : " (the server may have rejected the client certificate)"));
    } else if (is_end_of_stream(ec)) {
      fail(ErrorReason::connect_error, "connection closed before the response: " + ec.message());
    } else {
      fail(ErrorReason::protocol, "bad response header: " + ec.message());
    }
    co_return false;
  }
  TimePoint read_at = clock.now();
  record.phases.header_read = read_at;
  const auto& header = parser.get();
  record.http_status = header.result_int();

  const bool ok_status = record.http_status >= 200 && record.http_status < 300;
  if (!ok_status) {
    // Keep the start of the error body for the log: it is the server's explanation. Raw bytes
    // (with any chunk framing) from what came with the header plus at most one more read, so an
    // error body of any announced size costs at most kErrorBodyLimit.
    std::string detail = "HTTP " + std::to_string(record.http_status);
    if (buffer.size() < kErrorBodyLimit) {
      watchdog->set(earliest(total, {read_at + target.timeouts.idle, ErrorReason::idle_timeout}));
      auto [ec, n] = co_await stream.async_read_some(
          buffer.prepare(kErrorBodyLimit - buffer.size()), kNoThrow);
      buffer.commit(n);
    }
    const auto bytes = buffer.cdata();
    const std::string_view text(static_cast<const char*>(bytes.data()),
                                std::min(bytes.size(), kErrorBodyLimit));
    if (!text.empty())
      detail += ": " + std::string(text);
    fail(reason_for_http_status(record.http_status), std::move(detail));
    co_return false;
  }
  const std::string_view expected_type =
      framing == Framing::sse ? "text/event-stream" : "application/x-ndjson";
  if (const auto content_type = header[http::field::content_type];
      content_type.substr(0, expected_type.size()) != expected_type) {
    fail(ErrorReason::protocol, "expected Content-Type " + std::string(expected_type) + ", got \"" +
                                    std::string(content_type.substr(0, 64)) +
                                    "\" (does the server support stream: true?)");
    co_return false;
  }

  StreamRecorder recorder(adapter_for(target.api), record);
  using State = StreamRecorder::State;

  // Runs the HTTP parser (chunked decoding, body limit) over what is buffered, handing the body
  // bytes to the recorder stamped with the time of the read that delivered them.
  State state = State::streaming;
  bool drain_failed = false;
  auto feed = [&](TimePoint at) -> State {
    while (buffer.size() > 0 && !parser.is_done()) {
      error_code ec;
      const std::size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more)
        break;
      if (ec && state == State::finished) {
        drain_failed = true;  // the measurement is complete; only the connection is spoiled
        return state;
      }
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
        // After [DONE] the rest of the message is only read (and dropped) to reuse the connection.
        if (state == State::streaming)
          state = recorder.on_body_bytes(chunk, at);
        chunk.clear();
        if (state == State::failed)
          return state;
      }
      if (used == 0)
        break;
    }
    if (parser.is_done() && state == State::streaming)
      return recorder.on_end_of_body(true);
    return state;
  };

  // Bytes that arrived with the header belong to the header read.
  state = feed(read_at);
  // Keep-alive: after [DONE], read on to the end of the HTTP message (the last chunk normally
  // comes with [DONE]) so the connection is clean for the next request.
  auto more_to_read = [&] {
    return state == State::streaming ||
           (keep_alive && state == State::finished && !parser.is_done());
  };
  while (more_to_read()) {
    // Draining after [DONE] gets a short leash: the result is already known.
    const Duration drain_limit = std::min<Duration>(target.timeouts.idle, std::chrono::seconds(1));
    const Deadline deadline =
        state == State::finished
            ? earliest(total, {read_at + drain_limit, ErrorReason::idle_timeout})
        : recorder.has_content()
            ? earliest(total, {read_at + target.timeouts.idle, ErrorReason::idle_timeout})
            : first_token;
    if (buffer.size() + kReadChunk > kReadBufferLimit) {
      // The parser holds on to a chunk-size line or header it cannot finish: not HTTP we accept.
      fail(ErrorReason::protocol,
           "HTTP framing line over " + std::to_string(kReadBufferLimit - kReadChunk) + " bytes");
      break;
    }
    watchdog->set(deadline);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk), kNoThrow);
    read_at = clock.now();
    buffer.commit(n);
    if (n > 0)
      state = feed(read_at);
    if (drain_failed || !more_to_read())
      break;
    if (state == State::finished) {
      if (ec)
        break;  // the measurement is complete; the connection just is not reusable
      continue;
    }
    if (!ec)
      continue;
    if (is_end_of_stream(ec)) {
      // Close-delimited bodies end here properly; anything else was cut.
      error_code eof_ec;
      parser.put_eof(eof_ec);
      state = recorder.on_end_of_body(!eof_ec && parser.is_done());
    } else {
      fail(ErrorReason::truncated, "reading the stream: " + ec.message());
      state = State::failed;
    }
  }
  co_return keep_alive&& state == State::finished && !record.error && !watchdog->fired() &&
      !drain_failed && parser.is_done() && parser.keep_alive() && buffer.size() == 0;
}

ProbeRunner::ProbeRunner(asio::any_io_executor executor, const ClockSource& clock)
    : impl_(std::make_shared<Impl>(std::move(executor), clock)) {}

ProbeRunner::~ProbeRunner() = default;

void check_tls_files(const Config& config) {
  for (const Target& target : config.targets) {
    if (!target.endpoint.tls)
      continue;
    try {
      make_tls_context(target.tls);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("target " + target.name + ": tls: " + e.what());
    }
  }
}

void ProbeRunner::prepare(const std::shared_ptr<const Config>& config) {
  check_tls_files(*config);
  for (const Target& target : config->targets) {
    if (!target.endpoint.tls)
      continue;
    Impl::TargetState& state = impl_->targets[&target];
    state.config = config;
    state.tls = make_tls_context(target.tls);
  }
}

void ProbeRunner::abort_all() {
  for (const auto& [id, control] : impl_->runs)
    control->abort();
}

std::size_t ProbeRunner::in_flight() const {
  return impl_->runs.size();
}

asio::awaitable<std::vector<tcp::endpoint>> ProbeRunner::Impl::resolve(const Target& target,
                                                                       TimePoint deadline,
                                                                       RunControl& control,
                                                                       StreamRecord& record) {
  const std::string& host = target.endpoint.host;
  error_code ec;
  const asio::ip::address literal = asio::ip::make_address(host, ec);
  if (!ec)
    co_return std::vector<tcp::endpoint>{{literal, target.endpoint.port}};
  if (lookups_in_progress.load() >= kMaxLookupsInProgress) {
    record.error = ErrorReason::dns;
    record.error_detail = "resolving " + host + ": too many lookups still waiting for an answer";
    co_return std::vector<tcp::endpoint>{};
  }
  auto lookup = std::make_shared<Lookup>(executor);
  lookup->timer.expires_at(deadline);
  start_lookup(lookup, executor, host, target.endpoint.port);
  control.waiting = &lookup->timer;
  co_await lookup->timer.async_wait(kNoThrow);
  control.waiting = nullptr;
  std::lock_guard lock(lookup->mutex);
  if (control.aborted) {
    lookup->abandoned = true;
    record.error = ErrorReason::canceled;
    record.error_detail = "resolving " + host + ": canceled";
  } else if (!lookup->done) {
    lookup->abandoned = true;
    record.error = ErrorReason::dns;
    record.error_detail = "resolving " + host + ": no answer within timeouts.connect";
  } else if (!lookup->error.empty()) {
    record.error = ErrorReason::dns;
    record.error_detail = "resolving " + host + ": " + lookup->error;
  }
  co_return record.error ? std::vector<tcp::endpoint>{} : lookup->endpoints;
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
  ProbeRequest request;
  request.model = target.model;
  request.prompt = build_prompt(workload, spec.request_id);
  request.max_tokens = workload.max_tokens;
  request.ignore_eos = workload.ignore_eos;
  request.extra_body = &workload.extra_body;
  EncodedRequest encoded{adapter_for(target.api).path(request),
                         adapter_for(target.api).encode_request(request)};

  Impl::RunControl control;
  const Impl::Registration registration(*impl, control);
  co_await impl->run_phases(spec, std::move(encoded), record, control, total_deadline,
                            connect_deadline);
  if (control.aborted && record.error)
    record.error = ErrorReason::canceled;
  record.error_detail = sanitize_detail(std::move(record.error_detail), target);
  co_return record;
}

asio::awaitable<std::unique_ptr<Connection>> ProbeRunner::Impl::connect(const ProbeSpec& spec,
                                                                        TimePoint connect_deadline,
                                                                        RunControl& control,
                                                                        StreamRecord& record) {
  const Target& target = *spec.target;
  record.phases.started = clock.now();
  auto fail = [&record](ErrorReason reason, std::string detail) {
    record.error = reason;
    record.error_detail = std::move(detail);
  };
  const std::vector<tcp::endpoint> endpoints =
      co_await resolve(target, connect_deadline, control, record);
  if (record.error)
    co_return nullptr;
  record.phases.resolved = clock.now();

  auto connection = std::make_unique<Connection>();
  connection->plain = std::make_unique<beast::tcp_stream>(executor);
  beast::tcp_stream& tcp_stream = *connection->plain;
  control.connection = &tcp_stream;
  tcp_stream.expires_at(connect_deadline);
  if (auto [ec, endpoint] = co_await tcp_stream.async_connect(endpoints, kNoThrow); ec) {
    if (control.aborted || ec == asio::error::operation_aborted) {
      fail(ErrorReason::canceled, "connecting: canceled");
    } else if (ec == beast::error::timeout) {
      fail(ErrorReason::connect_timeout, "connecting: no answer within timeouts.connect");
    } else if (ec == asio::error::connection_refused) {
      fail(ErrorReason::connect_refused, "connecting: " + ec.message());
    } else {
      fail(ErrorReason::connect_error, "connecting: " + ec.message());
    }
    co_return nullptr;
  }
  record.phases.connected = clock.now();
  if (control.aborted) {
    fail(ErrorReason::canceled, "canceled after connecting");
    co_return nullptr;
  }
  error_code ignored;
  tcp_stream.socket().set_option(tcp::no_delay(true), ignored);
  if (!target.endpoint.tls)
    co_return connection;

  std::shared_ptr<ssl::context> context;
  try {
    context = tls_context_for(spec);
  } catch (const boost::system::system_error& e) {
    fail(ErrorReason::tls, std::string("loading the TLS files of the target: ") + e.what());
    co_return nullptr;
  }
  connection->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(
      std::move(*connection->plain), *context);
  connection->plain.reset();
  connection->tls_context = context;
  auto& tls_stream = *connection->secure;
  control.connection = &beast::get_lowest_layer(tls_stream);
  const std::string& tls_name =
      target.tls.server_name.empty() ? target.endpoint.host : target.tls.server_name;
  if (!is_ip_literal(tls_name)) {
    // SNI: name-based virtual hosts (and most proxies) need it to pick the certificate.
    SSL_set_tlsext_host_name(tls_stream.native_handle(), tls_name.c_str());
  }
  // Asio's name check rejects without an OpenSSL error code; remember that it was the name.
  auto name_mismatch = std::make_shared<bool>(false);
  if (!target.tls.insecure_skip_verify) {
    tls_stream.set_verify_callback([check = ssl::host_name_verification(tls_name), name_mismatch](
                                       bool preverified, ssl::verify_context& context) mutable {
      const bool ok = check(preverified, context);
      if (preverified && !ok)
        *name_mismatch = true;
      return ok;
    });
  }
  control.connection->expires_at(connect_deadline);
  if (auto [ec] = co_await tls_stream.async_handshake(ssl::stream_base::client, kNoThrow); ec) {
    if (control.aborted || ec == asio::error::operation_aborted) {
      fail(ErrorReason::canceled, "TLS handshake: canceled");
    } else if (ec == beast::error::timeout) {
      fail(ErrorReason::connect_timeout, "TLS handshake: no answer within timeouts.connect");
    } else {
      fail(ErrorReason::tls,
           *name_mismatch ? "TLS handshake failed: the server's certificate does not name \"" +
                                tls_name + "\" (set tls.server_name to the name it carries)"
                          : tls_error_detail(tls_stream.native_handle(), ec));
    }
    co_return nullptr;
  }
  record.phases.tls_done = clock.now();
  co_return connection;
}

asio::awaitable<void> ProbeRunner::Impl::run_phases(const ProbeSpec& spec, EncodedRequest encoded,
                                                    StreamRecord& record, RunControl& control,
                                                    TimePoint total_deadline,
                                                    TimePoint connect_deadline) {
  const Target& target = *spec.target;
  const bool keep_alive = spec.workload->connection == ConnectionPolicy::keep_alive;
  struct Forget {
    RunControl& control;
    ~Forget() { control.connection = nullptr; }
  } forget{control};

  std::unique_ptr<Connection> connection = keep_alive ? take_idle(spec) : nullptr;
  const bool reused = connection != nullptr;
  if (!connection) {
    connection = co_await connect(spec, connect_deadline, control, record);
    if (!connection)
      co_return;
  }
  control.connection = &connection->lowest();
  bool reusable =
      co_await connection->exchange_on(*this, spec, encoded, record, total_deadline, control);

  // A pooled connection the server closed just as we took it fails while the request is written:
  // the server saw nothing, so try once more on a new connection. (Once the request went out, a
  // closed connection may be the server failing on it, and is counted.)
  if (reused && record.error == ErrorReason::connect_error && !record.phases.written &&
      !control.aborted) {
    const TimePoint scheduled = record.scheduled_start;
    const TimePoint begin = record.begin;
    record = StreamRecord{};
    record.scheduled_start = scheduled;
    record.begin = begin;
    control.connection = nullptr;
    connection = co_await connect(
        spec, std::min(total_deadline, clock.now() + target.timeouts.connect), control, record);
    if (!connection)
      co_return;
    control.connection = &connection->lowest();
    reusable =
        co_await connection->exchange_on(*this, spec, encoded, record, total_deadline, control);
  }
  if (keep_alive && reusable)
    put_idle(spec, std::move(connection));
}

}  // namespace llmprobe
