// vLLM's benchmark summary (vllm/benchmarks/serve.py) on hand-worked vectors. numpy is not
// installed here, so every expected number is worked out by hand in the comment next to it
// (numpy.percentile "linear": index (n-1)*p/100, value a + (b-a)*t). The expected report
// lines were printed by Python's own str.format with vLLM's format strings.
#include "llmprobe/bench_summary.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace llmprobe {
namespace {

constexpr double kEps = 1e-9;

TEST(Percentile, OddLength) {
  const std::vector<double> v{5, 1, 3};  // sorted 1 3 5, n-1 = 2
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 3);     // index 1
  EXPECT_DOUBLE_EQ(percentile(v, 90), 4.6);   // index 1.8: 3 + 2*0.8
  EXPECT_DOUBLE_EQ(percentile(v, 99), 4.96);  // index 1.98: 3 + 2*0.98
  EXPECT_DOUBLE_EQ(percentile(v, 100), 5);
}

TEST(Percentile, EvenLength) {
  const std::vector<double> v{40, 10, 30, 20};  // sorted 10 20 30 40, n-1 = 3
  EXPECT_DOUBLE_EQ(percentile(v, 0), 10);
  EXPECT_DOUBLE_EQ(percentile(v, 25), 17.5);  // index 0.75: 10 + 10*0.75
  EXPECT_DOUBLE_EQ(percentile(v, 50), 25);    // index 1.5: 20 + 10*0.5
  EXPECT_DOUBLE_EQ(percentile(v, 90), 37);    // index 2.7: 30 + 10*0.7
  EXPECT_DOUBLE_EQ(percentile(v, 99), 39.7);  // index 2.97: 30 + 10*0.97
  EXPECT_DOUBLE_EQ(percentile(v, 100), 40);
}

TEST(Percentile, SingleElementAndEmpty) {
  for (double p : {0.0, 50.0, 90.0, 99.0, 100.0}) {
    EXPECT_EQ(percentile({7}, p), 7);
    EXPECT_EQ(percentile({}, p), 0);  // vLLM: np.percentile(values or 0, p)
  }
}

TEST(Percentile, OutOfRangeThrows) {
  EXPECT_THROW(percentile({1, 2}, -1), std::invalid_argument);
  EXPECT_THROW(percentile({1, 2}, 100.5), std::invalid_argument);
  EXPECT_THROW(percentile({1, 2}, std::nan("")), std::invalid_argument);
}

// Three successes and one failure, all times binary-exact:
//   R1 start 0.0 ttft 0.5  itl {0.25, 0.25} e2el 1.0  out 3 in 100  tpot (1.0-0.5)/2 = 0.25
//   R2 start 0.5 ttft 1.0  itl {0.5}        e2el 1.5  out 2 in 200  tpot (1.5-1.0)/1 = 0.5
//   R3 start 2.0 ttft 0.25 itl {}           e2el 0.25 out 1 in 50   no tpot (1 token)
//   R4 failed (its numbers must be ignored)
std::vector<BenchRequest> scenario() {
  return {
      {true, 0.0, 0.5, 1.0, {0.25, 0.25}, 100, 3},
      {true, 0.5, 1.0, 1.5, {0.5}, 200, 2},
      {true, 2.0, 0.25, 0.25, {}, 50, 1},
      {false, 0.1, 9.0, 9.0, {9.0}, 999, 999},
  };
}

TEST(Summarize, CountsAndThroughput) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  EXPECT_EQ(s.completed, 3u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.total_input, 350u);  // 100 + 200 + 50, the failed one's 999 excluded
  EXPECT_EQ(s.total_output, 6u);   // 3 + 2 + 1
  EXPECT_DOUBLE_EQ(s.duration_s, 10.0);
  EXPECT_DOUBLE_EQ(s.request_throughput, 0.3);       // 3 / 10
  EXPECT_DOUBLE_EQ(s.output_throughput, 0.6);        // 6 / 10
  EXPECT_DOUBLE_EQ(s.total_token_throughput, 35.6);  // 356 / 10
  EXPECT_FALSE(s.request_goodput.has_value());
}

