// Every API flavor against the simulator speaking it: TTFT, ITL, TPOT and tokens agree with the
// simulator's ground truth, and server-reported timings agree with what the simulator reported.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "harness.hpp"
#include "simulator.hpp"

namespace llmprobe {
namespace {

using namespace std::chrono_literals;
using testing::DaemonHarness;
using testing::kSlowdown;
using testing::ms;

struct FlavorCase {
  std::string api;
  bool usage_counts;        // the stream reports the output token count
  bool reports_timings;     // the stream reports server-side prefill/decode timings
  std::string sim_style{};  // x-sim-style header: the simulator plays that server's quirks
};

void PrintTo(const FlavorCase& flavor, std::ostream* out) {
  *out << flavor.api;
}

class Flavors : public ::testing::TestWithParam<FlavorCase> {};

TEST_P(Flavors, MeasureWhatTheSimulatorDid) {
  const FlavorCase& flavor = GetParam();
  sim::Options options;
  options.ttft = {sim::DelaySpec::Kind::fixed, 120ms, {}};
  options.itl = {sim::DelaySpec::Kind::fixed, 15ms, {}};
  sim::Simulator simulator(options);
  simulator.start();
  const std::string yaml =
      "targets:\n  - name: t\n    base_url: http://127.0.0.1:" + std::to_string(simulator.port()) +
      "\n    api: " + flavor.api + "\n    model: sim-model\n" +
      (flavor.sim_style.empty() ? std::string()
                                : "    headers: {x-sim-style: " + flavor.sim_style + "}\n") +
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 1s\n"
      "    max_tokens: 24\n    ignore_eos: true\n";
  DaemonHarness harness(yaml);
  harness.wait_for([](const auto& r) { return r.size() >= 2; }, 15s * kSlowdown, "two probes");
  harness.stop();
  // Flavors that report server timings export them; the others have no such series.
  const double prefill_count = testing::metric_value(
      harness.daemon().metrics_text(),
      "llmprobe_server_reported_prefill_seconds_count{model=\"sim-model\",target=\"t\","
      "workload=\"probe\"}");
  if (flavor.reports_timings)
    EXPECT_EQ(prefill_count, static_cast<double>(harness.results().size()));
  else
    EXPECT_LE(prefill_count, 0.0);  // absent, or (Triton, MindIE chat) present but never observed

  for (const ProbeResult& result : harness.results()) {
    SCOPED_TRACE(flavor.api + " " + result.request_id);
    const Measurement& m = result.measurement;
    ASSERT_TRUE(m.success()) << result.record.error_detail;
    const auto truth = simulator.truth_for(result.request_id);
    ASSERT_TRUE(truth.has_value());
    EXPECT_EQ(truth->flavor, flavor.api);  // the simulator served the flavor we asked for
    ASSERT_EQ(truth->content_event_times.size(), result.record.content_times.size());
    EXPECT_LE(std::abs(ms(*m.ttft - (truth->content_event_times.front() - result.record.start))),
              5.0 * kSlowdown);
    for (std::size_t i = 0; i < m.itl.size(); ++i) {
      const Duration true_gap = truth->content_event_times[i + 1] - truth->content_event_times[i];
      EXPECT_LE(std::abs(ms(m.itl[i] - true_gap)), 5.0 * kSlowdown) << "gap " << i;
    }
    // Against the configured delay only a sanity bound: a loaded machine makes the simulator's own
    // timer late, which the ground truth above accounts for exactly.
    EXPECT_GE(ms(*m.ttft), 119.5);
    EXPECT_LT(ms(*m.ttft), 120.0 + 20.0 * kSlowdown);
    EXPECT_EQ(static_cast<int>(m.output_tokens), truth->output_tokens);
    EXPECT_EQ(m.output_tokens_estimated, !flavor.usage_counts);
    if (m.tpot) {
      const double expected =
          ms(truth->content_event_times.back() - truth->content_event_times.front()) /
          static_cast<double>(truth->output_tokens - 1);
      EXPECT_NEAR(ms(*m.tpot), expected, 1.0 * kSlowdown);
    }
    if (flavor.reports_timings) {
      ASSERT_TRUE(m.server_timings.prefill.has_value());
      ASSERT_TRUE(truth->reported_prefill.has_value());
      EXPECT_NEAR(ms(*m.server_timings.prefill), ms(*truth->reported_prefill), 0.01);
      if (truth->reported_decode) {
        ASSERT_TRUE(m.server_timings.decode.has_value());
        EXPECT_NEAR(ms(*m.server_timings.decode), ms(*truth->reported_decode), 0.05);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFlavors, Flavors,
    ::testing::Values(FlavorCase{"openai-completions", true, false},
                      FlavorCase{"openai-chat", true, false}, FlavorCase{"tgi", true, false},
                      FlavorCase{"triton", false, false}, FlavorCase{"mindie", true, true},
                      FlavorCase{"mindie-chat", true, false, "mindie"},
                      FlavorCase{"ollama", true, true}, FlavorCase{"ollama-generate", true, true}),
    [](const auto& info) {
      std::string name = info.param.api;
      for (char& c : name)
        c = c == '-' ? '_' : c;
      return name;
    });

}  // namespace
}  // namespace llmprobe
