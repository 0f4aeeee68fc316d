// The daemon against the simulator, end to end over loopback: measured TTFT, ITL, TPOT and E2E
// agree with the simulator's ground truth per request; every fault maps to its reason while the
// daemon keeps probing; a stopped simulator is counted and recovered from; /metrics passes
// promtool.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "harness.hpp"
#include "simulator.hpp"

namespace llmprobe {
namespace {

using namespace std::chrono_literals;
using testing::DaemonHarness;
using testing::kSlowdown;
using testing::ms;

std::string series(const std::string& name, const std::string& target,
                   const std::string& extra = "", const std::string& workload = "probe",
                   const std::string& model = "sim-model") {
  // prometheus-cpp writes labels sorted by name.
  std::string labels = "model=\"" + model + "\",";
  if (!extra.empty())
    labels += extra + ",";
  labels += "target=\"" + target + "\",workload=\"" + workload + "\"";
  return name + "{" + labels + "}";
}

sim::Options quiet_sim() {
  sim::Options options;
  options.ttft = {sim::DelaySpec::Kind::fixed, 20ms, {}};
  options.itl = {sim::DelaySpec::Kind::fixed, 5ms, {}};
  return options;
}

std::string target_yaml(const std::string& name, std::uint16_t port, const std::string& extra = "",
                        const std::string& api = "openai-chat",
                        const std::string& host = "127.0.0.1", const std::string& scheme = "http") {
  return "  - name: " + name + "\n    base_url: " + scheme + "://" + host + ":" +
         std::to_string(port) + "\n    api: " + api + "\n    model: sim-model\n" + extra;
}

TEST(Daemon, MeasuresExactlyWhatTheSimulatorDid) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  const std::string yaml =
      "targets:\n" +
      target_yaml("chat", simulator.port(), "    headers: {x-sim-ttft: 200ms, x-sim-itl: 20ms}\n") +
      target_yaml("completions", simulator.port(),
                  "    headers: {x-sim-ttft: 200ms, x-sim-itl: 20ms, x-sim-tokens-per-event: 3}\n",
                  "openai-completions") +
      "workloads:\n"
      "  - name: probe\n    kind: probe\n    interval: 2s\n    max_tokens: 64\n"
      "    ignore_eos: true\n";
  DaemonHarness harness(yaml);
  harness.wait_for(
      [](const auto& r) {
        return testing::count_for(r, "chat") >= 2 && testing::count_for(r, "completions") >= 2;
      },
      20s * kSlowdown, "two results per target");
  harness.stop();