TEST(Summarize, TtftMeanMedianStdPercentile) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  // 0.5 1.0 0.25: mean 1.75/3 = 7/12; deviations -1/12 5/12 -4/12;
  // variance (1+25+16)/144/3 = 7/72 (population, ddof=0).
  EXPECT_NEAR(s.ttft.mean_ms, 1000 * 7.0 / 12.0, kEps);
  EXPECT_NEAR(s.ttft.median_ms, 500, kEps);
  EXPECT_NEAR(s.ttft.std_ms, 1000 * std::sqrt(7.0 / 72.0), kEps);
  ASSERT_EQ(s.ttft.percentiles_ms.size(), 1u);
  EXPECT_EQ(s.ttft.percentiles_ms[0].first, 99);
  EXPECT_NEAR(s.ttft.percentiles_ms[0].second, 990, kEps);  // index 1.98: 0.5 + 0.5*0.98
}

TEST(Summarize, TpotExcludesOneTokenOutputs) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  // Only R1 (0.25) and R2 (0.5): mean 0.375, median (0.25+0.5)/2, std 0.125.
  EXPECT_NEAR(s.tpot.mean_ms, 375, kEps);
  EXPECT_NEAR(s.tpot.median_ms, 375, kEps);
  EXPECT_NEAR(s.tpot.std_ms, 125, kEps);
  EXPECT_NEAR(s.tpot.percentiles_ms[0].second, 497.5, kEps);  // 0.25 + 0.25*0.99
}

TEST(Summarize, ItlPooledAcrossRequests) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  // 0.25 0.25 (R1) + 0.5 (R2): mean 1/3; deviations -1/12 -1/12 2/12; variance 6/144/3 = 1/72.
  EXPECT_NEAR(s.itl.mean_ms, 1000.0 / 3.0, kEps);
  EXPECT_NEAR(s.itl.median_ms, 250, kEps);
  EXPECT_NEAR(s.itl.std_ms, 1000 * std::sqrt(1.0 / 72.0), kEps);
  EXPECT_NEAR(s.itl.percentiles_ms[0].second, 495, kEps);  // index 1.98: 0.25 + 0.25*0.98
}

TEST(Summarize, E2el) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  // 1.0 1.5 0.25: mean 11/12; deviations 1/12 7/12 -8/12; variance 114/144/3 = 114/432.
  EXPECT_NEAR(s.e2el.mean_ms, 1000 * 11.0 / 12.0, kEps);
  EXPECT_NEAR(s.e2el.median_ms, 1000, kEps);
  EXPECT_NEAR(s.e2el.std_ms, 1000 * std::sqrt(114.0 / 432.0), kEps);
  EXPECT_NEAR(s.e2el.percentiles_ms[0].second, 1490, kEps);  // index 1.98: 1.0 + 0.5*0.98
}

TEST(Summarize, AllFailedOrEmptyGiveZeros) {
  const std::vector<BenchRequest> failed{{false, 0, 1, 2, {0.5}, 10, 5},
                                         {false, 1, 1, 2, {}, 10, 5}};
  const BenchSummary s = summarize(failed, 2.0, {50, 99}, GoodputSlo{1000, {}, {}});
  EXPECT_EQ(s.completed, 0u);
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.total_input, 0u);
  EXPECT_EQ(s.total_output, 0u);
  EXPECT_EQ(s.request_goodput, 0.0);
  EXPECT_EQ(s.max_output_tokens_per_s, 0.0);
  EXPECT_EQ(s.max_concurrent_requests, 0u);
  for (const MetricSummary* m : {&s.ttft, &s.tpot, &s.itl, &s.e2el}) {
    EXPECT_EQ(m->mean_ms, 0);
    EXPECT_EQ(m->median_ms, 0);
    EXPECT_EQ(m->std_ms, 0);
    ASSERT_EQ(m->percentiles_ms.size(), 2u);
    EXPECT_EQ(m->percentiles_ms[1].second, 0);
  }
  const BenchSummary empty = summarize({}, 1.0, {99}, std::nullopt);
  EXPECT_EQ(empty.completed + empty.failed, 0u);
  EXPECT_EQ(empty.ttft.mean_ms, 0);
}

TEST(Summarize, BadArgumentsThrow) {
  EXPECT_THROW(summarize(scenario(), 0.0, {99}, std::nullopt), std::invalid_argument);
  EXPECT_THROW(summarize(scenario(), -1.0, {99}, std::nullopt), std::invalid_argument);
  EXPECT_THROW(summarize(scenario(), 1.0, {101}, std::nullopt), std::invalid_argument);
}

double goodput_of(const GoodputSlo& slo) {
  return summarize(scenario(), 10.0, {99}, slo).request_goodput.value();
}

