// A planted API key must appear in no log line, metric, error message or HTTP response of the
// daemon, even when the server echoes it back in an error body. The real binary runs at debug
// level against the simulator; everything it wrote and served is searched for the key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "simulator.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

constexpr const char* kPlantedKey = "sk-planted-4f1c9a7e2b6d8053";

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(Secrets, APlantedKeyReachesNoLogMetricOrPage) {
  llmprobe::sim::Options options;
  options.ttft = {llmprobe::sim::DelaySpec::Kind::fixed, 10ms, {}};
  options.itl = {llmprobe::sim::DelaySpec::Kind::fixed, 2ms, {}};
  llmprobe::sim::Simulator simulator(options);
  simulator.start();

  const std::string dir = ::testing::TempDir();
  const std::string key_file = dir + "/llmprobe-planted.key";
  std::ofstream(key_file) << kPlantedKey << "\n";
  const std::string config = dir + "/llmprobe-secrets.yaml";
  const std::string url = "http://127.0.0.1:" + std::to_string(simulator.port());
  std::ofstream(config)
      << "targets:\n"
      << "  - name: ok\n    base_url: " << url
      << "\n    api: openai-chat\n    model: m\n    api_key: {env: LLMPROBE_PLANTED_KEY}\n"
      << "  - name: echo\n    base_url: " << url
      << "\n    api: openai-chat\n    model: m\n    api_key: {file: " << key_file << "}\n"
      << "    headers: {x-sim-fault: echo_auth}\n"
      << "  - name: mid-stream\n    base_url: " << url
      << "\n    api: openai-chat\n    model: m\n    api_key: {env: LLMPROBE_PLANTED_KEY}\n"
      << "    headers: {x-sim-fault: error_event}\n"
      << "workloads:\n  - name: probe\n    kind: probe\n    interval: 100ms\n    max_tokens: 4\n";

  const std::uint16_t web_port = free_port();
  const std::string log_path = dir + "/llmprobe-secrets.log";
  const std::string listen = "127.0.0.1:" + std::to_string(web_port);
  const std::string binary = std::string(LLMPROBE_BINARY_DIR) + "/llmprobe";
  std::vector<std::string> args = {binary, "--config.file", config, "--web.listen-address",
                                   listen, "--log.level",   "debug"};
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e)
    env_strings.emplace_back(*e);
  env_strings.push_back(std::string("LLMPROBE_PLANTED_KEY=") + kPlantedKey);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);

  // Wait (bounded) until every target has finished at least two requests.
  std::string metrics;
  auto done = [&] {
    try {
      metrics = llmprobe::testing::http_get(web_port, "/metrics").body;
    } catch (const std::exception&) {
      return false;
    }
    for (const char* target : {"ok", "echo", "mid-stream"}) {
      double total = 0;
      for (const char* outcome : {"success", "error"}) {
        total += std::max(
            0.0, llmprobe::testing::metric_value(
                     metrics, std::string("llmprobe_requests_total{model=\"m\","
                                          "outcome=\"") +
                                  outcome + "\",target=\"" + target + "\",workload=\"probe\"}"));
      }
      if (total < 2)
        return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s * llmprobe::testing::kSlowdown;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(done()) << "not every target was probed twice";

  std::vector<std::pair<std::string, std::string>> outputs = {{"/metrics", metrics}};
  for (const char* page : {"/", "/-/healthy", "/-/ready", "/nope"}) {
    const auto reply = llmprobe::testing::http_get(web_port, page);
    outputs.emplace_back(page, reply.headers + "\r\n\r\n" + reply.body);
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::stringstream log;
  log << std::ifstream(log_path).rdbuf();
  outputs.emplace_back("log", log.str());

  // The key was really sent, and really echoed back by the server.
  bool sent = false;
  for (const auto& truth : simulator.truth())
    sent = sent || truth.fault == "echo_auth";
  EXPECT_TRUE(sent);
  EXPECT_NE(log.str().find("reason=http_4xx"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("<redacted>"), std::string::npos) << "the echoed key was not seen";
  for (const auto& [where, text] : outputs) {
    EXPECT_EQ(text.find(kPlantedKey), std::string::npos) << "key found in " << where;
    // Not even a recognisable part of it.
    EXPECT_EQ(text.find("4f1c9a7e2b6d"), std::string::npos) << "key fragment found in " << where;
  }
}

}  // namespace
