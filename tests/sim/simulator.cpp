// The simulator's I/O half: an HTTP/1.1 server on Beast/Asio coroutines. It writes streaming
// responses with its own chunked framing (so faults can break the framing on purpose), paces
// events on absolute deadlines (no drift), and records when each event write returned.
#include "simulator.hpp"

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <unordered_set>

#include "sim_internal.hpp"

namespace llmprobe::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr auto kRequestReadDeadline = 10s;  // headers and body of one request
constexpr std::size_t kLongLineBytes = 2 * 1024 * 1024;
// The accept cap: above the 2048 streams of the client benchmark, below typical fd limits.
constexpr std::size_t kMaxConnections = 8192;
constexpr auto kStopGracePeriod = 3s;
constexpr auto kHandshakeDeadline = 10s;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

void log_line(const std::string& line) {
  // One fprintf per line: stdio locks the stream, so lines from several threads do not mix.
  std::fprintf(stderr, "llmprobe-sim: %s\n", line.c_str());
}

// A co_spawn completion handler that reports what would otherwise vanish with `detached`.
auto log_exceptions(const char* what) {
  return [what](std::exception_ptr error) {
    if (!error) {
      return;
    }
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log_line(std::string(what) + ": " + e.what());
    } catch (...) {
      log_line(std::string(what) + ": unknown exception");
    }
  };
}

std::string_view view(beast::string_view text) {
  return {text.data(), text.size()};
}

std::int64_t to_ns(SimClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
          return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
          return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
          return c - 'A' + 10;
        }
        return -1;
      };
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += text[i] == '+' ? ' ' : text[i];
  }
  return out;
}

// The value of `key` in a query string, percent-decoded.
std::optional<std::string> query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

boost::json::object truth_to_json(const RequestTruth& truth) {
  boost::json::object out;
  out["request_id"] = truth.request_id;
  out["path"] = truth.path;
  out["flavor"] = truth.flavor;
  out["model"] = truth.model;
  out["fault"] = truth.fault;
  out["status"] = truth.status;
  out["stream"] = truth.stream;
  out["received_at_ns"] = to_ns(truth.received_at);
  out["started_at_ns"] = to_ns(truth.started_at);
  out["queued_for_ns"] = truth.queued_for.count();
  boost::json::array batch_sizes;
  for (const int n : truth.batch_sizes) {
    batch_sizes.push_back(n);
  }
  out["batch_sizes"] = std::move(batch_sizes);
  boost::json::array times;
  for (const auto t : truth.content_event_times) {
    times.push_back(to_ns(t));
  }
  out["content_event_times_ns"] = std::move(times);
  boost::json::array tokens;
  for (const int n : truth.tokens_per_content_event) {
    tokens.push_back(n);
  }
  out["tokens_per_content_event"] = std::move(tokens);
  out["prompt_tokens"] = truth.prompt_tokens;
  out["output_tokens"] = truth.output_tokens;
  out["usage_sent"] = truth.usage_sent;
  out["completed"] = truth.completed;
  const auto put = [&out](const char* key, const std::optional<std::chrono::nanoseconds>& value) {
    if (value) {
      out[key] = value->count();
    } else {
      out[key] = nullptr;
    }
  };
  put("reported_queue_ns", truth.reported_queue);
  put("reported_prefill_ns", truth.reported_prefill);
  put("reported_decode_ns", truth.reported_decode);
  put("reported_total_ns", truth.reported_total);
  out["connection_id"] = truth.connection_id;
  out["request_on_connection"] = truth.request_on_connection;
  return out;
}

// One accepted connection. Everything in it is touched only on its executor (a strand when the
// simulator runs several threads), including by stop(), which posts close() there. The base holds
// what the concurrency queue and stop() need; the stream type (plain TCP or TLS) is in the
// derived Connection<Stream>, so the plain path pays nothing for TLS.
struct ConnectionBase {
  explicit ConnectionBase(const asio::any_io_executor& executor)
      : pace_timer(executor), queue_timer(executor) {}
  virtual ~ConnectionBase() = default;
  ConnectionBase(const ConnectionBase&) = delete;
  ConnectionBase& operator=(const ConnectionBase&) = delete;

  virtual void close() = 0;

  asio::steady_timer pace_timer;   // the next event's absolute deadline
  asio::steady_timer queue_timer;  // parked here while waiting for a concurrency slot
  bool closing = false;
  bool granted = false;  // a concurrency slot was handed over while queued
  std::uint64_t id = 0;
  std::uint64_t requests = 0;  // requests read on this connection so far
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
struct Connection final : ConnectionBase {
  explicit Connection(tcp::socket socket) requires std::is_same_v<Stream, PlainStream>
      : ConnectionBase(socket.get_executor()), stream(std::move(socket)) {}
  Connection(tcp::socket socket, ssl::context& context) requires std::is_same_v<Stream, TlsStream>
      : ConnectionBase(socket.get_executor()), stream(std::move(socket), context) {}

  void close() override {
    closing = true;
    pace_timer.cancel();
    queue_timer.cancel();
    auto& lowest = beast::get_lowest_layer(stream);
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest.close();
  }

  // Where raw bytes go: the socket itself for plain TCP (no timeout bookkeeping per write).
  auto& raw() {
    if constexpr (std::is_same_v<Stream, PlainStream>) {
      return stream.socket();
    } else {
      return stream;
    }
  }

