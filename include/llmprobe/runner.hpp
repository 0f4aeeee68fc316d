// Runs one probe request end to end: builds the request through the target's API flavor, takes a
// pooled connection (connection: keep_alive) or resolves and connects a new one (TCP, or TLS with
// the target's CAs, client certificate, SNI and hostname verification), writes the request, then
// reads the response one read at a time, stamping each read with the clock as it returns and
// handing the bytes to a StreamRecorder. Every phase has a deadline (config Timeouts) and the
// body a size cap. Failures are data: the returned record carries exactly one ErrorReason.
// Beast stays inside runner.cpp.
// Not thread-safe: use a runner from its io_context's thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "llmprobe/clock.hpp"
#include "llmprobe/config.hpp"
#include "llmprobe/measurement.hpp"

namespace llmprobe {

struct ProbeSpec {
  std::shared_ptr<const Config> config;  // keeps target and workload alive
  const Target* target = nullptr;
  const Workload* workload = nullptr;
  std::string request_id;  // sent as X-Request-Id, and the cache-busting nonce
  TimePoint scheduled_start{};
};

// The prompt for a workload: about `prompt_tokens` common words, prefixed by the nonce when
// cache_busting_prefix is on (a distinct first token defeats the server's prefix cache).
std::string build_prompt(const Workload& workload, std::string_view nonce);

// Loads every https target's TLS files as the runner would (for --config.check). Throws
// std::runtime_error naming the target and the problem.
void check_tls_files(const Config& config);

class ProbeRunner {
 public:
  ProbeRunner(boost::asio::any_io_executor executor, const ClockSource& clock);
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  // Builds every https target's TLS context now, so a certificate or key that does not load (or
  // is encrypted, or does not match) stops start-up instead of failing each probe. Throws
  // std::runtime_error naming the target.
  void prepare(const std::shared_ptr<const Config>& config);

  // Never throws for network or protocol problems: they end up in the record.
  boost::asio::awaitable<StreamRecord> run(ProbeSpec spec);

  // Closes every in-flight connection; their runs end with reason `canceled`.
  void abort_all();
  std::size_t in_flight() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace llmprobe
