// The metrics contract: names, labels, bucket ladders and exact values after observing
// hand-built measurements, asserted on the text exposition a scrape would see.
#include "llmprobe/metrics.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace llmprobe {
namespace {

using namespace std::chrono_literals;

// One sample line of the exposition: name{labels} value.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> help;  // family -> HELP text
  std::map<std::string, std::string> type;  // family -> TYPE

  // Samples named `name` whose labels include every pair of `labels`.
  std::vector<const Sample*> find(const std::string& name,
                                  const std::map<std::string, std::string>& labels) const {
    std::vector<const Sample*> found;
    for (const auto& sample : samples) {
      if (sample.name != name)
        continue;
      bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& pair) {
        auto it = sample.labels.find(pair.first);
        return it != sample.labels.end() && it->second == pair.second;
      });
      if (match)
        found.push_back(&sample);
    }
    return found;
  }

  // The value of the one sample matching; fails the test when there is not exactly one.
  double value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    auto found = find(name, labels);
    EXPECT_EQ(found.size(), 1u) << name << " with " << labels.size() << " labels";
    return found.size() == 1 ? found.front()->value : std::nan("");
  }

  // Cumulative bucket counts of one histogram series, by upper bound (+Inf included).
  std::vector<std::pair<double, double>> buckets(
      const std::string& histogram, const std::map<std::string, std::string>& labels) const {
    std::vector<std::pair<double, double>> result;
    for (const auto* sample : find(histogram + "_bucket", labels)) {
      result.emplace_back(std::strtod(sample->labels.at("le").c_str(), nullptr), sample->value);
    }
    std::sort(result.begin(), result.end());
    return result;
  }
};

Exposition parse(const std::string& text) {
  Exposition exposition;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      auto space = rest.find(' ');
      auto& map = line[2] == 'H' ? exposition.help : exposition.type;
      map[rest.substr(0, space)] = space == std::string::npos ? "" : rest.substr(space + 1);
      continue;
    }
    if (line.starts_with('#'))
      continue;
    Sample sample;
    std::size_t pos = line.find_first_of("{ ");
    sample.name = line.substr(0, pos);
    if (line[pos] == '{') {
      ++pos;
      while (line[pos] != '}') {
        auto eq = line.find('=', pos);
        std::string key = line.substr(pos, eq - pos);
        pos = eq + 2;  // past ="
        std::string value;
        while (line[pos] != '"') {
          if (line[pos] == '\\')
            ++pos;
          value += line[pos++];
        }
        ++pos;  // closing quote
        if (line[pos] == ',')
          ++pos;
        sample.labels[key] = value;
      }
      ++pos;  // '}'
    }
    sample.value = std::strtod(line.c_str() + pos + 1, nullptr);
    exposition.samples.push_back(std::move(sample));
  }
  return exposition;
}

Workload make_workload(std::string name) {
  Workload workload;
  workload.name = std::move(name);
  return workload;
}

Target make_target(std::string name, std::string model, std::vector<std::string> workloads = {}) {
  Target target;
  target.name = std::move(name);
  target.model = std::move(model);
  target.workloads = std::move(workloads);
  return target;
}

// Two targets: "vllm" runs every workload, "tgi" only "long".
Config make_config() {
  Config config;
  config.source = "<test>";
  config.workloads.push_back(make_workload("short"));
  auto long_workload = make_workload("long");
  long_workload.buckets.time_to_first_token = {0.5, 1, 2};
  config.workloads.push_back(long_workload);
  config.targets.push_back(make_target("vllm", "llama-3-8b"));
  config.targets.push_back(make_target("tgi", "mistral-7b", {"long"}));
  return config;
}

const std::map<std::string, std::string> kVllmShort = {
    {"target", "vllm"}, {"model", "llama-3-8b"}, {"workload", "short"}};

Measurement success_measurement() {
  Measurement m;
  m.lateness = 2ms;
  m.ttft = 150ms;
  m.itl = {10ms, 20ms, 30ms};
  m.e2e = 210ms;
  m.tpot = 20ms;
  m.output_tokens = 4;
  m.input_tokens = 32;
  return m;
}

Measurement truncated_measurement() {
  Measurement m;
  m.error = ErrorReason::truncated;
  m.lateness = 1ms;
  m.ttft = 300ms;
  m.itl = {5ms};
  m.output_tokens = 2;
  m.output_tokens_estimated = true;
  return m;
}

