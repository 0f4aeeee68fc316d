#include "llmprobe/web_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "log_exceptions.hpp"

namespace llmprobe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024;
// After accept() fails for a reason other than shutdown (EMFILE, ENFILE...), retrying at once
// would spin: wait a little, as Go's net/http does.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

struct HostPort {
  std::string host;  // "" = all interfaces; IPv6 without brackets
  std::uint16_t port = 0;
};

[[noreturn]] void fail(const std::string& address, const std::string& reason) {
  throw std::runtime_error("cannot listen on " + address + ": " + reason);
}

HostPort split_listen_address(const std::string& address) {
  HostPort result;
  std::string_view rest(address);
  std::string_view port_text;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      fail(address, "expected [ipv6]:port");
    }
    result.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      fail(address, "expected host:port");
    result.host = std::string(rest.substr(0, colon));
    if (result.host.find(':') != std::string::npos) {
      fail(address, "IPv6 addresses must be written in brackets, e.g. [::1]:9090");
    }
    port_text = rest.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string_view::npos) {
    fail(address, "invalid port");
  }
  unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535)
    fail(address, "invalid port");
  result.port = static_cast<std::uint16_t>(port);
  return result;
}

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
};

http::response<http::string_body> make_response(const WebResponse& response, unsigned version,
                                                bool keep_alive, bool head) {
  http::response<http::string_body> message;
  message.version(version);
  message.result(response.status);
  message.set(http::field::server, "llmprobe");
  message.set(http::field::content_type, response.content_type);
  if (!response.allow.empty())
    message.set(http::field::allow, response.allow);
  message.keep_alive(keep_alive);
  if (head) {
    // Content-Length of the body a GET would get, and no body.
    message.content_length(response.body.size());
  } else {
    message.body() = response.body;
    message.prepare_payload();
  }
  return message;
}

WebResponse plain(unsigned status, std::string body) {
  WebResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace

struct WebServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_context, Options server_options, WebHandler request_handler)
      : io(io_context),
        options(std::move(server_options)),
        handler(std::move(request_handler)),
        acceptor(io_context),
        retry_timer(io_context) {}

  void listen();
  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self);
  static asio::awaitable<void> session(std::shared_ptr<Impl> self, std::uint64_t id,
                                       std::shared_ptr<Connection> connection);
  void reject(tcp::socket socket);
  WebResponse handle(const WebRequest& request);
  void stop();

  asio::io_context& io;
  Options options;
  WebHandler handler;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  // Live connections, so stop() can close them; each session removes itself when it ends.
  std::map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::uint64_t next_id = 0;
  std::uint16_t port = 0;
  bool stopped = false;
};

void WebServer::Impl::listen() {
  const std::string& address = options.listen_address;
  const HostPort host_port = split_listen_address(address);
  error_code ec;
  tcp::endpoint endpoint;
  bool dual_stack = false;
  if (host_port.host.empty()) {
    // ":port" means every interface: an IPv6 socket that also accepts IPv4, or plain IPv4 on
    // hosts without IPv6.
    acceptor.open(tcp::v6(), ec);
    if (!ec) {
      endpoint = tcp::endpoint(tcp::v6(), host_port.port);
      dual_stack = true;
    } else {
      endpoint = tcp::endpoint(tcp::v4(), host_port.port);
    }
  } else {
    auto ip = asio::ip::make_address(host_port.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(ip, host_port.port);
    } else {
      tcp::resolver resolver(io);
      auto results = resolver.resolve(host_port.host, std::to_string(host_port.port), ec);
      if (ec)
        fail(address, ec.message());
      if (results.empty())
        fail(address, "host has no address");
      endpoint = results.begin()->endpoint();
    }
  }
  ec.clear();
  if (!acceptor.is_open())
    acceptor.open(endpoint.protocol(), ec);
  if (ec)
    fail(address, ec.message());
  if (dual_stack)
    acceptor.set_option(asio::ip::v6_only(false), ec);  // best effort
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec)
    fail(address, ec.message());
  acceptor.bind(endpoint, ec);
  if (ec)
    fail(address, ec.message());
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    fail(address, ec.message());
  port = acceptor.local_endpoint().port();
}

