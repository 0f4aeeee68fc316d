// The web server against a real socket on port 0: responses, keep-alive, limits, deadlines,
// the connection cap and stop(). The client is a small Beast client with its own io_context and
// an explicit deadline on every operation, so a broken server fails a test instead of hanging it.
#include "llmprobe/web_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace llmprobe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using boost::system::error_code;

constexpr auto kClientDeadline = 5s;

// A server running on its own thread, stopped from that thread as the interface requires.
class RunningServer {
 public:
  explicit RunningServer(WebServer::Options options, WebHandler handler = nullptr)
      : server_(
            io_, std::move(options),
            handler ? std::move(handler)
                    : [this](const WebRequest& request) { return record(request); }) {
    thread_ = std::thread([this] {
      io_.run();
      finished_.set_value();
    });
  }
  ~RunningServer() {
    stop_and_wait();
    if (thread_.joinable())
      thread_.join();
  }

  // True when run() returned within the deadline after stop().
  bool stop_and_wait() {
    if (!stopped_) {
      stopped_ = true;
      asio::post(io_, [this] { server_.stop(); });
    }
    auto future = finished_future_;
    if (future.wait_for(kClientDeadline) == std::future_status::ready)
      return true;
    io_.stop();  // don't hang the test binary
    return false;
  }

  std::uint16_t port() const { return server_.port(); }

  std::vector<WebRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  WebResponse record(const WebRequest& request) {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    WebResponse response;
    if (request.target == "/-/reload" && request.method != "POST") {
      response.status = 405;
      response.allow = "POST";
      response.body = "method not allowed\n";
    } else if (request.target == "/throw") {
      throw std::runtime_error("handler bug");
    } else {
      response.content_type = "text/x-test";
      response.body = request.method + " " + request.target + "\n";
    }
    return response;
  }

  asio::io_context io_;
  std::mutex mutex_;
  std::vector<WebRequest> requests_;
  WebServer server_;
  std::promise<void> finished_;
  std::shared_future<void> finished_future_ = finished_.get_future().share();
  bool stopped_ = false;
  std::thread thread_;
};

// A blocking-looking client built from async operations with deadlines.
class Client {
 public:
  error_code connect(std::uint16_t port, const char* host = "127.0.0.1") {
    error_code result;
    stream_.expires_after(kClientDeadline);
    stream_.async_connect(tcp::endpoint(asio::ip::make_address(host), port),
                          [&](error_code ec) { result = ec; });
    run();
    return result;
  }

  error_code send_raw(const std::string& bytes) {
    error_code result;
    stream_.expires_after(kClientDeadline);
    asio::async_write(stream_, asio::buffer(bytes),
                      [&](error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  error_code send(http::verb method, const std::string& target, bool keep_alive = true) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "localhost");
    request.keep_alive(keep_alive);
    request.prepare_payload();
    error_code result;
    stream_.expires_after(kClientDeadline);
    http::async_write(stream_, request, [&](error_code ec, std::size_t) { result = ec; });
    run();
    return result;
  }

  // Reads one response; `head` tells the parser not to expect a body.
  std::pair<error_code, http::response<http::string_body>> receive(
      bool head = false, std::chrono::steady_clock::duration deadline = kClientDeadline) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    error_code result;
    stream_.expires_after(deadline);
    http::async_read(stream_, buffer_, parser, [&](error_code ec, std::size_t) { result = ec; });
    run();
    return {result, parser.release()};
  }

  http::response<http::string_body> request(http::verb method, const std::string& target) {
    EXPECT_FALSE(send(method, target));
    auto [ec, response] = receive(method == http::verb::head);
    EXPECT_FALSE(ec) << ec.message();
    return response;
  }

 private:
  void run() {
    io_.restart();
    io_.run();
  }

  asio::io_context io_;
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
};

WebServer::Options options(std::chrono::milliseconds timeout = 2000ms,
                           std::size_t max_connections = 64) {
  WebServer::Options result;
  result.listen_address = "127.0.0.1:0";
  result.request_timeout = timeout;
  result.max_connections = max_connections;
  return result;
}

TEST(WebServer, AnswersWithStatusBodyAndHeaders) {
  RunningServer server(options());
  ASSERT_NE(server.port(), 0);
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  auto response = client.request(http::verb::get, "/metrics?x=1");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "GET /metrics?x=1\n");
  EXPECT_EQ(response[http::field::content_type], "text/x-test");
  EXPECT_EQ(response[http::field::content_length], "17");
  EXPECT_EQ(response.count(http::field::allow), 0u);

  auto not_allowed = client.request(http::verb::get, "/-/reload");
  EXPECT_EQ(not_allowed.result_int(), 405u);
  EXPECT_EQ(not_allowed[http::field::allow], "POST");
  EXPECT_EQ(not_allowed[http::field::content_type], "text/plain; charset=utf-8");

  auto failed = client.request(http::verb::get, "/throw");
  EXPECT_EQ(failed.result_int(), 500u);
}

