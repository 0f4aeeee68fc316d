// The small HTTP server for /metrics and the /-/ endpoints. Request handling is a pure function
// (WebRequest -> WebResponse) kept apart from the Beast I/O, which lives in web_server.cpp only.
// Every connection has a read deadline, a header/body cap and at most one request in flight.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace llmprobe {

struct WebRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path with query, as sent
};

struct WebResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // "Allow" header for 405 responses
};

using WebHandler = std::function<WebResponse(const WebRequest&)>;

class WebServer {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:0";  // host:port, [v6]:port, or :port (all)
    // Connections beyond this are accepted, sent a best-effort 503 and closed at once.
    std::size_t max_connections = 64;
    // Deadline for each read of a request and each write of a response; an idle keep-alive
    // connection is closed when it expires.
    std::chrono::milliseconds request_timeout{10'000};
  };
  // Binds immediately (throws std::runtime_error naming the address on failure) and starts
  // accepting on `io`. The handler runs on the io_context's thread.
  WebServer(boost::asio::io_context& io, Options options, WebHandler handler);
  ~WebServer();  // calls stop()
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  std::uint16_t port() const;  // the bound port (useful with port 0)
  // Stops accepting and closes open connections, so io_context::run() returns once nothing
  // else is pending. Idempotent. Call on the io_context's thread (or after run() returned);
  // the io_context must be run by a single thread.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace llmprobe