  for (const ProbeResult& result : harness.results()) {
    SCOPED_TRACE(result.target + " " + result.request_id);
    const Measurement& m = result.measurement;
    ASSERT_TRUE(m.success()) << result.record.error_detail;
    const auto truth = simulator.truth_for(result.request_id);
    ASSERT_TRUE(truth.has_value());
    ASSERT_EQ(truth->content_event_times.size(), result.record.content_times.size());

    // Against the simulator's ground truth (same steady clock): what the client saw is when the
    // simulator wrote each event, plus loopback delivery. A stamp taken at the wrong read would be
    // off by a whole ITL (20 ms); a scheduling hiccup on a loaded machine by a millisecond or two.
    std::vector<double> errors;
    const Duration true_ttft = truth->content_event_times.front() - result.record.start;
    errors.push_back(std::abs(ms(*m.ttft - true_ttft)));
    ASSERT_EQ(m.itl.size(), truth->content_event_times.size() - 1);
    for (std::size_t i = 0; i < m.itl.size(); ++i) {
      const Duration true_gap = truth->content_event_times[i + 1] - truth->content_event_times[i];
      errors.push_back(std::abs(ms(m.itl[i] - true_gap)));
    }
    const Duration true_e2e = truth->content_event_times.back() - result.record.start;
    errors.push_back(std::abs(ms(*m.e2e - true_e2e)));
    double error_sum = 0;
    for (double error : errors) {
      EXPECT_LE(error, 5.0 * kSlowdown);
      error_sum += error;
    }
    EXPECT_LE(error_sum / static_cast<double>(errors.size()), 0.5 * kSlowdown);

    // Against the configured behaviour: TTFT 200 ms, ITL 20 ms per event, 64 tokens.
    EXPECT_NEAR(ms(*m.ttft), 200.0, 2.0 * kSlowdown)
        << "request delivery " << ms(truth->received_at - result.record.start) << " ms, queue "
        << ms(truth->started_at - truth->received_at) << " ms, simulator TTFT "
        << ms(truth->content_event_times.front() - truth->started_at) << " ms";
    EXPECT_EQ(m.output_tokens, 64u);
    EXPECT_FALSE(m.output_tokens_estimated);
    EXPECT_EQ(static_cast<int>(m.output_tokens), truth->output_tokens);
    const int tokens_per_event = result.target == "completions" ? 3 : 1;
    const std::size_t events = (64 + tokens_per_event - 1) / tokens_per_event;
    EXPECT_EQ(result.record.content_times.size(), events);
    double itl_sum = 0;
    for (Duration gap : m.itl)
      itl_sum += ms(gap);
    EXPECT_NEAR(itl_sum / static_cast<double>(m.itl.size()), 20.0, 1.0 * kSlowdown);
    // TPOT spreads the decode time over tokens: (events-1) gaps of 20 ms over 63 tokens.
    const double expected_tpot = 20.0 * static_cast<double>(events - 1) / 63.0;
    EXPECT_NEAR(ms(*m.tpot), expected_tpot, 1.0 * kSlowdown);
    EXPECT_EQ(*m.input_tokens, static_cast<std::uint64_t>(truth->prompt_tokens));
  }
}

// A port with nothing listening: bind, read the port, close.
std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TEST(Daemon, EveryFaultMapsToItsReasonAndTheDaemonKeepsProbing) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  const std::uint16_t port = simulator.port();
  const std::map<std::string, std::pair<std::string, ErrorReason>> faults = {
      {"f500", {"    headers: {x-sim-fault: \"status:500\"}\n", ErrorReason::http_5xx}},
      {"f429", {"    headers: {x-sim-fault: \"status:429\"}\n", ErrorReason::http_429}},
      {"f404", {"    headers: {x-sim-fault: \"status:404\"}\n", ErrorReason::http_4xx}},
      {"stall-first",
       {"    headers: {x-sim-fault: stall_before_first}\n    timeouts: {first_token: 300ms}\n",
        ErrorReason::first_token_timeout}},
      {"stall-after",
       {"    headers: {x-sim-fault: stall_after_first}\n    timeouts: {idle: 300ms}\n",
        ErrorReason::idle_timeout}},
      {"slow-total",
       {"    headers: {x-sim-itl: 50ms}\n    timeouts: {total: 400ms}\n",
        ErrorReason::total_timeout}},
      {"cut", {"    headers: {x-sim-fault: close_mid_stream}\n", ErrorReason::truncated}},
      {"no-done", {"    headers: {x-sim-fault: no_done}\n", ErrorReason::truncated}},
      {"malformed", {"    headers: {x-sim-fault: malformed_event}\n", ErrorReason::protocol}},
      {"error-event", {"    headers: {x-sim-fault: error_event}\n", ErrorReason::server_error}},
      {"long-line", {"    headers: {x-sim-fault: long_line}\n", ErrorReason::too_large}},
      {"too-large", {"    max_response_bytes: 2000\n", ErrorReason::too_large}},
  };
  std::string yaml = "global: {shutdown_grace: 1s}\ntargets:\n" + target_yaml("healthy", port);
  for (const auto& [name, fault] : faults)
    yaml += target_yaml(name, port, fault.first);
  yaml += target_yaml("refused", closed_port());
  yaml += target_yaml("tls-to-plain", port, "", "openai-chat", "127.0.0.1", "https");
  yaml += target_yaml("dns", 80, "    timeouts: {connect: 1s}\n", "openai-chat",
                      "does-not-exist.invalid");
  yaml +=
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 500ms\n    max_tokens: 32\n"
      "    ignore_eos: true\n";

  std::map<std::string, ErrorReason> expected;
  for (const auto& [name, fault] : faults)
    expected[name] = fault.second;
  expected["refused"] = ErrorReason::connect_refused;
  expected["tls-to-plain"] = ErrorReason::tls;
  expected["dns"] = ErrorReason::dns;

  DaemonHarness harness(yaml);
  harness.wait_for(
      [&](const auto& results) {
        for (const auto& [name, reason] : expected) {
          if (testing::count_for(results, name) < 1)
            return false;
        }
        return testing::count_for(results, "healthy") >= 3;
      },
      30s * kSlowdown, "a result from every target");
  const std::string metrics = testing::http_get(harness.port(), "/metrics").body;
  harness.stop();