TEST(WebServer, KeepsTheConnectionAliveBetweenRequests) {
  RunningServer server(options());
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  auto first = client.request(http::verb::get, "/one");
  auto second = client.request(http::verb::post, "/two");
  EXPECT_EQ(first.body(), "GET /one\n");
  EXPECT_EQ(second.body(), "POST /two\n");
  EXPECT_TRUE(second.keep_alive());
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[1].method, "POST");
}

TEST(WebServer, ClosesAfterConnectionClose) {
  RunningServer server(options());
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send(http::verb::get, "/bye", false));
  auto [ec, response] = client.receive();
  ASSERT_FALSE(ec);
  EXPECT_FALSE(response.keep_alive());
  auto [next_ec, next] = client.receive();
  EXPECT_EQ(next_ec, http::error::end_of_stream);
}

TEST(WebServer, AnswersHeadAsGetWithoutBody) {
  RunningServer server(options());
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  auto response = client.request(http::verb::head, "/metrics");
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response[http::field::content_length], "13");  // "GET /metrics\n"
  EXPECT_TRUE(response.body().empty());
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "GET");
  // The connection is still in sync: no stray body bytes were sent.
  EXPECT_EQ(client.request(http::verb::get, "/next").body(), "GET /next\n");
}

TEST(WebServer, RefusesOversizeHeaders) {
  RunningServer server(options());
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  const std::string request =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10'000, 'a') + "\r\n\r\n";
  ASSERT_FALSE(client.send_raw(request));
  auto [ec, response] = client.receive();
  if (!ec) {
    EXPECT_EQ(response.result_int(), 431u);
    EXPECT_FALSE(response.keep_alive());
  } else {
    // Closing with unread bytes may reset the connection before the 431 is read.
    EXPECT_TRUE(ec == http::error::end_of_stream || ec == asio::error::connection_reset)
        << ec.message();
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(WebServer, DisconnectsAClientThatSendsNothing) {
  RunningServer server(options(200ms));
  Client client;
  ASSERT_FALSE(client.connect(server.port()));
  const auto start = std::chrono::steady_clock::now();
  auto [ec, response] = client.receive(false, kClientDeadline);
  // The server's 200 ms deadline closed it, long before the client's own 5 s one.
  EXPECT_TRUE(ec == http::error::end_of_stream || ec == asio::error::connection_reset)
      << ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, kClientDeadline / 2);
}

TEST(WebServer, RejectsConnectionsBeyondTheLimit) {
  RunningServer server(options(5000ms, 1));
  Client first;
  ASSERT_FALSE(first.connect(server.port()));
  // A completed request proves the server counted the first connection.
  EXPECT_EQ(first.request(http::verb::get, "/a").result_int(), 200u);
  Client second;
  ASSERT_FALSE(second.connect(server.port()));
  auto [ec, response] = second.receive();
  if (!ec) {
    EXPECT_EQ(response.result_int(), 503u);
  } else {
    EXPECT_TRUE(ec == http::error::end_of_stream || ec == asio::error::connection_reset)
        << ec.message();
  }
  // The first connection is unaffected.
  EXPECT_EQ(first.request(http::verb::get, "/b").result_int(), 200u);
}

TEST(WebServer, StopEndsRunEvenWithOpenConnections) {
  RunningServer server(options(10'000ms));
  Client idle;
  ASSERT_FALSE(idle.connect(server.port()));
  Client active;
  ASSERT_FALSE(active.connect(server.port()));
  EXPECT_EQ(active.request(http::verb::get, "/x").result_int(), 200u);
  EXPECT_TRUE(server.stop_and_wait());
  auto [ec, response] = idle.receive();
  EXPECT_TRUE(ec == http::error::end_of_stream || ec == asio::error::connection_reset)
      << ec.message();
  Client late;
  EXPECT_TRUE(late.connect(server.port()));  // refused: nothing listens any more
}

TEST(WebServer, ListensOnIpv6Loopback) {
  asio::io_context io;
  WebServer::Options ipv6 = options();
  ipv6.listen_address = "[::1]:0";
  std::optional<WebServer> server;
  try {
    server.emplace(io, ipv6, [](const WebRequest&) { return WebResponse{}; });
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_NE(server->port(), 0);
  server->stop();
  io.run();
}

TEST(WebServer, ReportsBindErrorsWithTheAddress) {
  RunningServer first(options());
  asio::io_context io;
  auto taken = options();
  taken.listen_address = "127.0.0.1:" + std::to_string(first.port());
  auto handler = [](const WebRequest&) { return WebResponse{}; };
  try {
    WebServer second(io, taken, handler);
    FAIL() << "bound a port that is in use";
  } catch (const std::runtime_error& e) {
    EXPECT_TRUE(
        std::string(e.what()).starts_with("cannot listen on " + taken.listen_address + ": "))
        << e.what();
  }
  for (const char* bad : {"nonsense", "127.0.0.1:99999", "::1:80", "[::1]80", "127.0.0.1:"}) {
    auto invalid = options();
    invalid.listen_address = bad;
    EXPECT_THROW(WebServer(io, invalid, handler), std::runtime_error) << bad;
  }
}

}  // namespace
}  // namespace llmprobe
