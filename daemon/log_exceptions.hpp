// A co_spawn completion handler that logs what escaped a coroutine instead of losing it
// (asio::detached would drop it silently). Private to the daemon.
#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

namespace llmprobe {

inline auto log_exceptions(std::string what) {
  return [what = std::move(what)](std::exception_ptr error) {
    if (!error)
      return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("{} failed: {}", what, e.what());
    } catch (...) {
      spdlog::error("{} failed with an unknown exception", what);
    }
  };
}

}  // namespace llmprobe
