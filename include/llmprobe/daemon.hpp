// The llmprobe daemon: wires config -> scheduler -> runner -> measurement -> metrics, serves
// /metrics and the /-/ endpoints, and shuts down gracefully. Everything runs on one io_context
// thread, so the probe path needs no locks. Beast stays in runner.cpp and web_server.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "llmprobe/config.hpp"
#include "llmprobe/measurement.hpp"

namespace llmprobe {

struct DaemonOptions {
  std::string listen_address = ":10087";  // --web.listen-address
  bool handle_signals = true;             // SIGINT/SIGTERM stop the daemon (off in tests)
};

// One finished probe request, as handed to result observers.
struct ProbeResult {
  std::string target;
  std::string workload;
  std::string request_id;
  StreamRecord record;
  Measurement measurement;
};

class Daemon {
 public:
  // Builds the plan and binds the web server; throws std::runtime_error on bind failure.
  Daemon(std::shared_ptr<const Config> config, DaemonOptions options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Called on the daemon's thread after each request is measured and exported. Set before run().
  void set_result_observer(std::function<void(const ProbeResult&)> observer);

  // Probes until stop() or a signal; in-flight requests get global.shutdown_grace to finish,
  // then are aborted. Returns the process exit code (0).
  int run();
  // Thread-safe.
  void stop();

  std::uint16_t web_port() const;
  // The /metrics text, as served (thread-safe).
  std::string metrics_text() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace llmprobe