asio::awaitable<void> WebServer::Impl::accept_loop(std::shared_ptr<Impl> self) {
  while (!self->stopped) {
    auto [ec, socket] = co_await self->acceptor.async_accept(kUseTuple);
    if (self->stopped)
      co_return;
    if (ec) {
      spdlog::warn("web server: accept failed: {}", ec.message());
      self->retry_timer.expires_after(kAcceptRetryDelay);
      co_await self->retry_timer.async_wait(kUseTuple);
      continue;
    }
    if (self->connections.size() >= self->options.max_connections) {
      self->reject(std::move(socket));
      continue;
    }
    const std::uint64_t id = self->next_id++;
    auto connection = std::make_shared<Connection>(std::move(socket));
    self->connections.emplace(id, connection);
    asio::co_spawn(self->io, session(self, id, std::move(connection)),
                   log_exceptions("web server: connection"));
  }
}

// Over the connection limit: tell the client why, without blocking the accept loop. The write
// is non-blocking into an empty send buffer, so it normally goes out whole; if the client has
// already sent its request, closing with unread data may turn the 503 into a reset.
void WebServer::Impl::reject(tcp::socket socket) {
  static const std::string kBody = "too many connections\n";
  static const std::string kResponse =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  spdlog::warn("web server: more than {} connections, rejecting one", options.max_connections);
  error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(kResponse), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

WebResponse WebServer::Impl::handle(const WebRequest& request) {
  try {
    return handler(request);
  } catch (const std::exception& e) {
    spdlog::error("web server: handler for {} {} failed: {}", request.method, request.target,
                  e.what());
  } catch (...) {
    spdlog::error("web server: handler for {} {} failed", request.method, request.target);
  }
  return plain(500, "internal error\n");
}

asio::awaitable<void> WebServer::Impl::session(std::shared_ptr<Impl> self, std::uint64_t id,
                                               std::shared_ptr<Connection> connection) {
  struct Untrack {
    Impl& impl;
    std::uint64_t id;
    ~Untrack() { impl.connections.erase(id); }
  } untrack{*self, id};
  beast::tcp_stream& stream = connection->stream;
  beast::flat_buffer buffer;
  while (!self->stopped) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    // One deadline per operation: it also bounds how long an idle keep-alive connection lives.
    stream.expires_after(self->options.request_timeout);
    auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, kUseTuple);
    std::optional<WebResponse> refusal;
    if (read_error == http::error::header_limit) {
      refusal = plain(431, "request header too large\n");
    } else if (read_error == http::error::body_limit) {
      refusal = plain(413, "request body too large\n");
    } else if (read_error == http::error::end_of_stream) {
      break;  // the client closed between requests
    } else if (read_error && read_error != http::error::partial_message &&
               read_error.category() == http::make_error_code(http::error::bad_method).category()) {
      refusal = plain(400, "bad request\n");
    } else if (read_error) {
      // Timeout, reset, or stop(): nothing useful can be written.
      spdlog::debug("web server: connection closed: {}", read_error.message());
      break;
    }
    if (refusal) {
      // The parser's state is unusable after an error: answer and close.
      auto response = make_response(*refusal, 11, false, false);
      stream.expires_after(self->options.request_timeout);
      co_await http::async_write(stream, response, kUseTuple);
      break;
    }
    const auto& request = parser.get();
    const bool head = request.method() == http::verb::head;
    // HEAD is answered as GET without the body, so handlers only route GET.
    WebRequest web_request{head ? std::string("GET") : std::string(request.method_string()),
                           std::string(request.target())};
    WebResponse web_response = self->handle(web_request);
    if (web_response.status < 100 || web_response.status > 999) {
      spdlog::error("web server: handler returned status {} for {}", web_response.status,
                    web_request.target);
      web_response = plain(500, "internal error\n");
    }
    auto response = make_response(web_response, request.version(), request.keep_alive(), head);
    stream.expires_after(self->options.request_timeout);
    auto [write_error, written] = co_await http::async_write(stream, response, kUseTuple);
    if (write_error) {
      spdlog::debug("web server: write failed: {}", write_error.message());
      break;
    }
    if (!response.keep_alive())
      break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

void WebServer::Impl::stop() {
  if (stopped)
    return;
  stopped = true;
  error_code ignored;
  acceptor.close(ignored);
  retry_timer.cancel();
  // Closing cancels each session's pending read or write; the sessions then end and untrack
  // themselves. Copy first: nothing here resumes a session, but keep the loop independent.
  auto live = connections;
  for (auto& [id, weak] : live) {
    if (auto connection = weak.lock()) {
      connection->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      connection->stream.close();
    }
  }
}

WebServer::WebServer(asio::io_context& io, Options options, WebHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {
  impl_->listen();
  asio::co_spawn(io, Impl::accept_loop(impl_), log_exceptions("web server: accept loop"));
}

WebServer::~WebServer() {
  impl_->stop();
}

std::uint16_t WebServer::port() const {
  return impl_->port;
}

void WebServer::stop() {
  impl_->stop();
}

}  // namespace llmprobe
