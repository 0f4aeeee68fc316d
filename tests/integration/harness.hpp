// Test harness: runs a Daemon on its own thread with the web server on port 0, collects every
// ProbeResult, and fetches pages over real HTTP. Waits are bounded by explicit deadlines.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "llmprobe/config.hpp"
#include "llmprobe/daemon.hpp"

namespace llmprobe::testing {

// Sanitizers slow everything down several times; timing tolerances against *configured*
// delays widen under them. Tolerances against the simulator's ground truth stay tight.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSlowdown = 5;
#else
inline constexpr int kSlowdown = 1;
#endif

// Milliseconds as a double, for tolerances written in ms.
inline double ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

class DaemonHarness {
 public:
  explicit DaemonHarness(const std::string& yaml) {
    config_ = std::make_shared<const Config>(parse_config(yaml, "<test config>"));
    DaemonOptions options;
    options.listen_address = "127.0.0.1:0";
    options.handle_signals = false;
    daemon_ = std::make_unique<Daemon>(config_, options);
    daemon_->set_result_observer([this](const ProbeResult& result) {
      std::lock_guard lock(mutex_);
      results_.push_back(result);
      changed_.notify_all();
    });
    thread_ = std::thread([this] { exit_code_ = daemon_->run(); });
  }

  ~DaemonHarness() { stop(); }

  int stop() {
    if (thread_.joinable()) {
      daemon_->stop();
      thread_.join();
    }
    return exit_code_;
  }

  // Waits until `done(results)` holds; fails the test after `timeout`.
  bool wait_for(const std::function<bool(const std::vector<ProbeResult>&)>& done,
                std::chrono::milliseconds timeout, const char* what) {
    std::unique_lock lock(mutex_);
    const bool ok = changed_.wait_for(lock, timeout, [&] { return done(results_); });
    EXPECT_TRUE(ok) << "timed out waiting for " << what << " (" << results_.size()
                    << " results so far)";
    return ok;
  }

  std::vector<ProbeResult> results() const {
    std::lock_guard lock(mutex_);
    return results_;
  }

  std::vector<ProbeResult> results_for(const std::string& target) const {
    std::vector<ProbeResult> out;
    for (auto& r : results()) {
      if (r.target == target)
        out.push_back(r);
    }
    return out;
  }

  Daemon& daemon() { return *daemon_; }
  std::uint16_t port() const { return daemon_->web_port(); }

 private:
  std::shared_ptr<const Config> config_;
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
  int exit_code_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ProbeResult> results_;
};

inline std::size_t count_for(const std::vector<ProbeResult>& results, const std::string& target) {
  std::size_t n = 0;
  for (const auto& r : results)
    n += r.target == target;
  return n;
}

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;
};

// A plain HTTP/1.1 GET over a blocking socket with a 5 s receive timeout (no llmprobe code).
inline HttpReply http_get(std::uint16_t port, const std::string& target,
                          const std::string& method = "GET") {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string raw;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(raw), ec);
  HttpReply reply;
  const auto header_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || header_end == std::string::npos)
    return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, header_end);
  reply.body = raw.substr(header_end + 4);
  return reply;
}

// The value of one sample line in exposition text ("name{labels} value"), or -1 if absent.
inline double metric_value(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series, at)) != std::string::npos) {
    const bool line_start = at == 0 || text[at - 1] == '\n';
    const std::size_t end = at + series.size();
    if (line_start && end < text.size() && text[end] == ' ') {
      return std::stod(text.substr(end + 1, text.find('\n', end) - end - 1));
    }
    at = end;
  }
  return -1;
}

}  // namespace llmprobe::testing
