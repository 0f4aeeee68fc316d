// The llmprobe binary as users and systemd run it: --config.check exit codes and messages,
// flag errors, and a clean exit 0 on SIGTERM/SIGINT with in-flight requests let finish.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "simulator.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

const std::string kBinary = std::string(LLMPROBE_BINARY_DIR) + "/llmprobe";

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

CommandResult run_llmprobe(const std::string& args) {
  CommandResult run;
  FILE* pipe = ::popen((kBinary + " " + args + " 2>&1").c_str(), "r");
  if (!pipe)
    return run;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe))
    run.output += buffer;
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(Cli, ConfigCheckAcceptsTheShippedSample) {
  const CommandResult run = run_llmprobe(
      "--config.check --config.file " + std::string(LLMPROBE_SOURCE_DIR) + "/config/llmprobe.yaml");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("OK"), std::string::npos);
}

TEST(Cli, ConfigCheckAcceptsTheEmbeddedDemo) {
  const CommandResult run = run_llmprobe("--config.check");
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST(Cli, ConfigCheckNamesFileLineAndKeyOfAMisspeltKey) {
  const std::string path = std::string(LLMPROBE_TESTDATA_DIR) + "/invalid-unknown-key.yaml";
  const CommandResult run = run_llmprobe("--config.check --config.file " + path);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.output, path +
                            ":8:7: targets[0].timeouts.conect: unknown key \"conect\" (did you "
                            "mean \"connect\"?)\n");
}

TEST(Cli, ConfigCheckLoadsTlsFilesAndNamesTheTarget) {
  // A readable file that is no certificate bundle: caught by --config.check, not the first probe.
  const std::string config = ::testing::TempDir() + "/llmprobe-bad-ca.yaml";
  std::ofstream(config) << "targets:\n  - name: secure\n    base_url: https://127.0.0.1:1025\n"
                           "    api: mindie-chat\n    model: m\n    tls: {ca_file: "
                        << LLMPROBE_SOURCE_DIR
                        << "/README.md}\nworkloads:\n  - name: probe\n    kind: probe\n"
                           "    interval: 15s\n";
  const CommandResult run = run_llmprobe("--config.check --config.file " + config);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find(config + ": target secure: tls: "), std::string::npos) << run.output;
}

TEST(Cli, MissingConfigFileExitsOneNamingIt) {
  const CommandResult run = run_llmprobe("--config.check --config.file /nonexistent/llmprobe.yaml");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("/nonexistent/llmprobe.yaml"), std::string::npos) << run.output;
}

TEST(Cli, BadFlagsExitTwo) {
  EXPECT_EQ(run_llmprobe("--no-such-flag").exit_code, 2);
  const CommandResult level = run_llmprobe("--log.level loud");
  EXPECT_EQ(level.exit_code, 2);
  EXPECT_NE(level.output.find("--log.level"), std::string::npos);
}

TEST(Cli, VersionAndHelp) {
  EXPECT_EQ(run_llmprobe("--version").exit_code, 0);
  const CommandResult help = run_llmprobe("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* flag :
       {"--config.file", "--config.check", "--web.listen-address", "--log.level"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag;
  }
}

// Starts the daemon as a child process and stops it with `signal`: either while a probe is in
// flight (it streams for ~300 ms and must be allowed to finish) or while the daemon is idle.
// Either way the exit code must be 0.
void exits_cleanly_on(int signal, bool mid_request) {
  llmprobe::sim::Options options;
  options.ttft = {llmprobe::sim::DelaySpec::Kind::fixed, 100ms, {}};
  options.itl = {llmprobe::sim::DelaySpec::Kind::fixed, 10ms, {}};
  llmprobe::sim::Simulator simulator(options);
  simulator.start();
  const std::string config =
      ::testing::TempDir() + "/llmprobe-cli-" + std::to_string(signal) + ".yaml";
  std::ofstream(config) << "targets:\n  - name: t\n    base_url: http://127.0.0.1:"
                        << simulator.port()
                        << "\n    api: openai-chat\n    model: m\nworkloads:\n  - name: probe\n"
                           "    kind: probe\n    interval: "
                        << (mid_request ? "200ms" : "1h")
                        << "\n    max_tokens: 20\n"
                           "    ignore_eos: true\n";
  // A port that was free a moment ago, so the test can read the daemon's /metrics.
  std::uint16_t web_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    web_port = probe.local_endpoint().port();
  }
  const std::string listen = "127.0.0.1:" + std::to_string(web_port);
  std::vector<std::string> args = {kBinary, "--config.file", config, "--web.listen-address",
                                   listen,  "--log.level",   "warn"};
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, kBinary.c_str(), nullptr, nullptr, argv.data(), environ), 0);

  // Wait (bounded) until the simulator has served a request; mid_request: signal during the
  // next one; idle: signal once the only request (interval 1h) has completed.
  const auto deadline = std::chrono::steady_clock::now() + 10s * llmprobe::testing::kSlowdown;
  auto ready = [&] {
    if (mid_request)
      return simulator.requests_seen() >= 2;
    // Idle: the daemon itself says its one request is done and nothing is in flight.
    try {
      const std::string metrics = llmprobe::testing::http_get(web_port, "/metrics").body;
      const std::string labels = "{model=\"m\",target=\"t\",workload=\"probe\"}";
      return llmprobe::testing::metric_value(metrics, "llmprobe_in_flight_requests" + labels) ==
                 0.0 &&
             llmprobe::testing::metric_value(
                 metrics,
                 "llmprobe_requests_total{model=\"m\",outcome=\"success\",target=\"t\","
                 "workload=\"probe\"}") == 1.0;
    } catch (const std::exception&) {
      return false;  // not listening yet
    }
  };
  while (!ready() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(ready()) << "the daemon never probed";
  ASSERT_EQ(::kill(pid, signal), 0);

  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline + 5s) {
    std::this_thread::sleep_for(10ms);
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "llmprobe did not exit after signal " << signal;
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The request that was in flight when the signal came was allowed to finish.
  bool all_completed = true;
  for (const auto& truth : simulator.truth())
    all_completed = all_completed && truth.completed;
  EXPECT_TRUE(all_completed);
}

TEST(Cli, SigtermExitsZeroAfterInFlightRequestsFinish) {
  exits_cleanly_on(SIGTERM, true);
}
TEST(Cli, SigintExitsZeroAfterInFlightRequestsFinish) {
  exits_cleanly_on(SIGINT, true);
}
TEST(Cli, SigtermExitsZeroWhenIdle) {
  exits_cleanly_on(SIGTERM, false);
}
TEST(Cli, SigintExitsZeroWhenIdle) {
  exits_cleanly_on(SIGINT, false);
}

}  // namespace