const std::chrono::system_clock::time_point kFinished{std::chrono::seconds(1'700'000'000)};

bool is_superset(const std::vector<double>& ladder, const std::vector<double>& subset) {
  return std::all_of(subset.begin(), subset.end(), [&](double edge) {
    return std::find(ladder.begin(), ladder.end(), edge) != ladder.end();
  });
}

bool strictly_increasing(const std::vector<double>& ladder) {
  return std::adjacent_find(ladder.begin(), ladder.end(), std::greater_equal<>()) == ladder.end();
}

TEST(DefaultBuckets, AreStrictSupersetsOfVllmLadders) {
  const std::vector<double> vllm_ttft = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                         0.25,  0.5,   0.75, 1,    2.5,  5,    7.5,  10,
                                         20,    40,    80,   160,  640,  2560};
  const std::vector<double> vllm_itl = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                        0.75, 1,     2.5,  5,     7.5, 10,   20,  40,  80};
  const std::vector<double> vllm_e2e = {0.3, 0.5, 0.8, 1,  1.5, 2,   2.5, 5,   10,   15,  20,
                                        30,  40,  50,  60, 120, 240, 480, 960, 1920, 7680};
  EXPECT_TRUE(is_superset(default_ttft_buckets(), vllm_ttft));
  EXPECT_TRUE(is_superset(default_itl_buckets(), vllm_itl));
  EXPECT_TRUE(is_superset(default_request_duration_buckets(), vllm_e2e));
  EXPECT_GT(default_ttft_buckets().size(), vllm_ttft.size());
  EXPECT_GT(default_itl_buckets().size(), vllm_itl.size());
  EXPECT_GT(default_request_duration_buckets().size(), vllm_e2e.size());
  EXPECT_TRUE(is_superset(default_ttft_buckets(), {0.15, 0.2, 0.3, 0.4}));
  EXPECT_TRUE(is_superset(default_itl_buckets(),
                          {0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.015, 0.02, 0.03, 0.04}));
  EXPECT_TRUE(is_superset(default_request_duration_buckets(), {0.05, 0.1, 0.2}));
  for (const auto* ladder :
       {&default_ttft_buckets(), &default_itl_buckets(), &default_request_duration_buckets(),
        &default_schedule_lag_buckets()}) {
    EXPECT_TRUE(strictly_increasing(*ladder));
  }
  EXPECT_EQ(default_ttft_buckets().size(), 26u);
  EXPECT_EQ(default_itl_buckets().size(), 29u);
  EXPECT_EQ(default_request_duration_buckets().size(), 24u);
  EXPECT_EQ(default_schedule_lag_buckets(),
            (std::vector<double>{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
}

TEST(MetricsRegistry, EverySeriesExistsAtZeroBeforeTheFirstRequest) {
  MetricsRegistry registry(make_config(), BuildInfo{"1.2.3", "abc123"});
  const auto exposition = parse(registry.serialize());
  const std::vector<std::map<std::string, std::string>> pairs = {
      kVllmShort,
      {{"target", "vllm"}, {"model", "llama-3-8b"}, {"workload", "long"}},
      {{"target", "tgi"}, {"model", "mistral-7b"}, {"workload", "long"}},
  };
  for (const auto& labels : pairs) {
    for (const char* histogram :
         {"llmprobe_time_to_first_token_seconds", "llmprobe_inter_token_latency_seconds",
          "llmprobe_time_per_output_token_seconds", "llmprobe_request_duration_seconds",
          "llmprobe_schedule_lag_seconds"}) {
      EXPECT_EQ(exposition.value(std::string(histogram) + "_count", labels), 0) << histogram;
      EXPECT_EQ(exposition.value(std::string(histogram) + "_sum", labels), 0) << histogram;
    }
    for (const char* outcome : {"success", "error"}) {
      auto with_outcome = labels;
      with_outcome["outcome"] = outcome;
      EXPECT_EQ(exposition.value("llmprobe_requests_total", with_outcome), 0);
    }
    for (auto reason : kAllErrorReasons) {
      auto with_reason = labels;
      with_reason["reason"] = std::string(to_string(reason));
      EXPECT_EQ(exposition.value("llmprobe_request_errors_total", with_reason), 0)
          << to_string(reason);
    }
    EXPECT_EQ(exposition.find("llmprobe_request_errors_total", labels).size(),
              kAllErrorReasons.size());
    for (const char* name :
         {"llmprobe_output_tokens_total", "llmprobe_input_tokens_total",
          "llmprobe_output_tokens_estimated_total", "llmprobe_runs_skipped_total",
          "llmprobe_probe_success", "llmprobe_last_run_timestamp_seconds",
          "llmprobe_last_success_timestamp_seconds", "llmprobe_in_flight_requests"}) {
      EXPECT_EQ(exposition.value(name, labels), 0) << name;
    }
  }
  // "tgi" lists only "long": no series for tgi/short.
  EXPECT_TRUE(exposition.find("llmprobe_requests_total", {{"target", "tgi"}, {"workload", "short"}})
                  .empty());
  EXPECT_EQ(exposition.value("llmprobe_build_info", {{"version", "1.2.3"}, {"revision", "abc123"}}),
            1);
  EXPECT_EQ(exposition.find("llmprobe_build_info", {}).front()->labels.size(), 2u);
  // Every family has HELP text.
  for (const auto& [family, type] : exposition.type) {
    EXPECT_FALSE(exposition.help.count(family) == 0 || exposition.help.at(family).empty())
        << family;
  }
  EXPECT_EQ(exposition.type.at("llmprobe_time_to_first_token_seconds"), "histogram");
  EXPECT_EQ(exposition.type.at("llmprobe_requests_total"), "counter");
  EXPECT_EQ(exposition.type.at("llmprobe_probe_success"), "gauge");
}

TEST(MetricsRegistry, UsesDefaultAndOverriddenBucketLadders) {
  MetricsRegistry registry(make_config());
  const auto exposition = parse(registry.serialize());
  auto edges = [&](const std::string& histogram, const std::map<std::string, std::string>& labels) {
    std::vector<double> result;
    for (const auto& [le, count] : exposition.buckets(histogram, labels))
      result.push_back(le);
    return result;
  };
  auto with_inf = [](std::vector<double> ladder) {
    ladder.push_back(INFINITY);
    return ladder;
  };
  EXPECT_EQ(edges("llmprobe_time_to_first_token_seconds", kVllmShort),
            with_inf(default_ttft_buckets()));
  EXPECT_EQ(edges("llmprobe_inter_token_latency_seconds", kVllmShort),
            with_inf(default_itl_buckets()));
  EXPECT_EQ(edges("llmprobe_time_per_output_token_seconds", kVllmShort),
            with_inf(default_itl_buckets()));
  EXPECT_EQ(edges("llmprobe_request_duration_seconds", kVllmShort),
            with_inf(default_request_duration_buckets()));
  EXPECT_EQ(edges("llmprobe_schedule_lag_seconds", kVllmShort),
            with_inf(default_schedule_lag_buckets()));
  EXPECT_EQ(
      edges("llmprobe_time_to_first_token_seconds", {{"target", "tgi"}, {"workload", "long"}}),
      (std::vector<double>{0.5, 1, 2, INFINITY}));
  // Only the overridden histogram changes.
  EXPECT_EQ(
      edges("llmprobe_inter_token_latency_seconds", {{"target", "tgi"}, {"workload", "long"}}),
      with_inf(default_itl_buckets()));
}

TEST(MetricsRegistry, ObservesSuccessExactly) {
  MetricsRegistry registry(make_config());
  auto& series = registry.series("vllm", "short");
  series.observe(success_measurement(), kFinished);
  const auto exposition = parse(registry.serialize());

  EXPECT_EQ(exposition.value("llmprobe_time_to_first_token_seconds_count", kVllmShort), 1);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_time_to_first_token_seconds_sum", kVllmShort), 0.15);
  for (const auto& [le, count] :
       exposition.buckets("llmprobe_time_to_first_token_seconds", kVllmShort)) {
    EXPECT_EQ(count, le >= 0.15 ? 1 : 0) << "le=" << le;  // 0.15 is an edge: le is inclusive
  }
  EXPECT_EQ(exposition.value("llmprobe_inter_token_latency_seconds_count", kVllmShort), 3);
  EXPECT_NEAR(exposition.value("llmprobe_inter_token_latency_seconds_sum", kVllmShort), 0.06,
              1e-12);
  for (const auto& [le, count] :
       exposition.buckets("llmprobe_inter_token_latency_seconds", kVllmShort)) {
    double expected = (le >= 0.01) + (le >= 0.02) + (le >= 0.03);
    EXPECT_EQ(count, expected) << "le=" << le;
  }
  EXPECT_EQ(exposition.value("llmprobe_time_per_output_token_seconds_count", kVllmShort), 1);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_time_per_output_token_seconds_sum", kVllmShort),
                   0.02);
  EXPECT_EQ(exposition.value("llmprobe_request_duration_seconds_count", kVllmShort), 1);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_request_duration_seconds_sum", kVllmShort), 0.21);
  for (const auto& [le, count] :
       exposition.buckets("llmprobe_request_duration_seconds", kVllmShort)) {
    EXPECT_EQ(count, le >= 0.3 ? 1 : 0) << "le=" << le;
  }
  EXPECT_EQ(exposition.value("llmprobe_schedule_lag_seconds_count", kVllmShort), 1);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_schedule_lag_seconds_sum", kVllmShort), 0.002);

  auto with = [](std::map<std::string, std::string> labels, const char* key, const char* value) {
    labels[key] = value;
    return labels;
  };
  EXPECT_EQ(exposition.value("llmprobe_requests_total", with(kVllmShort, "outcome", "success")), 1);
  EXPECT_EQ(exposition.value("llmprobe_requests_total", with(kVllmShort, "outcome", "error")), 0);
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_total", kVllmShort), 4);
  EXPECT_EQ(exposition.value("llmprobe_input_tokens_total", kVllmShort), 32);
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_estimated_total", kVllmShort), 0);
  EXPECT_EQ(exposition.value("llmprobe_probe_success", kVllmShort), 1);
  EXPECT_EQ(exposition.value("llmprobe_last_run_timestamp_seconds", kVllmShort), 1.7e9);
  EXPECT_EQ(exposition.value("llmprobe_last_success_timestamp_seconds", kVllmShort), 1.7e9);
  // Other pairs are untouched.
  EXPECT_EQ(exposition.value("llmprobe_requests_total",
                             {{"target", "vllm"}, {"workload", "long"}, {"outcome", "success"}}),
            0);
}

TEST(MetricsRegistry, ObservesErrorsKeepingWhatTheStreamShowed) {
  MetricsRegistry registry(make_config());
  auto& series = registry.series("vllm", "short");
  series.observe(success_measurement(), kFinished);
  series.observe(truncated_measurement(), kFinished + 10s);
  Measurement refused;
  refused.error = ErrorReason::connect_refused;
  refused.lateness = 0ms;
  series.observe(refused, kFinished + 20s);
  const auto exposition = parse(registry.serialize());
  auto with = [](std::map<std::string, std::string> labels, const char* key, const char* value) {
    labels[key] = value;
    return labels;
  };

  // TTFT and ITL of the truncated request are kept; TPOT and E2E are success-only.
  EXPECT_EQ(exposition.value("llmprobe_time_to_first_token_seconds_count", kVllmShort), 2);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_time_to_first_token_seconds_sum", kVllmShort), 0.45);
  EXPECT_EQ(exposition.value("llmprobe_inter_token_latency_seconds_count", kVllmShort), 4);
  EXPECT_EQ(exposition.value("llmprobe_time_per_output_token_seconds_count", kVllmShort), 1);
  EXPECT_EQ(exposition.value("llmprobe_request_duration_seconds_count", kVllmShort), 1);
  // Lag: every request that started.
  EXPECT_EQ(exposition.value("llmprobe_schedule_lag_seconds_count", kVllmShort), 3);
  EXPECT_DOUBLE_EQ(exposition.value("llmprobe_schedule_lag_seconds_sum", kVllmShort), 0.003);
  const auto lag = exposition.buckets("llmprobe_schedule_lag_seconds", kVllmShort);
  EXPECT_EQ(lag.front(), (std::pair<double, double>{0.0001, 1}));  // the 0 ms one
  EXPECT_EQ(lag.back(), (std::pair<double, double>{INFINITY, 3}));

  EXPECT_EQ(exposition.value("llmprobe_requests_total", with(kVllmShort, "outcome", "success")), 1);
  EXPECT_EQ(exposition.value("llmprobe_requests_total", with(kVllmShort, "outcome", "error")), 2);
  EXPECT_EQ(
      exposition.value("llmprobe_request_errors_total", with(kVllmShort, "reason", "truncated")),
      1);
  EXPECT_EQ(exposition.value("llmprobe_request_errors_total",
                             with(kVllmShort, "reason", "connect_refused")),
            1);
  EXPECT_EQ(exposition.value("llmprobe_request_errors_total", with(kVllmShort, "reason", "dns")),
            0);
  // Tokens count successful requests only.
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_total", kVllmShort), 4);
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_estimated_total", kVllmShort), 0);
  EXPECT_EQ(exposition.value("llmprobe_probe_success", kVllmShort), 0);
  EXPECT_EQ(exposition.value("llmprobe_last_run_timestamp_seconds", kVllmShort), 1.7e9 + 20);
  EXPECT_EQ(exposition.value("llmprobe_last_success_timestamp_seconds", kVllmShort), 1.7e9);
}

TEST(MetricsRegistry, CountsEstimatedTokensSkippedRunsAndInFlight) {
  MetricsRegistry registry(make_config());
  auto& series = registry.series("tgi", "long");
  auto estimated = success_measurement();
  estimated.output_tokens_estimated = true;
  estimated.input_tokens.reset();
  series.observe(estimated, kFinished);
  series.run_skipped();
  series.run_skipped();
  series.request_started();
  series.request_started();
  series.request_finished();
  const auto exposition = parse(registry.serialize());
  const std::map<std::string, std::string> labels = {{"target", "tgi"}, {"workload", "long"}};
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_estimated_total", labels), 1);
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_total", labels), 4);
  EXPECT_EQ(exposition.value("llmprobe_input_tokens_total", labels), 0);
  EXPECT_EQ(exposition.value("llmprobe_runs_skipped_total", labels), 2);
  EXPECT_EQ(exposition.value("llmprobe_in_flight_requests", labels), 1);
  // The overridden TTFT ladder of "long" got the observation.
  for (const auto& [le, count] :
       exposition.buckets("llmprobe_time_to_first_token_seconds", labels)) {
    EXPECT_EQ(count, le >= 0.5 ? 1 : 0) << "le=" << le;
  }
}

TEST(MetricsRegistry, ObservesAndSerializesFromSeveralThreads) {
  MetricsRegistry registry(make_config());
  auto& series = registry.series("vllm", "short");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        series.request_started();
        series.observe(success_measurement(), kFinished);
        series.request_finished();
      }
    });
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_FALSE(registry.serialize().empty());
  for (auto& thread : threads)
    thread.join();
  const auto exposition = parse(registry.serialize());
  EXPECT_EQ(exposition.value("llmprobe_inter_token_latency_seconds_count", kVllmShort), 3000);
  EXPECT_EQ(exposition.value("llmprobe_output_tokens_total", kVllmShort), 4000);
  EXPECT_EQ(exposition.value("llmprobe_in_flight_requests", kVllmShort), 0);
}