// Per request: ttft 0.5 1.0 0.25; tpot for goodput 0.25 0.5 0 (a 1-token output counts 0);
// e2el 1.0 1.5 0.25. A request is good when SLO_ms / 1000 >= metric for every SLO given.
TEST(Goodput, EachSloAloneWithBoundaryEquality) {
  EXPECT_DOUBLE_EQ(goodput_of({500, {}, {}}), 0.2);   // R1 (0.5 == 0.5) and R3
  EXPECT_DOUBLE_EQ(goodput_of({499, {}, {}}), 0.1);   // R3 only
  EXPECT_DOUBLE_EQ(goodput_of({{}, 250, {}}), 0.2);   // R1 (0.25 == 0.25) and R3 (0)
  EXPECT_DOUBLE_EQ(goodput_of({{}, 0, {}}), 0.1);     // R3: its tpot is regarded as 0
  EXPECT_DOUBLE_EQ(goodput_of({{}, {}, 1500}), 0.3);  // all three (R2: 1.5 == 1.5)
  EXPECT_DOUBLE_EQ(goodput_of({{}, {}, 999}), 0.1);   // R3 only
}

TEST(Goodput, CombinedSlosMustAllHold) {
  EXPECT_DOUBLE_EQ(goodput_of({1000, 500, 1499}), 0.2);  // R2 misses e2el only
  EXPECT_DOUBLE_EQ(goodput_of({1000, 500, 1500}), 0.3);
  EXPECT_DOUBLE_EQ(goodput_of({250, 0, {}}), 0.1);       // R3 only
  EXPECT_DOUBLE_EQ(goodput_of({1000, 100, 2000}), 0.1);  // tpot keeps R3 only
}

TEST(Goodput, NoSloNoGoodput) {
  EXPECT_FALSE(summarize(scenario(), 10.0, {99}, GoodputSlo{}).request_goodput.has_value());
}

TEST(ParseGoodput, VllmSyntax) {
  std::string error;
  auto slo = parse_goodput("ttft:80 tpot:20", error);
  ASSERT_TRUE(slo) << error;
  EXPECT_EQ(slo->ttft_ms, 80.0);
  EXPECT_EQ(slo->tpot_ms, 20.0);
  EXPECT_FALSE(slo->e2el_ms);

  slo = parse_goodput("  e2el:1e3\tttft:80 ttft:90.5 ", error);
  ASSERT_TRUE(slo) << error;
  EXPECT_EQ(slo->e2el_ms, 1000.0);
  EXPECT_EQ(slo->ttft_ms, 90.5);  // a repeated key keeps the last value (a Python dict)
  EXPECT_FALSE(slo->tpot_ms);
}

TEST(ParseGoodput, Errors) {
  const std::string format_error =
      "Invalid format found for service level objectives. Specify service level objectives "
      "for goodput as \"KEY:VALUE\" pairs, where the key is a metric name, and the value is a "
      "number in milliseconds.";
  for (const char* bad : {"", "ttft80", "ttft:abc", "ttft:1:2", "ttft:", "ttft:--1"}) {
    std::string error;
    EXPECT_FALSE(parse_goodput(bad, error)) << bad;
    EXPECT_EQ(error, format_error) << bad;
  }
  std::string error;
  EXPECT_FALSE(parse_goodput("ttft:80 itl:5", error));
  EXPECT_EQ(error,
            "Invalid metric name found, itl: 5.0. The service level objective name should be "
            "one of ['ttft', 'tpot', 'e2el']. ");
  EXPECT_FALSE(parse_goodput("tpot:-2.5", error));
  EXPECT_EQ(error,
            "Invalid value found, tpot: -2.5. The service level objective value should be "
            "non-negative.");
}

TEST(Peaks, ScenarioTimeline) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  // Token events: R1 0.5 0.75 1.0, R2 1.5 2.0, R3 2.25 -> seconds [2, 2, 2, 0]; max 2.
  EXPECT_EQ(s.max_output_tokens_per_s, 2.0);
  // [0, 1) [0.5, 2) [2, 2.25): 2 at 0.5; R2 leaves at 2.0 before R3 arrives.
  EXPECT_EQ(s.max_concurrent_requests, 2u);
}

