// The summary of a benchmark run, computed exactly as vLLM's serving benchmark computes it
// (vllm/benchmarks/serve.py: calculate_metrics, benchmark(), parse_goodput), so that its
// "Serving Benchmark Result" block and result JSON can be compared line by line with
// `vllm bench serve` output. Pure functions, no I/O; every function is thread-safe (no shared
// state). docs/bench-summary.md says what each figure is and where vLLM computes it.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmprobe {

// One finished request, as vLLM's RequestFuncOutput. Times in seconds.
struct BenchRequest {
  bool success = false;
  double start_s = 0;            // request start relative to any fixed origin (vLLM's start_time)
  double ttft_s = 0;             // time to first token
  double latency_s = 0;          // end-to-end latency (E2EL)
  std::vector<double> itl_s;     // every inter-token gap of this request
  std::uint64_t prompt_len = 0;  // input tokens
  std::uint64_t output_len = 0;  // output tokens, already resolved by the caller
};

// Service level objectives for goodput (vLLM `--goodput ttft:MS tpot:MS e2el:MS`).
struct GoodputSlo {
  std::optional<double> ttft_ms, tpot_ms, e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
};

// Parses "KEY:VALUE ..." (whitespace-separated pairs, as vLLM's nargs="+" list) with vLLM's
// rules: keys ttft/tpot/e2el, values in milliseconds, non-negative, a repeated key keeps the
// last value. On failure returns nullopt and sets `error` to vLLM's message.
std::optional<GoodputSlo> parse_goodput(std::string_view text, std::string& error);

// numpy.percentile(values, p) with the default "linear" method, bit for bit (numpy's _lerp).
// p in [0, 100] (std::invalid_argument otherwise). An empty list gives 0, like vLLM's
// `values or 0`.
double percentile(std::vector<double> values, double p);

struct MetricSummary {
  double mean_ms = 0, median_ms = 0, std_ms = 0;          // std: numpy's population std (ddof=0)
  std::vector<std::pair<double, double>> percentiles_ms;  // (p, value)
};

// vLLM's BenchmarkMetrics (without rtfx, the audio-only figure).
struct BenchSummary {
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t total_input = 0;
  std::uint64_t total_output = 0;
  double duration_s = 0;
  double request_throughput = 0;
  std::optional<double> request_goodput;  // set when SLOs were given
  double output_throughput = 0;
  double total_token_throughput = 0;
  double max_output_tokens_per_s = 0;
  std::uint64_t max_concurrent_requests = 0;
  MetricSummary ttft, tpot, itl, e2el;
};

// vLLM's calculate_metrics. duration_s must be > 0 and finite (std::invalid_argument).
BenchSummary summarize(const std::vector<BenchRequest>& requests, double duration_s,
                       const std::vector<double>& percentiles,
                       const std::optional<GoodputSlo>& goodput);

struct ReportOptions {
  std::optional<int> max_concurrency;  // --max-concurrency, when set
  std::optional<double> request_rate;  // --request-rate; nullopt or inf = all at once
  double burstiness = 1.0;             // --burstiness (result JSON only)
  // --percentile-metrics: which of ttft, tpot, itl, e2el get a section / JSON keys.
  std::vector<std::string> percentile_metrics = {"ttft", "tpot", "itl"};
};

// The "Serving Benchmark Result" block as vLLM prints it, '\n' after every line, including
// the trailing spaces that Python's "{:<40} {:<10}" leaves.
std::string format_report(const BenchSummary& summary, const ReportOptions& options);

// vLLM's result JSON without the per-request arrays and without the keys only the caller
// knows (date, endpoint_type, backend, label, model_id, tokenizer_id, num_prompts):
// request_rate, burstiness, max_concurrency, then benchmark()'s keys in vLLM's order.
boost::json::object to_result_json(const BenchSummary& summary, const ReportOptions& options);

}  // namespace llmprobe