TEST(MetricsRegistry, UnknownPairThrowsOutOfRange) {
  MetricsRegistry registry(make_config());
  EXPECT_THROW(registry.series("tgi", "short"), std::out_of_range);
  EXPECT_THROW(registry.series("nope", "long"), std::out_of_range);
  EXPECT_NO_THROW(registry.series("vllm", "long"));
}

TEST(MetricsRegistry, RejectsBadConfigurationAtConstruction) {
  auto config = make_config();
  config.workloads[0].buckets.schedule_lag = {0.1, 0.1};
  EXPECT_THROW(MetricsRegistry{config}, std::invalid_argument);
  config = make_config();
  config.targets.push_back(make_target("vllm", "again"));
  EXPECT_THROW(MetricsRegistry{config}, std::invalid_argument);
}

TEST(MetricsRegistry, ExportsPlausibleProcessMetrics) {
  MetricsRegistry registry(make_config());
  const auto exposition = parse(registry.serialize());
  EXPECT_GT(exposition.value("process_resident_memory_bytes", {}), 0);
  EXPECT_GT(exposition.value("process_virtual_memory_bytes", {}), 0);
  EXPECT_GE(exposition.value("process_cpu_seconds_total", {}), 0);
  EXPECT_GT(exposition.value("process_open_fds", {}), 2);  // at least stdin/out/err
  EXPECT_GE(exposition.value("process_max_fds", {}), exposition.value("process_open_fds", {}));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = exposition.value("process_start_time_seconds", {});
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600);
  EXPECT_EQ(exposition.type.at("process_cpu_seconds_total"), "counter");
  EXPECT_EQ(exposition.type.at("process_resident_memory_bytes"), "gauge");
}

TEST(MetricsRegistry, PassesPromtoolLint) {
  const std::string promtool = LLMPROBE_PROMTOOL;
  if (promtool.empty() || !std::filesystem::exists(promtool)) {
    GTEST_SKIP() << "promtool not found";
  }
  MetricsRegistry registry(make_config());
  auto& series = registry.series("vllm", "short");
  series.observe(success_measurement(), kFinished);
  series.observe(truncated_measurement(), kFinished);
  registry.series("tgi", "long").run_skipped();
  const std::string text = registry.serialize();

  const auto dir = std::filesystem::temp_directory_path();
  const auto input = dir / ("llmprobe_metrics_" + std::to_string(::getpid()) + ".prom");
  const auto output = dir / ("llmprobe_promtool_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(input) << text;
  const std::string command =
      promtool + " check metrics < " + input.string() + " > " + output.string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream result_stream(output);
  const std::string complaints{std::istreambuf_iterator<char>(result_stream),
                               std::istreambuf_iterator<char>()};
  std::filesystem::remove(input);
  std::filesystem::remove(output);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << complaints;
  EXPECT_EQ(complaints, "");
}

}  // namespace
}  // namespace llmprobe