  Stream stream;
};

// One request in the load model's engine. The fixed part is set before it is queued; the rest is
// under Impl::engine_mutex.
struct EngineSeq {
  int prompt_tokens = 0;
  int target_tokens = 0;
  std::weak_ptr<ConnectionBase> conn;  // woken (pace_timer cancelled) after each of its steps
  bool admitted = false;
  bool cancelled = false;  // the request ended: the engine drops it at its next step
  SimClock::time_point admitted_at{};
  int produced = 0;
  std::vector<SimClock::time_point> step_ends;  // per token: the end of the step producing it
  std::vector<int> batch_sizes;                 // per token: running sequences in that step
};

}  // namespace

struct Simulator::Impl {
  explicit Impl(Options opts)
      : options(std::move(opts)),
        rng(options.seed),
        io(options.threads > 1 ? options.threads : 1) {}

  // --- state shared with any thread (each part under its own mutex) ---
  Options options;

  mutable std::mutex truth_mutex;
  std::deque<RequestTruth> truths;
  std::atomic<std::size_t> seen{0};
  std::atomic<std::uint64_t> next_request_number{0};
  std::atomic<std::size_t> accepted{0};
  std::atomic<std::size_t> handshake_failures{0};

  std::mutex rng_mutex;
  std::mt19937_64 rng;

  std::mutex queue_mutex;
  int active = 0;  // requests holding a concurrency slot
  std::deque<std::shared_ptr<ConnectionBase>> waiters;

  std::mutex connections_mutex;
  std::condition_variable connections_done;
  std::unordered_set<std::shared_ptr<ConnectionBase>> connections;
  bool accepting = false;  // the accept loop is running (under connections_mutex)

  std::atomic<bool> stopping{false};
  std::atomic<bool> io_stopped{false};

  // --- the load model's engine (Options::load_model); state under engine_mutex, the timer
  // only touched on engine_strand ---
  std::mutex engine_mutex;
  std::deque<std::shared_ptr<EngineSeq>> engine_waiting;
  std::vector<std::shared_ptr<EngineSeq>> engine_running;
  bool engine_busy = false;  // a step is scheduled or running

  // --- I/O; declared last so it is destroyed first, before the state its handlers use ---
  std::optional<ssl::context> tls;  // set when the listener speaks TLS
  asio::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::vector<std::thread> threads;
  bool started = false;
  bool stopped = false;
  asio::strand<asio::io_context::executor_type> engine_strand{asio::make_strand(io)};
  asio::steady_timer engine_timer{engine_strand};

  asio::any_io_executor connection_executor() {
    // A strand per connection only when several threads could run its handlers.
    if (options.threads > 1) {
      return asio::make_strand(io);
    }
    return io.get_executor();
  }

  std::chrono::nanoseconds draw(const DelaySpec& spec) {
    if (spec.kind == DelaySpec::Kind::fixed) {
      return spec.a;  // no lock on the common path
    }
    std::lock_guard lock(rng_mutex);
    return detail::draw_delay(spec, rng);
  }

  void record(RequestTruth truth) {
    std::lock_guard lock(truth_mutex);
    truths.push_back(std::move(truth));
    while (truths.size() > options.max_truth_records) {
      truths.pop_front();
    }
  }

  // --- concurrency slots: FIFO hand-over, so queued requests start in arrival order ---
  void release_slot() {
    std::shared_ptr<ConnectionBase> next;
    {
      std::lock_guard lock(queue_mutex);
      if (waiters.empty()) {
        --active;
        return;
      }
      next = std::move(waiters.front());
      waiters.pop_front();
    }
    if (io_stopped) {
      return;
    }
    // The slot passes directly to the next waiter; granted is set on its own executor.
    asio::post(next->queue_timer.get_executor(), [next] {
      next->granted = true;
      next->queue_timer.cancel();
    });
  }

  asio::awaitable<bool> acquire_slot(std::shared_ptr<ConnectionBase> conn) {
    {
      std::lock_guard lock(queue_mutex);
      if (active < options.max_concurrency) {
        ++active;
        co_return true;
      }
      conn->granted = false;
      waiters.push_back(conn);
    }
    // The grant is posted to this connection's executor, so it cannot run before this wait
    // starts: no lost wake-up.
    conn->queue_timer.expires_at(SimClock::time_point::max());
    for (;;) {
      co_await conn->queue_timer.async_wait(use_tuple);
      if (conn->granted) {
        co_return true;
      }
      if (conn->closing) {
        bool still_queued = false;
        {
          std::lock_guard lock(queue_mutex);
          const auto it = std::find(waiters.begin(), waiters.end(), conn);
          if (it != waiters.end()) {
            waiters.erase(it);
            still_queued = true;
          }
        }
        if (!still_queued) {
          release_slot();  // a grant was already on its way: pass the slot on
        }
        co_return false;
      }
    }
  }

  // --- the load model's engine: one timer loop, steps on absolute deadlines ---
  std::shared_ptr<EngineSeq> engine_enqueue(const std::shared_ptr<ConnectionBase>& conn,
                                            int prompt_tokens, int target_tokens) {
    auto seq = std::make_shared<EngineSeq>();
    seq->prompt_tokens = prompt_tokens;
    seq->target_tokens = target_tokens;
    seq->conn = conn;
    bool start = false;
    {
      std::lock_guard lock(engine_mutex);
      engine_waiting.push_back(seq);
      if (!engine_busy) {
        engine_busy = true;
        start = true;
      }
    }
    if (start) {
      // An idle engine starts a step now; a busy one admits the newcomer at its next step.
      asio::post(engine_strand, [this] { engine_begin_step(SimClock::now()); });
    }
    return seq;
  }