  for (const auto& [name, reason] : expected) {
    const auto results = harness.results_for(name);
    ASSERT_FALSE(results.empty()) << name;
    const ProbeResult& first = results.front();
    ASSERT_TRUE(first.measurement.error.has_value()) << name << " succeeded";
    EXPECT_EQ(to_string(*first.measurement.error), to_string(reason))
        << name << ": " << first.record.error_detail;
    EXPECT_GE(
        testing::metric_value(metrics, series("llmprobe_request_errors_total", name,
                                              "reason=\"" + std::string(to_string(reason)) + "\"")),
        1.0)
        << name;
    EXPECT_EQ(testing::metric_value(metrics, series("llmprobe_probe_success", name)), 0.0) << name;
  }
  // The healthy target went on succeeding throughout.
  for (const auto& result : harness.results_for("healthy")) {
    EXPECT_TRUE(result.measurement.success()) << result.record.error_detail;
  }
  EXPECT_EQ(testing::metric_value(metrics, series("llmprobe_probe_success", "healthy")), 1.0);
  // The stalled request's TTFT was never seen, the idle one's was.
  EXPECT_FALSE(harness.results_for("stall-first").front().measurement.ttft.has_value());
  EXPECT_TRUE(harness.results_for("stall-after").front().measurement.ttft.has_value());
}

TEST(Daemon, UsageQuirksAreHandled) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  const std::string yaml =
      "targets:\n" +
      target_yaml("mindie-style", simulator.port(),
                  "    headers: {x-sim-fault: usage_on_last_choice}\n") +
      target_yaml("no-usage", simulator.port(), "    headers: {x-sim-fault: no_usage}\n") +
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 1s\n    max_tokens: 10\n"
      "    ignore_eos: true\n";
  DaemonHarness harness(yaml);
  harness.wait_for(
      [](const auto& r) {
        return testing::count_for(r, "mindie-style") >= 1 && testing::count_for(r, "no-usage") >= 1;
      },
      10s * kSlowdown, "both targets");
  harness.stop();
  const auto mindie = harness.results_for("mindie-style").front().measurement;
  ASSERT_TRUE(mindie.success());
  EXPECT_EQ(mindie.output_tokens, 10u);
  EXPECT_FALSE(mindie.output_tokens_estimated);
  const auto no_usage = harness.results_for("no-usage").front().measurement;
  ASSERT_TRUE(no_usage.success());
  EXPECT_EQ(no_usage.output_tokens, 10u);  // one token per event, counted
  EXPECT_TRUE(no_usage.output_tokens_estimated);
}

TEST(Daemon, CountsAnOutageAndRecoversWhenTheServerReturns) {
  auto simulator = std::make_unique<sim::Simulator>(quiet_sim());
  simulator->start();
  const std::uint16_t port = simulator->port();
  const std::string yaml = "targets:\n" + target_yaml("flaky", port) +
                           "workloads:\n  - name: probe\n    kind: probe\n    interval: 300ms\n"
                           "    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  auto last_is = [](bool success) {
    return [success](const std::vector<ProbeResult>& results) {
      return !results.empty() && results.back().measurement.success() == success;
    };
  };
  harness.wait_for(last_is(true), 10s * kSlowdown, "a first success");
  simulator->stop();
  harness.wait_for(last_is(false), 10s * kSlowdown, "a failure while the simulator is down");
  const std::string down = testing::http_get(harness.port(), "/metrics").body;
  EXPECT_EQ(testing::metric_value(down, series("llmprobe_probe_success", "flaky")), 0.0);
  EXPECT_GE(testing::metric_value(down, series("llmprobe_request_errors_total", "flaky",
                                               "reason=\"connect_refused\"")),
            1.0);

  sim::Options again = quiet_sim();
  again.port = port;
  simulator = std::make_unique<sim::Simulator>(again);
  simulator->start();
  harness.wait_for(last_is(true), 10s * kSlowdown, "recovery");
  const std::string up = testing::http_get(harness.port(), "/metrics").body;
  EXPECT_EQ(testing::metric_value(up, series("llmprobe_probe_success", "flaky")), 1.0);
  EXPECT_EQ(harness.stop(), 0);
}

TEST(Daemon, MetricsPagePassesPromtoolAndEndpointsAnswer) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  const std::string yaml =
      "targets:\n" + target_yaml("t", simulator.port()) +
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 1s\n    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  // Every configured series exists before the first request finishes.
  const auto early = testing::http_get(harness.port(), "/metrics");
  EXPECT_EQ(early.status, 200);
  EXPECT_EQ(testing::metric_value(
                early.body, series("llmprobe_request_errors_total", "t", "reason=\"http_5xx\"")),
            0.0);
  harness.wait_for([](const auto& r) { return !r.empty(); }, 10s * kSlowdown, "one probe");
  const auto page = testing::http_get(harness.port(), "/metrics");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_GE(
      testing::metric_value(page.body, series("llmprobe_time_to_first_token_seconds_count", "t")),
      1.0);
  EXPECT_EQ(testing::http_get(harness.port(), "/-/healthy").status, 200);
  EXPECT_EQ(testing::http_get(harness.port(), "/-/ready").status, 200);
  EXPECT_EQ(testing::http_get(harness.port(), "/nope").status, 404);
  EXPECT_EQ(testing::http_get(harness.port(), "/metrics", "POST").status, 405);
  harness.stop();

  const std::string promtool = LLMPROBE_PROMTOOL;
  if (promtool.empty())
    GTEST_SKIP() << "promtool not installed";
  const std::string path = ::testing::TempDir() + "/llmprobe-metrics.txt";
  std::ofstream(path) << page.body;
  const std::string command = promtool + " check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe))
    output += buffer;
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace llmprobe