TEST(Peaks, ConstructedTimeline) {
  // Origin 100 s (only differences matter). X: first token 100.125, then every 0.125 s up to
  // 100.875 (7 events, second 0). Y: starts 100.5, tokens at 100.75 (second 0), 101.25 and
  // 101.75 (second 1). Second 0 holds 8 events. output_len is deliberately unrelated: vLLM
  // counts content events (first token + one per ITL gap), not output tokens.
  const std::vector<double> eighths(6, 0.125);
  std::vector<BenchRequest> reqs{
      {true, 100.0, 0.125, 0.875, eighths, 1, 100},
      {true, 100.5, 0.25, 1.25, {0.5, 0.5}, 1, 100},
  };
  EXPECT_EQ(summarize(reqs, 5.0, {}, std::nullopt).max_output_tokens_per_s, 8.0);

  // Concurrency, half-open [start, end): A [0,1) D [0.5,1.5) B [1,2) C [1,3). At t=1 A leaves
  // before B and C arrive: 2 -> 1 -> 2 -> 3. Arrivals first would wrongly give 4.
  reqs = {
      {true, 0.0, 0.1, 1.0, {}, 1, 1},  {true, 1.0, 0.1, 1.0, {}, 1, 1},
      {true, 1.0, 0.1, 2.0, {}, 1, 1},  {true, 0.5, 0.1, 1.0, {}, 1, 1},
      {false, 1.0, 0.1, 5.0, {}, 1, 1},  // failed requests do not count
  };
  EXPECT_EQ(summarize(reqs, 5.0, {}, std::nullopt).max_concurrent_requests, 3u);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

TEST(FormatReport, FullBlockLineByLine) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, GoodputSlo{500, {}, {}});
  ReportOptions options;
  options.max_concurrency = 4;
  options.request_rate = 2.0;
  options.percentile_metrics = {"e2el", "ttft", "itl", "tpot"};  // printed in vLLM's order
  const std::vector<std::string> expected{
      "============ Serving Benchmark Result ============",
      "Successful requests:                     3         ",
      "Failed requests:                         1         ",
      "Maximum request concurrency:             4         ",
      "Request rate configured (RPS):           2.00      ",
      "Benchmark duration (s):                  10.00     ",
      "Total input tokens:                      350       ",
      "Total generated tokens:                  6         ",
      "Request throughput (req/s):              0.30      ",
      "Request goodput (req/s):                 0.20      ",
      "Output token throughput (tok/s):         0.60      ",
      "Peak output token throughput (tok/s):    2.00      ",
      "Peak concurrent requests:                2.00      ",
      "Total Token throughput (tok/s):          35.60     ",
      "---------------Time to First Token----------------",
      "Mean TTFT (ms):                          583.33    ",
      "Median TTFT (ms):                        500.00    ",
      "P99 TTFT (ms):                           990.00    ",
      "-----Time per Output Token (excl. 1st token)------",
      "Mean TPOT (ms):                          375.00    ",
      "Median TPOT (ms):                        375.00    ",
      "P99 TPOT (ms):                           497.50    ",
      "---------------Inter-token Latency----------------",
      "Mean ITL (ms):                           333.33    ",
      "Median ITL (ms):                         250.00    ",
      "P99 ITL (ms):                            495.00    ",
      "----------------End-to-end Latency----------------",
      "Mean E2EL (ms):                          916.67    ",
      "Median E2EL (ms):                        1000.00   ",
      "P99 E2EL (ms):                           1490.00   ",
      "==================================================",
  };
  const std::string report = format_report(s, options);
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(report.back(), '\n');
  const std::vector<std::string> got = lines_of(report);
  ASSERT_EQ(got.size(), expected.size()) << report;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i], expected[i]) << "line " << i;
  }
}

TEST(FormatReport, DefaultsOmitOptionalLinesAndE2el) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, std::nullopt);
  ReportOptions options;
  options.request_rate = std::numeric_limits<double>::infinity();
  const std::string report = format_report(s, options);
  for (const char* absent : {"Maximum request concurrency", "Request rate configured",
                             "Request goodput", "End-to-end Latency", "E2EL"}) {
    EXPECT_EQ(report.find(absent), std::string::npos) << absent;
  }
  EXPECT_EQ(lines_of(report).size(), 24u);  // the 31 above, less 3 optional lines and E2EL's 4
}