  // On engine_strand. Admits what fits, then schedules the step's end.
  void engine_begin_step(SimClock::time_point start) {
    const auto& model = options.load_model;
    std::chrono::nanoseconds duration{0};
    {
      std::lock_guard lock(engine_mutex);
      std::erase_if(engine_running, [](const auto& seq) { return seq->cancelled; });
      std::erase_if(engine_waiting, [](const auto& seq) { return seq->cancelled; });
      double prefill_tokens = 0;
      while (!engine_waiting.empty() &&
             engine_running.size() < static_cast<std::size_t>(model.max_running)) {
        auto seq = std::move(engine_waiting.front());
        engine_waiting.pop_front();
        seq->admitted = true;
        seq->admitted_at = start;
        prefill_tokens += seq->prompt_tokens;
        engine_running.push_back(std::move(seq));
      }
      if (engine_running.empty()) {
        engine_busy = false;
        return;
      }
      duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::duration<double>(prefill_tokens / model.prefill_tokens_per_s)) +
                 model.decode_step_base +
                 model.decode_step_per_seq * static_cast<std::int64_t>(engine_running.size());
    }
    const auto end = start + duration;
    engine_timer.expires_at(end);
    engine_timer.async_wait([this, end](const boost::system::error_code& ec) {
      if (!ec && !io_stopped) {
        engine_end_step(end);
      }
    });
  }

  // On engine_strand, at the step's deadline: one token to every running sequence, then the
  // next step starts at this deadline (not at now(): no drift).
  void engine_end_step(SimClock::time_point end) {
    std::vector<std::shared_ptr<ConnectionBase>> wake;
    {
      std::lock_guard lock(engine_mutex);
      const int batch = static_cast<int>(engine_running.size());
      for (const auto& seq : engine_running) {
        if (seq->cancelled) {
          continue;
        }
        ++seq->produced;
        seq->step_ends.push_back(end);
        seq->batch_sizes.push_back(batch);
        if (auto conn = seq->conn.lock()) {
          wake.push_back(std::move(conn));
        }
      }
      std::erase_if(engine_running, [](const auto& seq) {
        return seq->cancelled || seq->produced >= seq->target_tokens;
      });
    }
    for (auto& conn : wake) {
      if (io_stopped) {
        break;
      }
      // Posted to the connection's executor: it cannot run between the connection's check of
      // its tokens and the start of its wait (no lost wake-up).
      asio::post(conn->pace_timer.get_executor(), [conn] { conn->pace_timer.cancel(); });
    }
    engine_begin_step(end);
  }

  // Waits until `seq` has `needed` tokens; the end of the step that produced the last of them,
  // or nullopt when the connection closes.
  static asio::awaitable<std::optional<SimClock::time_point>> await_tokens(ConnectionBase& conn,
                                                                           std::mutex& mutex,
                                                                           const EngineSeq& seq,
                                                                           int needed) {
    for (;;) {
      if (conn.closing) {
        co_return std::nullopt;
      }
      {
        std::lock_guard lock(mutex);
        if (seq.produced >= needed) {
          co_return needed > 0 ? seq.step_ends[static_cast<std::size_t>(needed - 1)]
                               : SimClock::now();
        }
      }
      conn.pace_timer.expires_at(SimClock::time_point::max());
      co_await conn.pace_timer.async_wait(use_tuple);
    }
  }

  // --- I/O helpers ---
  template <class Stream>
  static asio::awaitable<bool> write_raw(Connection<Stream>& conn, std::string_view bytes) {
    // `bytes` points into the caller's frame, which awaits this coroutine: it stays valid.
    auto [ec, n] = co_await asio::async_write(conn.raw(), asio::buffer(bytes), use_tuple);
    co_return !ec && !conn.closing;
  }

  // One SSE event as one HTTP chunk: size line, payload, CRLF, gathered in a single write.
  template <class Stream>
  static asio::awaitable<bool> write_chunk(Connection<Stream>& conn, std::string_view payload) {
    std::array<char, 24> size_line{};
    const int size_length =
        std::snprintf(size_line.data(), size_line.size(), "%zx\r\n", payload.size());
    const std::array<asio::const_buffer, 3> buffers{
        asio::buffer(size_line.data(), static_cast<std::size_t>(size_length)),
        asio::buffer(payload), asio::buffer("\r\n", 2)};
    auto [ec, n] = co_await asio::async_write(conn.raw(), buffers, use_tuple);
    co_return !ec && !conn.closing;
  }

  static asio::awaitable<bool> wait_until(ConnectionBase& conn, SimClock::time_point deadline) {
    if (conn.closing) {
      co_return false;
    }
    conn.pace_timer.expires_at(deadline);
    auto [ec] = co_await conn.pace_timer.async_wait(use_tuple);
    co_return !ec && !conn.closing;
  }

  // Do nothing until the client goes away (or stop()): a pending read sees the disconnect.
  template <class Stream>
  static asio::awaitable<void> stall(Connection<Stream>& conn) {
    std::array<char, 512> sink{};
    for (;;) {
      auto [ec, n] = co_await conn.raw().async_read_some(asio::buffer(sink), use_tuple);
      if (ec || conn.closing) {
        co_return;
      }
    }
  }

  template <class Stream>
  static asio::awaitable<bool> send_response(Connection<Stream>& conn, http::status status,
                                             std::string body, bool keep_alive,
                                             std::string_view content_type = "application/json") {
    http::response<http::string_body> response{status, 11};
    response.set(http::field::server, "llmprobe-sim");
    response.set(http::field::content_type, content_type);
    response.keep_alive(keep_alive);
    response.body() = std::move(body);
    response.prepare_payload();
    auto [ec, n] = co_await http::async_write(conn.stream, response, use_tuple);
    co_return !ec && keep_alive && !conn.closing;
  }

  // --- sessions ---
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(connection_executor(), use_tuple);
      if (stopping) {
        break;
      }
      if (ec) {
        if (ec == asio::error::operation_aborted) {
          break;
        }
        // Out of file descriptors and the like: back off instead of spinning.
        log_line("accept failed: " + ec.message());
        asio::steady_timer backoff(co_await asio::this_coro::executor, 50ms);
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // events are small and latency-critical
      ++accepted;
      if (tls) {
        admit(std::make_shared<Connection<TlsStream>>(std::move(socket), *tls));
      } else {
        admit(std::make_shared<Connection<PlainStream>>(std::move(socket)));
      }
    }
    std::lock_guard lock(connections_mutex);
    accepting = false;
    connections_done.notify_all();
  }

  template <class Stream>
  void admit(std::shared_ptr<Connection<Stream>> conn) {
    {
      std::lock_guard lock(connections_mutex);
      if (stopping || connections.size() >= kMaxConnections) {
        conn->close();
        return;
      }
      conn->id = accepted;
      connections.insert(conn);
    }
    auto executor = conn->stream.get_executor();
    asio::co_spawn(executor, session(conn), log_exceptions("session"));
  }

  template <class Stream>
  asio::awaitable<void> session(std::shared_ptr<Connection<Stream>> conn) {
    // Whatever ends the session, the connection leaves the registry (stop() waits for that).
    struct Unregister {
      Impl& impl;
      std::shared_ptr<ConnectionBase> conn;
      ~Unregister() {
        std::lock_guard lock(impl.connections_mutex);
        impl.connections.erase(conn);
        if (impl.connections.empty()) {
          impl.connections_done.notify_all();
        }
      }
    } unregister{*this, conn};

    if constexpr (std::is_same_v<Stream, TlsStream>) {
      auto& lowest = beast::get_lowest_layer(conn->stream);
      lowest.expires_after(kHandshakeDeadline);
      auto [ec] = co_await conn->stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (ec || conn->closing) {
        if (!conn->closing) {
          ++handshake_failures;
        }
        conn->close();
        co_return;
      }
      lowest.expires_never();
    }

    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      beast::get_lowest_layer(conn->stream).expires_after(kRequestReadDeadline);
      auto [ec, n] = co_await http::async_read(conn->stream, buffer, parser, use_tuple);
      if (ec == http::error::body_limit) {
        beast::get_lowest_layer(conn->stream).expires_never();
        co_await send_response(
            *conn, http::status::payload_too_large,
            detail::error_body("request body exceeds 1 MiB", "BadRequestError", 413), false);
        break;
      }
      if (ec || conn->closing) {
        break;  // client closed, read deadline, or stop()
      }
      beast::get_lowest_layer(conn->stream).expires_never();
      const auto received_at = SimClock::now();
      ++conn->requests;
      const bool keep_alive = co_await handle(conn, parser.release(), received_at);
      if (!keep_alive || conn->closing) {
        break;
      }
    }
    conn->close();
  }

  // The generation endpoint a path names, and the model a Triton path carries.
  static std::optional<detail::Endpoint> generation_endpoint(std::string_view path,
                                                             std::string& path_model) {
    using detail::Endpoint;
    if (path == "/v1/completions") {
      return Endpoint::completions;
    }
    if (path == "/v1/chat/completions") {
      return Endpoint::chat;
    }
    if (path == "/generate_stream") {
      return Endpoint::tgi;
    }
    if (path == "/infer") {
      return Endpoint::mindie;
    }
    if (path == "/api/chat") {
      return Endpoint::ollama_chat;
    }
    if (path == "/api/generate") {
      return Endpoint::ollama_generate;
    }
    constexpr std::string_view triton_head = "/v2/models/";
    constexpr std::string_view triton_tail = "/generate_stream";
    if (path.starts_with(triton_head) && path.ends_with(triton_tail) &&
        path.size() > triton_head.size() + triton_tail.size()) {
      const auto model =
          path.substr(triton_head.size(), path.size() - triton_head.size() - triton_tail.size());
      if (model.find('/') == std::string_view::npos) {
        path_model = percent_decode(model);
        return Endpoint::triton;
      }
    }
    return std::nullopt;
  }

  template <class Stream>
  asio::awaitable<bool> handle(std::shared_ptr<Connection<Stream>> conn,
                               http::request<http::string_body> request,
                               SimClock::time_point received_at) {
    const auto target = view(request.target());
    const auto question = target.find('?');
    const auto path = target.substr(0, question);
    const auto query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
    const bool keep_alive = request.keep_alive();
    const auto method = request.method();
    const auto not_allowed = [&]() {
      return send_response(*conn, http::status::method_not_allowed,
                           detail::error_body("method not allowed", "BadRequestError", 405),
                           keep_alive);
    };

    std::string path_model;
    if (const auto endpoint = generation_endpoint(path, path_model)) {
      if (method != http::verb::post) {
        co_return co_await not_allowed();
      }
      // Copied before `request` is moved: `path` points into it.
      auto path_text = std::string(path);
      co_return co_await generate(conn, std::move(request), std::move(path_text),
                                  std::move(path_model), received_at, *endpoint);
    }
    if (path == "/health") {
      if (method != http::verb::get) {
        co_return co_await not_allowed();
      }
      co_return co_await send_response(*conn, http::status::ok, R"({"status":"ok"})", keep_alive);
    }
    if (path == "/v1/models") {
      if (method != http::verb::get) {
        co_return co_await not_allowed();
      }
      co_return co_await send_response(
          *conn, http::status::ok,
          R"({"object":"list","data":[{"id":"llmprobe-sim","object":"model","created":0,)"
          R"("owned_by":"llmprobe-sim"}]})",
          keep_alive);
    }
    if (path == "/sim/truth") {
      if (method != http::verb::get) {
        co_return co_await not_allowed();
      }
      const auto id = query_value(query, "id");
      boost::json::array records;
      {
        std::lock_guard lock(truth_mutex);
        for (const auto& truth : truths) {
          if (!id || truth.request_id == *id) {
            records.push_back(truth_to_json(truth));
          }
        }
      }
      co_return co_await send_response(*conn, http::status::ok, boost::json::serialize(records),
                                       keep_alive);
    }
    if (path == "/sim/reset") {
      if (method != http::verb::post) {
        co_return co_await not_allowed();
      }
      {
        std::lock_guard lock(truth_mutex);
        truths.clear();
      }
      co_return co_await send_response(*conn, http::status::ok, "{}", keep_alive);
    }
    co_return co_await send_response(
        *conn, http::status::not_found,
        detail::error_body("no such path: " + std::string(path), "NotFoundError", 404), keep_alive);
  }

  // Commits the truth of one request however the request ends (finished, faulted, client gone,
  // or the coroutine destroyed at shutdown).
  struct TruthCommit {
    Impl& impl;
    RequestTruth truth;
    ~TruthCommit() { impl.record(std::move(truth)); }
  };

  // Releases a concurrency slot when the request ends, however it ends.
  struct SlotGuard {
    Impl* impl = nullptr;
    ~SlotGuard() {
      if (impl != nullptr && !impl->io_stopped) {
        impl->release_slot();
      }
    }
  };

  template <class Stream>
  asio::awaitable<bool> generate(std::shared_ptr<Connection<Stream>> conn,
                                 http::request<http::string_body> request, std::string path,
                                 std::string path_model, SimClock::time_point received_at,
                                 detail::Endpoint endpoint) {
    ++seen;
    const auto number = ++next_request_number;
    const bool keep_alive = request.keep_alive();
    TruthCommit commit{*this, {}};
    auto& truth = commit.truth;
    truth.request_id = std::string(view(request["x-request-id"]));
    if (truth.request_id.empty()) {
      truth.request_id = "sim-" + std::to_string(number);
    }
    truth.path = std::move(path);
    truth.received_at = received_at;
    truth.started_at = received_at;
    truth.connection_id = conn->id;
    truth.request_on_connection = conn->requests;

    const detail::SimHeaders headers{view(request["x-sim-ttft"]),
                                     view(request["x-sim-itl"]),
                                     view(request["x-sim-tokens-per-event"]),
                                     view(request["x-sim-output-tokens"]),
                                     view(request["x-sim-fault"]),
                                     view(request["x-sim-style"])};
    auto planned = detail::make_plan(endpoint, request.body(), headers, options, path_model);
    if (auto* error = std::get_if<detail::PlanError>(&planned)) {
      truth.status = error->status;
      truth.fault = std::string(headers.fault.empty() ? options.fault : headers.fault);
      const bool ok = co_await send_response(
          *conn, static_cast<http::status>(error->status),
          detail::flavor_error_body(endpoint, error->message, "BadRequestError", error->status),
          keep_alive);
      truth.completed = true;
      co_return ok;
    }
    const auto& plan = std::get<detail::Plan>(planned);
    truth.flavor = plan.flavor();
    truth.model = plan.model;
    truth.fault = plan.fault_text;
    truth.stream = plan.stream;
    truth.prompt_tokens = plan.prompt_tokens;

    if (plan.fault.kind == detail::FaultKind::status) {
      truth.status = plan.fault.status;
      const bool ok = co_await send_response(
          *conn, static_cast<http::status>(plan.fault.status),
          detail::flavor_error_body(
              endpoint, "simulated failure (fault " + plan.fault_text + ")",
              plan.fault.status < 500 ? "BadRequestError" : "InternalServerError",
              plan.fault.status),
          keep_alive);
      truth.completed = true;
      co_return ok;
    }

    if (plan.fault.kind == detail::FaultKind::echo_auth) {
      // Some servers quote a rejected key back; the daemon must not pass it on.
      truth.status = 401;
      const bool ok = co_await send_response(
          *conn, http::status::unauthorized,
          detail::flavor_error_body(
              endpoint,
              "invalid credentials: " + std::string(view(request[http::field::authorization])),
              "AuthenticationError", 401),
          keep_alive);
      truth.completed = true;
      co_return ok;
    }

    SlotGuard slot;
    if (options.max_concurrency > 0) {
      if (!co_await acquire_slot(conn)) {
        co_return false;
      }
      slot.impl = this;
    }
    truth.started_at = SimClock::now();
    truth.queued_for = truth.started_at - truth.received_at;
    // Under the load model the engine produces the tokens; the guard takes the request out of
    // the engine however it ends and copies what the engine did into the truth.
    struct EngineGuard {
      Impl& impl;
      RequestTruth& truth;
      std::shared_ptr<EngineSeq> seq;
      ~EngineGuard() {
        if (!seq) {
          return;
        }
        std::lock_guard lock(impl.engine_mutex);
        seq->cancelled = true;
        if (seq->admitted) {
          truth.started_at = seq->admitted_at;
          truth.queued_for = seq->admitted_at - truth.received_at;
        } else {
          truth.queued_for = SimClock::now() - truth.received_at;
        }
        const auto sent = std::min(seq->batch_sizes.size(),
                                   static_cast<std::size_t>(std::max(truth.output_tokens, 0)));
        truth.batch_sizes.assign(seq->batch_sizes.begin(),
                                 seq->batch_sizes.begin() + static_cast<std::ptrdiff_t>(sent));
      }
    } engine{*this, truth, nullptr};
    if (options.load_model.enabled && plan.output_tokens > 0) {
      engine.seq = engine_enqueue(conn, plan.prompt_tokens, plan.output_tokens);
    }
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    detail::EventBuilder events(plan, "sim" + std::to_string(number), created);
    if (plan.stream) {
      co_return co_await stream_events(*conn, plan, events, truth, keep_alive, engine.seq.get());
    }
    co_return co_await respond_whole(*conn, plan, events, truth, keep_alive, engine.seq.get());
  }

  // Under the load model: the request left the queue when the engine admitted it.
  void note_admission(RequestTruth& truth, const EngineSeq& seq) {
    std::lock_guard lock(engine_mutex);
    if (seq.admitted) {
      truth.started_at = seq.admitted_at;
      truth.queued_for = seq.admitted_at - truth.received_at;
    }
  }

  // Ollama's durations, in what the simulator actually did (see simulator.hpp); recorded as
  // reported in the truth.
  static detail::OllamaTimings ollama_timings(RequestTruth& truth, SimClock::time_point end) {
    using std::chrono::nanoseconds;
    const auto first = truth.content_event_times.empty() ? end : truth.content_event_times.front();
    const auto last = truth.content_event_times.empty() ? end : truth.content_event_times.back();
    truth.reported_queue = nanoseconds(truth.started_at - truth.received_at);
    truth.reported_prefill = nanoseconds(first - truth.started_at);
    truth.reported_decode = nanoseconds(last - first);
    truth.reported_total = nanoseconds(end - truth.received_at);
    return {truth.reported_total->count(), truth.reported_queue->count(),
            truth.reported_prefill->count(), truth.reported_decode->count()};
  }

  template <class Stream>
  asio::awaitable<bool> respond_whole(Connection<Stream>& conn, const detail::Plan& plan,
                                      detail::EventBuilder& events, RequestTruth& truth,
                                      bool keep_alive, const EngineSeq* seq) {
    using detail::FaultKind;
    if (plan.fault.kind == FaultKind::stall_before_first ||
        plan.fault.kind == FaultKind::stall_after_first) {
      co_await stall(conn);
      truth.completed = !stopping;
      co_return false;
    }
    std::chrono::nanoseconds ttft{0};
    if (seq != nullptr) {
      if (!co_await await_tokens(conn, engine_mutex, *seq, plan.output_tokens)) {
        co_return false;
      }
      note_admission(truth, *seq);
      std::lock_guard lock(engine_mutex);
      ttft = seq->step_ends.front() - seq->admitted_at;
    } else {
      ttft = draw(plan.ttft);
      auto deadline = truth.started_at + ttft;
      for (int gap = 1; gap < plan.content_events(); ++gap) {
        deadline += draw(plan.itl);
      }
      if (!co_await wait_until(conn, deadline)) {
        co_return false;
      }
    }
    if (plan.fault.kind == FaultKind::close_mid_stream) {
      conn.close();
      truth.completed = true;
      co_return false;
    }
    detail::OllamaTimings timings;
    if (detail::is_ollama(plan.endpoint)) {
      // One object: prefill is the TTFT drawn, eval the rest of the generation.
      const auto now = SimClock::now();
      truth.reported_queue = std::chrono::nanoseconds(truth.started_at - truth.received_at);
      truth.reported_prefill = ttft;
      truth.reported_decode = std::chrono::nanoseconds(now - truth.started_at) - ttft;
      truth.reported_total = std::chrono::nanoseconds(now - truth.received_at);
      timings = {truth.reported_total->count(), truth.reported_queue->count(),
                 truth.reported_prefill->count(), truth.reported_decode->count()};
    }
    const bool ok = co_await send_response(
        conn, http::status::ok, events.full_response(plan.output_tokens, timings), keep_alive);
    if (!conn.closing) {
      truth.content_event_times.push_back(SimClock::now());
      truth.tokens_per_content_event.push_back(plan.output_tokens);
      truth.output_tokens = plan.output_tokens;
      truth.usage_sent = plan.endpoint != detail::Endpoint::mindie || plan.details;
      truth.completed = true;
    }
    co_return ok;
  }

  template <class Stream>
  asio::awaitable<bool> stream_events(Connection<Stream>& conn, const detail::Plan& plan,
                                      detail::EventBuilder& events, RequestTruth& truth,
                                      bool keep_alive, const EngineSeq* seq) {
    using detail::Endpoint;
    using detail::FaultKind;
    const auto fault = plan.fault.kind;
    const bool openai = detail::is_openai(plan.endpoint);
    const bool tgi_shaped = detail::is_tgi_shaped(plan.endpoint);
    const bool ollama = detail::is_ollama(plan.endpoint);
    const bool mindie_timings = plan.endpoint == Endpoint::mindie;
    std::string header = "HTTP/1.1 200 OK\r\nServer: llmprobe-sim\r\nContent-Type: ";
    header += plan.content_type();
    header += "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
    if (!keep_alive) {
      header += "Connection: close\r\n";
    }
    header += "X-Request-Id: " + truth.request_id + "\r\n\r\n";
    if (!co_await write_raw(conn, header)) {
      co_return false;
    }
    if (plan.endpoint == Endpoint::chat && options.role_chunk) {
      if (!co_await write_chunk(conn, events.role_event())) {
        co_return false;
      }
    }
    if (fault == FaultKind::stall_before_first) {
      co_await stall(conn);
      truth.completed = !stopping;
      co_return false;
    }

    // Server timings are reported in whole microseconds: the truth records exactly what was
    // written.
    const auto to_us = [](std::chrono::nanoseconds delay) {
      return std::chrono::round<std::chrono::microseconds>(delay).count();
    };
    const int total_events = plan.content_events();
    const int events_before_close =
        fault == FaultKind::close_mid_stream ? total_events / 2 : total_events;
    const bool with_details = fault != FaultKind::no_usage && (!tgi_shaped || plan.details);
    auto ttft = seq != nullptr ? std::chrono::nanoseconds(0) : draw(plan.ttft);
    auto deadline = truth.started_at + ttft;
    SimClock::time_point previous_step_end{};  // load model: the step of the previous event
    int tokens_before = 0;
    bool errored = false;  // error_event: the error was the last thing sent
    for (int index = 0; index < total_events; ++index) {
      std::chrono::nanoseconds gap{0};
      if (index > 0 && seq == nullptr) {
        gap = draw(plan.itl);
        deadline += gap;  // absolute schedule: a late write does not shift the rest
      }
      if (index == events_before_close) {
        conn.close();  // no terminating chunk: the client sees a truncated body
        truth.completed = true;
        co_return false;
      }
      if (seq != nullptr) {
        // The engine's steps are the schedule: wait for the step giving this event's last token.
        const auto step_end = co_await await_tokens(conn, engine_mutex, *seq,
                                                    tokens_before + plan.tokens_in_event(index));
        if (!step_end) {
          co_return false;
        }
        if (index == 0) {
          note_admission(truth, *seq);
          ttft = *step_end - truth.started_at;
        } else {
          gap = *step_end - previous_step_end;
        }
        previous_step_end = *step_end;
      } else if (!co_await wait_until(conn, deadline)) {
        co_return false;
      }
      if (index == 0 && fault == FaultKind::long_line) {
        if (!co_await write_chunk(conn, events.long_line_event(kLongLineBytes))) {
          co_return false;
        }
      }
      const bool last = index == total_events - 1;
      detail::ContentEvent event;
      event.tokens = plan.tokens_in_event(index);
      event.tokens_before = tokens_before;
      event.final = last && fault != FaultKind::no_done;
      event.with_usage = openai
                             ? last && plan.usage_on_last_choice() && fault != FaultKind::no_usage
                             : event.final && with_details;
      if (mindie_timings) {
        if (index == 0) {
          event.prefill_us = to_us(ttft);
        } else {
          event.decode_us = to_us(gap);
        }
      }
      if (!co_await write_chunk(conn, events.content_event(event))) {
        co_return false;
      }
      truth.content_event_times.push_back(SimClock::now());
      truth.tokens_per_content_event.push_back(event.tokens);
      truth.output_tokens += event.tokens;
      tokens_before += event.tokens;
      truth.usage_sent = truth.usage_sent || (event.with_usage && !ollama);
      if (event.prefill_us) {
        truth.reported_prefill = std::chrono::microseconds(*event.prefill_us);
      }
      if (event.decode_us) {
        truth.reported_decode = truth.reported_decode.value_or(std::chrono::nanoseconds(0)) +
                                std::chrono::microseconds(*event.decode_us);
      }

      if (index == 0 && fault == FaultKind::stall_after_first) {
        co_await stall(conn);
        truth.completed = !stopping;
        co_return false;
      }
      if (index == 0 && fault == FaultKind::error_event) {
        if (!co_await write_chunk(conn, events.error_event())) {
          co_return false;
        }
        if (openai && !co_await write_chunk(conn, events.done_event())) {
          co_return false;
        }
        errored = true;
        break;  // the body ends here
      }
      if (index == 0 && fault == FaultKind::malformed_event) {
        // An extra, broken event right after the first content event; the rest is normal.
        if (!co_await write_chunk(conn, events.malformed_event())) {
          co_return false;
        }
      }
    }
    if (errored) {
      // nothing after the error but the end of the body
    } else if (openai) {
      if (plan.include_usage && fault != FaultKind::no_usage && !plan.usage_on_last_choice()) {
        if (!co_await write_chunk(conn, events.usage_event())) {
          co_return false;
        }
        truth.usage_sent = true;
      }
      if (fault != FaultKind::no_done) {
        if (!co_await write_chunk(conn, events.done_event())) {
          co_return false;
        }
      }
    } else if (ollama && fault != FaultKind::no_done) {
      const bool with_counts = fault != FaultKind::no_usage;
      detail::OllamaTimings timings;
      if (with_counts) {
        timings = ollama_timings(truth, SimClock::now());
      }
      if (!co_await write_chunk(conn, events.ollama_done_event(timings, with_counts))) {
        co_return false;
      }
      truth.usage_sent = with_counts;
    }
    if (!co_await write_raw(conn, "0\r\n\r\n")) {
      co_return false;
    }
    truth.completed = true;
    co_return keep_alive;
  }
};