namespace llmprobe {
namespace {

TEST(Daemon, KeepAliveReusesOneConnectionAndFreshConnectsEveryTime) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  const std::string yaml =
      "targets:\n" + target_yaml("pooled", simulator.port(), "    workloads: [pooled]\n") +
      target_yaml("fresh", simulator.port(), "    workloads: [fresh]\n") +
      "workloads:\n"
      "  - name: pooled\n    kind: probe\n    interval: 60ms\n    max_tokens: 4\n"
      "    connection: keep_alive\n"
      "  - name: fresh\n    kind: probe\n    interval: 60ms\n    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  harness.wait_for(
      [](const auto& r) {
        return testing::count_for(r, "pooled") >= 100 && testing::count_for(r, "fresh") >= 20;
      },
      60s * kSlowdown, "100 keep-alive probes");
  const std::string metrics = testing::http_get(harness.port(), "/metrics").body;
  harness.stop();

  for (const auto& result : harness.results())
    ASSERT_TRUE(result.measurement.success())
        << result.target << ": " << result.record.error_detail;
  auto count = [&](const std::string& target, const char* phase, const std::string& workload) {
    return testing::metric_value(metrics, series("llmprobe_request_phase_seconds_count", target,
                                                 std::string("phase=\"") + phase + "\"", workload));
  };
  const double pooled = testing::metric_value(
      metrics, series("llmprobe_requests_total", "pooled", "outcome=\"success\"", "pooled"));
  const double fresh = testing::metric_value(
      metrics, series("llmprobe_requests_total", "fresh", "outcome=\"success\"", "fresh"));
  ASSERT_GE(pooled, 100.0);
  // Keep-alive: probes never overlap, so one connection serves them all; the server agrees.
  EXPECT_EQ(count("pooled", "connect", "pooled"), 1.0);
  std::size_t pooled_connections = 0;
  for (const auto& truth : simulator.truth()) {
    if (truth.request_on_connection > 1)
      ++pooled_connections;
  }
  // All requests have finished now (the metrics above were a snapshot).
  const std::size_t pooled_requests = harness.results_for("pooled").size();
  const std::size_t fresh_requests = harness.results_for("fresh").size();
  EXPECT_EQ(pooled_connections, pooled_requests - 1);
  EXPECT_EQ(simulator.connections_accepted(), 1 + fresh_requests);
  EXPECT_EQ(count("pooled", "resolve", "pooled"), 1.0);
  EXPECT_EQ(count("pooled", "request_write", "pooled"), pooled);
  EXPECT_EQ(count("pooled", "first_byte", "pooled"), pooled);
  // Fresh: every request resolves, connects, writes and waits for its header (plain HTTP: no
  // TLS phase).
  for (const char* phase : {"resolve", "connect", "request_write", "first_byte"})
    EXPECT_EQ(count("fresh", phase, "fresh"), fresh) << phase;
  EXPECT_EQ(count("fresh", "tls", "fresh"), 0.0);
}

}  // namespace
}  // namespace llmprobe

namespace llmprobe {
namespace {

TEST(Daemon, KeepAliveClosesConnectionsIdleLongerThanMaxIdleTime) {
  sim::Simulator simulator(quiet_sim());
  simulator.start();
  // Probes every 300 ms, connections may idle 100 ms: every probe needs a new connection, and
  // none of them fails for it.
  const std::string yaml =
      "targets:\n" + target_yaml("aged", simulator.port(), "    max_idle_time: 100ms\n") +
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 300ms\n    max_tokens: 2\n"
      "    connection: keep_alive\n";
  DaemonHarness harness(yaml);
  harness.wait_for([](const auto& r) { return r.size() >= 4; }, 20s * kSlowdown, "four probes");
  harness.stop();
  const auto results = harness.results();
  for (const auto& result : results)
    EXPECT_TRUE(result.measurement.success()) << result.record.error_detail;
  for (const auto& result : results)
    EXPECT_TRUE(result.measurement.connect.has_value()) << "reused an aged connection";
  EXPECT_EQ(simulator.connections_accepted(), results.size());
}

}  // namespace
}  // namespace llmprobe