TEST(FormatReport, NonIntegerPercentileLabels) {
  const BenchSummary s = summarize(scenario(), 10.0, {25, 99.9}, std::nullopt);
  const std::string report = format_report(s, ReportOptions{});
  // TTFT sorted 0.25 0.5 1.0: p25 index 0.5 -> 0.25 + 0.25*0.5 = 0.375;
  // p99.9 index 1.998 -> 0.5 + 0.5*0.998 = 0.999.
  EXPECT_NE(report.find("P25 TTFT (ms):                           375.00    \n"), std::string::npos)
      << report;
  EXPECT_NE(report.find("P99.9 TTFT (ms):                         999.00    \n"), std::string::npos)
      << report;
  const boost::json::object j = to_result_json(s, ReportOptions{});
  EXPECT_NEAR(j.at("p25_ttft_ms").as_double(), 375, kEps);
  EXPECT_NEAR(j.at("p99.9_ttft_ms").as_double(), 999, kEps);
}

TEST(ResultJson, KeysInVllmOrderWithValues) {
  const BenchSummary s = summarize(scenario(), 10.0, {99}, GoodputSlo{500, {}, {}});
  ReportOptions options;
  options.max_concurrency = 4;
  options.request_rate = 2.0;
  options.burstiness = 0.5;
  options.percentile_metrics = {"ttft", "e2el"};
  const boost::json::object j = to_result_json(s, options);
  const std::vector<std::string> keys{
      "request_rate",
      "burstiness",
      "max_concurrency",
      "duration",
      "completed",
      "failed",
      "total_input_tokens",
      "total_output_tokens",
      "request_throughput",
      "request_goodput",
      "output_throughput",
      "total_token_throughput",
      "max_output_tokens_per_s",
      "max_concurrent_requests",
      "rtfx",
      "mean_ttft_ms",
      "median_ttft_ms",
      "std_ttft_ms",
      "p99_ttft_ms",
      "mean_e2el_ms",
      "median_e2el_ms",
      "std_e2el_ms",
      "p99_e2el_ms",
  };
  std::vector<std::string> got;
  for (const auto& kv : j) {
    got.emplace_back(kv.key());
  }
  EXPECT_EQ(got, keys);
  EXPECT_EQ(j.at("request_rate").as_double(), 2.0);
  EXPECT_EQ(j.at("burstiness").as_double(), 0.5);
  EXPECT_EQ(j.at("max_concurrency").to_number<int>(), 4);
  EXPECT_EQ(j.at("duration").as_double(), 10.0);
  EXPECT_EQ(j.at("completed").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(j.at("failed").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(j.at("total_input_tokens").to_number<std::uint64_t>(), 350u);
  EXPECT_EQ(j.at("total_output_tokens").to_number<std::uint64_t>(), 6u);
  EXPECT_DOUBLE_EQ(j.at("request_throughput").as_double(), 0.3);
  EXPECT_DOUBLE_EQ(j.at("request_goodput").as_double(), 0.2);
  EXPECT_DOUBLE_EQ(j.at("output_throughput").as_double(), 0.6);
  EXPECT_DOUBLE_EQ(j.at("total_token_throughput").as_double(), 35.6);
  EXPECT_EQ(j.at("max_output_tokens_per_s").as_double(), 2.0);
  EXPECT_EQ(j.at("max_concurrent_requests").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(j.at("rtfx").as_double(), 0.0);
  EXPECT_NEAR(j.at("mean_ttft_ms").as_double(), 1000 * 7.0 / 12.0, kEps);
  EXPECT_NEAR(j.at("median_ttft_ms").as_double(), 500, kEps);
  EXPECT_NEAR(j.at("std_ttft_ms").as_double(), 1000 * std::sqrt(7.0 / 72.0), kEps);
  EXPECT_NEAR(j.at("p99_ttft_ms").as_double(), 990, kEps);
  EXPECT_NEAR(j.at("mean_e2el_ms").as_double(), 1000 * 11.0 / 12.0, kEps);
  EXPECT_NEAR(j.at("p99_e2el_ms").as_double(), 1490, kEps);
}

TEST(ResultJson, UnsetRateConcurrencyAndGoodput) {
  const boost::json::object j =
      to_result_json(summarize(scenario(), 10.0, {99}, std::nullopt), ReportOptions{});
  EXPECT_EQ(j.at("request_rate").as_string(), "inf");  // vLLM writes the string "inf"
  EXPECT_TRUE(j.at("max_concurrency").is_null());
  EXPECT_TRUE(j.at("request_goodput").is_null());
  EXPECT_TRUE(j.contains("p99_itl_ms"));
  EXPECT_FALSE(j.contains("mean_e2el_ms"));  // e2el not among the default metrics
}

}  // namespace
}  // namespace llmprobe