Simulator::Simulator(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {
  if (impl_->options.tokens_per_event < 1 || impl_->options.natural_output_tokens < 1 ||
      impl_->options.threads < 1 || impl_->options.max_concurrency < 0) {
    throw std::invalid_argument(
        "simulator options: tokens_per_event, natural_output_tokens and threads must be >= 1, "
        "max_concurrency >= 0");
  }
  const auto& model = impl_->options.load_model;
  if (model.enabled &&
      (model.max_running < 1 || !(model.prefill_tokens_per_s > 0) ||
       model.decode_step_base.count() < 0 || model.decode_step_per_seq.count() < 0 ||
       (model.decode_step_base + model.decode_step_per_seq).count() <= 0)) {
    throw std::invalid_argument(
        "simulator options: load model needs max_running >= 1, prefill_tokens_per_s > 0, "
        "decode steps >= 0 and decode_step_base + decode_step_per_seq > 0");
  }
  if (!detail::parse_fault(impl_->options.fault)) {
    throw std::invalid_argument("simulator options: unknown fault '" + impl_->options.fault + "'");
  }
}

Simulator::~Simulator() {
  stop();
}

void Simulator::start() {
  auto& impl = *impl_;
  if (impl.started) {
    return;
  }
  // Thousands of concurrent streams need more descriptors than the usual soft limit of 1024.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  const auto where = impl.options.host + ":" + std::to_string(impl.options.port);
  if (!impl.options.tls_cert_file.empty() || !impl.options.tls_key_file.empty() ||
      !impl.options.tls_client_ca_file.empty()) {
    if (impl.options.tls_cert_file.empty() || impl.options.tls_key_file.empty()) {
      throw std::runtime_error(
          "llmprobe-sim: TLS needs both a certificate and a key (tls_cert_file, tls_key_file)");
    }
    try {
      ssl::context context(ssl::context::tls_server);
      context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3 | ssl::context::single_dh_use);
      context.use_certificate_chain_file(impl.options.tls_cert_file);
      context.use_private_key_file(impl.options.tls_key_file, ssl::context::pem);
      if (!impl.options.tls_client_ca_file.empty()) {
        context.load_verify_file(impl.options.tls_client_ca_file);
        context.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
      impl.tls.emplace(std::move(context));
    } catch (const std::exception& e) {
      throw std::runtime_error("llmprobe-sim: cannot load the TLS certificate, key or client CA: " +
                               std::string(e.what()));
    }
  }
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(impl.options.host), impl.options.port);
    impl.acceptor.emplace(impl.connection_executor());
    impl.acceptor->open(endpoint.protocol());
    // A new simulator must bind the port a stopped one just used (TIME_WAIT sockets).
    impl.acceptor->set_option(asio::socket_base::reuse_address(true));
    impl.acceptor->bind(endpoint);
    impl.acceptor->listen(asio::socket_base::max_listen_connections);
    impl.bound_port = impl.acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    impl.acceptor.reset();
    throw std::runtime_error("llmprobe-sim: cannot listen on " + where + ": " + e.what());
  }
  impl.started = true;
  impl.accepting = true;
  asio::co_spawn(impl.acceptor->get_executor(), impl.accept_loop(), log_exceptions("accept"));
  for (int i = 0; i < impl.options.threads; ++i) {
    impl.threads.emplace_back([&impl] {
      try {
        impl.io.run();
      } catch (const std::exception& e) {
        log_line(std::string("io thread: ") + e.what());
      }
    });
  }
}

void Simulator::stop() {
  auto& impl = *impl_;
  if (!impl.started || impl.stopped) {
    return;
  }
  impl.stopped = true;
  impl.stopping = true;
  asio::post(impl.acceptor->get_executor(), [&impl] {
    beast::error_code ignored;
    impl.acceptor->close(ignored);
  });
  {
    std::unique_lock lock(impl.connections_mutex);
    for (const auto& conn : impl.connections) {
      asio::post(conn->pace_timer.get_executor(), [conn] { conn->close(); });
    }
    // Give sessions a bounded time to record their truth and finish.
    impl.connections_done.wait_for(lock, kStopGracePeriod,
                                   [&] { return impl.connections.empty() && !impl.accepting; });
  }
  impl.io_stopped = true;
  impl.io.stop();
  for (auto& thread : impl.threads) {
    thread.join();
  }
  impl.threads.clear();
  {
    // Sockets must go before the io_context they belong to.
    std::lock_guard lock(impl.queue_mutex);
    impl.waiters.clear();
  }
  {
    std::lock_guard lock(impl.engine_mutex);
    impl.engine_waiting.clear();
    impl.engine_running.clear();
  }
  std::lock_guard lock(impl.connections_mutex);
  impl.connections.clear();
}

std::uint16_t Simulator::port() const {
  return impl_->bound_port;
}

std::vector<RequestTruth> Simulator::truth() const {
  std::lock_guard lock(impl_->truth_mutex);
  return {impl_->truths.begin(), impl_->truths.end()};
}

std::optional<RequestTruth> Simulator::truth_for(const std::string& request_id) const {
  std::lock_guard lock(impl_->truth_mutex);
  for (auto it = impl_->truths.rbegin(); it != impl_->truths.rend(); ++it) {
    if (it->request_id == request_id) {
      return *it;
    }
  }
  return std::nullopt;
}

std::size_t Simulator::requests_seen() const {
  return impl_->seen;
}

std::size_t Simulator::connections_accepted() const {
  return impl_->accepted;
}

std::size_t Simulator::tls_handshake_failures() const {
  return impl_->handshake_failures;
}

void Simulator::clear_truth() {
  std::lock_guard lock(impl_->truth_mutex);
  impl_->truths.clear();
}

}  // namespace llmprobe::sim
