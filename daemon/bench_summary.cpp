// vLLM's benchmark summary (vllm/benchmarks/serve.py), followed line by line. Where vLLM
// versions differ, the newest stored version is followed (commit 009e6d4a, the one with
// `rtfx` and the sweep-line peak concurrency); docs/bench-summary.md lists the differences.
#include "llmprobe/bench_summary.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace llmprobe {
namespace {

// numpy's pairwise summation (pairwise_sum_DOUBLE in loops_utils.h), which np.sum/np.mean/
// np.std use for a contiguous float64 array; reproduced so the last bits agree too.
double pairwise_sum(const double* a, std::size_t n) {
  constexpr std::size_t kBlock = 128;  // PW_BLOCKSIZE
  if (n < 8) {
    double res = 0.;
    for (std::size_t i = 0; i < n; ++i) {
      res += a[i];
    }
    return res;
  }
  if (n <= kBlock) {
    double r[8];
    for (std::size_t j = 0; j < 8; ++j) {
      r[j] = a[j];
    }
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (std::size_t j = 0; j < 8; ++j) {
        r[j] += a[i + j];
      }
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) {
      res += a[i];
    }
    return res;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// np.sum: the reduction starts from add's identity 0.0.
double np_sum(const std::vector<double>& v) {
  return 0.0 + pairwise_sum(v.data(), v.size());
}

// vLLM passes `values or 0`: an empty list becomes the scalar 0, whose mean, std, median and
// percentiles are all 0.
double np_mean(const std::vector<double>& v) {
  if (v.empty()) {
    return 0.0;
  }
  return np_sum(v) / static_cast<double>(v.size());
}

// np.std with ddof=0 (_methods._var): mean, squared deviations summed pairwise, / n, sqrt.
double np_std(const std::vector<double>& v) {
  if (v.empty()) {
    return 0.0;
  }
  const double mean = np_mean(v);
  std::vector<double> squared(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double d = v[i] - mean;
    squared[i] = d * d;
  }
  return std::sqrt(np_sum(squared) / static_cast<double>(v.size()));
}

// np.median: the middle element, or the mean of the two middle ones ((a + b) / 2).
double np_median(std::vector<double> v) {
  if (v.empty()) {
    return 0.0;
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  if (n % 2 == 1) {
    return v[n / 2];
  }
  return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

MetricSummary summarize_metric(const std::vector<double>& values_s,
                               const std::vector<double>& percentiles) {
  MetricSummary m;
  m.mean_ms = np_mean(values_s) * 1000;
  m.std_ms = np_std(values_s) * 1000;
  m.median_ms = np_median(values_s) * 1000;
  for (double p : percentiles) {
    m.percentiles_ms.emplace_back(p, percentile(values_s, p) * 1000);
  }
  return m;
}

// Python's str(float) (repr: shortest round trip; scientific below 1e-4 or from 1e16).
std::string python_float_str(double x) {
  char buf[64];
  const double mag = std::fabs(x);
  const bool scientific = x != 0 && (mag < 1e-4 || mag >= 1e16);
  const auto res =
      std::to_chars(buf, buf + sizeof buf, x,
                    scientific ? std::chars_format::scientific : std::chars_format::fixed);
  std::string s(buf, res.ptr);
  if (!scientific && s.find('.') == std::string::npos) {
    s += ".0";  // repr(99.0) == "99.0"
  }
  return s;
}

// vLLM: p_word = str(int(p)) if int(p) == p else str(p)
std::string percentile_word(double p) {
  if (std::trunc(p) == p) {
    return std::to_string(static_cast<long long>(p));
  }
  return python_float_str(p);
}

std::string pad_right(std::string s, std::size_t width) {
  if (s.size() < width) {
    s.append(width - s.size(), ' ');
  }
  return s;
}

// Python "{:.2f}" (printf's %.2f rounds the same way, from the exact binary value).
std::string fixed2(double x) {
  if (std::isnan(x)) {
    return "nan";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}

// "{s:{c}^{n}}": centred, the odd fill character on the right.
std::string centred(std::string_view s, char fill, std::size_t width) {
  if (s.size() >= width) {
    return std::string(s);
  }
  const std::size_t pad = width - s.size();
  const std::size_t left = pad / 2;
  return std::string(left, fill) + std::string(s) + std::string(pad - left, fill);
}

// "{:<40} {:<10}"
std::string row(std::string_view label, const std::string& value) {
  return pad_right(std::string(label), 40) + " " + pad_right(value, 10) + "\n";
}
std::string row(std::string_view label, std::uint64_t value) {
  return row(label, std::to_string(value));
}
// "{:<40} {:<10.2f}"
std::string row_f(std::string_view label, double value) {
  return row(label, fixed2(value));
}

struct MetricSection {
  const char* attribute;  // "ttft"
  const char* name;       // "TTFT"
  const char* header;     // "Time to First Token"
  const MetricSummary BenchSummary::*summary;
};

// benchmark()'s process_one_metric calls, in its order (not the --percentile-metrics order).
constexpr MetricSection kSections[] = {
    {"ttft", "TTFT", "Time to First Token", &BenchSummary::ttft},
    {"tpot", "TPOT", "Time per Output Token (excl. 1st token)", &BenchSummary::tpot},
    {"itl", "ITL", "Inter-token Latency", &BenchSummary::itl},
    {"e2el", "E2EL", "End-to-end Latency", &BenchSummary::e2el},
};

bool selected(const ReportOptions& options, std::string_view attribute) {
  return std::find(options.percentile_metrics.begin(), options.percentile_metrics.end(),
                   attribute) != options.percentile_metrics.end();
}

bool rate_is_finite(const ReportOptions& options) {
  return options.request_rate && !std::isinf(*options.request_rate);
}

// Python's float(): optional sign, decimal/exponent, inf/infinity/nan, surrounding blanks.
std::optional<double> parse_python_float(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.front() == '+' || s.front() == '-') {
    return std::nullopt;
  }
  double value = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), value);
  if (res.ec != std::errc{} || res.ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return negative ? -value : value;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (!(p >= 0 && p <= 100)) {
    throw std::invalid_argument("Percentiles must be in the range [0, 100]");
  }
  if (values.empty()) {
    return 0.0;
  }
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  // numpy _quantile, method "linear": virtual index (n - 1) * q, q = p / 100.
  const double q = p / 100;
  const double virtual_index = static_cast<double>(n - 1) * q;
  if (virtual_index >= static_cast<double>(n - 1)) {
    return values[n - 1];
  }
  const double previous = std::floor(virtual_index);
  const auto lo = static_cast<std::size_t>(previous);
  const double a = values[lo];
  const double b = values[lo + 1];
  const double t = virtual_index - previous;
  // numpy _lerp: a + (b - a) * t, or b - (b - a) * (1 - t) from t >= 0.5 (monotonic near b).
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

std::optional<GoodputSlo> parse_goodput(std::string_view text, std::string& error) {
  // vLLM parse_goodput / check_goodput_args messages.
  static constexpr std::string_view kFormatError =
      "Invalid format found for service level objectives. Specify service level objectives "
      "for goodput as \"KEY:VALUE\" pairs, where the key is a metric name, and the value is a "
      "number in milliseconds.";
  GoodputSlo slo;
  bool any = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n') {
      ++pos;
      continue;
    }
    const std::size_t end = std::min(text.find_first_of(" \t\n", pos), text.size());
    const std::string_view pair = text.substr(pos, end - pos);
    pos = end;
    const std::size_t colon = pair.find(':');
    // Python's `name, val = pair.split(":")` needs exactly one colon.
    if (colon == std::string_view::npos || pair.find(':', colon + 1) != std::string_view::npos) {
      error = kFormatError;
      return std::nullopt;
    }
    const std::string_view name = pair.substr(0, colon);
    const std::optional<double> value = parse_python_float(pair.substr(colon + 1));
    if (!value) {
      error = kFormatError;
      return std::nullopt;
    }
    const std::string shown = std::string(name) + ": " + python_float_str(*value);
    std::optional<double>* field = name == "ttft"   ? &slo.ttft_ms
                                   : name == "tpot" ? &slo.tpot_ms
                                   : name == "e2el" ? &slo.e2el_ms
                                                    : nullptr;
    if (field == nullptr) {
      error = "Invalid metric name found, " + shown +
              ". The service level objective name should be one of ['ttft', 'tpot', 'e2el']. ";
      return std::nullopt;
    }
    if (*value < 0) {
      error = "Invalid value found, " + shown +
              ". The service level objective value should be non-negative.";
      return std::nullopt;
    }
    *field = *value;
    any = true;
  }
  if (!any) {
    error = kFormatError;
    return std::nullopt;
  }
  return slo;
}

BenchSummary summarize(const std::vector<BenchRequest>& requests, double duration_s,
                       const std::vector<double>& percentiles,
                       const std::optional<GoodputSlo>& goodput) {
  if (!(duration_s > 0) || std::isinf(duration_s)) {
    throw std::invalid_argument("benchmark duration must be positive and finite");
  }
  for (double p : percentiles) {
    if (!(p >= 0 && p <= 100)) {
      throw std::invalid_argument("Percentiles must be in the range [0, 100]");
    }
  }

  BenchSummary s;
  s.duration_s = duration_s;
  std::vector<double> ttfts, tpots, all_tpots, itls, e2els;
  std::vector<const BenchRequest*> successful;
  for (const BenchRequest& r : requests) {
    if (!r.success) {
      ++s.failed;  // its output counts as 0 tokens (actual_output_lens.append(0))
      continue;
    }
    successful.push_back(&r);
    s.total_output += r.output_len;
    s.total_input += r.prompt_len;
    double tpot = 0.0;  // "if output_len <= 1, we regard tpot as 0 for goodput"
    if (r.output_len > 1) {
      tpot = (r.latency_s - r.ttft_s) / static_cast<double>(r.output_len - 1);
      tpots.push_back(tpot);
    }
    all_tpots.push_back(tpot);
    itls.insert(itls.end(), r.itl_s.begin(), r.itl_s.end());
    ttfts.push_back(r.ttft_s);
    e2els.push_back(r.latency_s);
    ++s.completed;
  }

  if (goodput && !goodput->empty()) {
    // SLO in ms / 1000 >= metric in s, for every SLO given (MILLISECONDS_TO_SECONDS_CONVERSION).
    std::uint64_t good = 0;
    for (std::size_t i = 0; i < ttfts.size(); ++i) {
      bool is_good = true;
      if (goodput->ttft_ms) {
        is_good = is_good && *goodput->ttft_ms / 1000 >= ttfts[i];
      }
      if (goodput->tpot_ms) {
        is_good = is_good && *goodput->tpot_ms / 1000 >= all_tpots[i];
      }
      if (goodput->e2el_ms) {
        is_good = is_good && *goodput->e2el_ms / 1000 >= e2els[i];
      }
      if (is_good) {
        ++good;
      }
    }
    s.request_goodput = static_cast<double>(good) / duration_s;
  }

  if (!successful.empty()) {
    double min_start = std::numeric_limits<double>::infinity();
    double max_end = -std::numeric_limits<double>::infinity();
    for (const BenchRequest* r : successful) {
      min_start = std::min(min_start, r->start_s);
      max_end = std::max(max_end, r->start_s + r->latency_s);
    }
    // One-second buckets from the earliest start; each content event (first token, then one
    // per ITL gap) counts 1 in the bucket it falls into.
    const auto buckets = static_cast<std::size_t>(std::ceil(max_end - min_start)) + 1;
    std::vector<double> tokens_per_second(buckets, 0.0);
    for (const BenchRequest* r : successful) {
      double current = r->start_s + r->ttft_s;
      auto count = [&](double token_time) {
        // Python int(): truncation toward zero.
        const double offset = std::trunc(token_time - min_start);
        if (offset >= 0 && offset < static_cast<double>(buckets)) {
          tokens_per_second[static_cast<std::size_t>(offset)] += 1;
        }
      };
      count(current);
      for (double gap : r->itl_s) {
        current += gap;
        count(current);
      }
    }
    s.max_output_tokens_per_s =
        *std::max_element(tokens_per_second.begin(), tokens_per_second.end());

    // Exact peak concurrency: sweep over half-open [start, end); at equal times a departure
    // (-1) sorts before an arrival (+1).
    std::vector<std::pair<double, int>> events;
    events.reserve(successful.size() * 2);
    for (const BenchRequest* r : successful) {
      events.emplace_back(r->start_s, 1);
      events.emplace_back(r->start_s + r->latency_s, -1);
    }
    std::sort(events.begin(), events.end());
    std::int64_t current = 0, peak = 0;
    for (const auto& event : events) {
      current += event.second;
      peak = std::max(peak, current);
    }
    s.max_concurrent_requests = static_cast<std::uint64_t>(peak);
  }

  s.request_throughput = static_cast<double>(s.completed) / duration_s;
  s.output_throughput = static_cast<double>(s.total_output) / duration_s;
  s.total_token_throughput = static_cast<double>(s.total_input + s.total_output) / duration_s;
  s.ttft = summarize_metric(ttfts, percentiles);
  s.tpot = summarize_metric(tpots, percentiles);
  s.itl = summarize_metric(itls, percentiles);
  s.e2el = summarize_metric(e2els, percentiles);
  return s;
}

std::string format_report(const BenchSummary& s, const ReportOptions& options) {
  std::string out = centred(" Serving Benchmark Result ", '=', 50) + "\n";
  out += row("Successful requests:", s.completed);
  out += row("Failed requests:", s.failed);
  if (options.max_concurrency) {
    out += row("Maximum request concurrency:", std::to_string(*options.max_concurrency));
  }
  if (rate_is_finite(options)) {
    out += row_f("Request rate configured (RPS):", *options.request_rate);
  }
  out += row_f("Benchmark duration (s):", s.duration_s);
  out += row("Total input tokens:", s.total_input);
  out += row("Total generated tokens:", s.total_output);
  out += row_f("Request throughput (req/s):", s.request_throughput);
  if (s.request_goodput) {
    out += row_f("Request goodput (req/s):", *s.request_goodput);
  }
  out += row_f("Output token throughput (tok/s):", s.output_throughput);
  out += row_f("Peak output token throughput (tok/s):", s.max_output_tokens_per_s);
  // vLLM formats this integer with {:<10.2f} too.
  out += row_f("Peak concurrent requests:", static_cast<double>(s.max_concurrent_requests));
  // "Total Token", as the result blocks users paste into wikis and grep spell it (REFERENCE.md §1);
  // the newest vLLM prints "Total token".
  out += row_f("Total Token throughput (tok/s):", s.total_token_throughput);
  for (const MetricSection& section : kSections) {
    if (!selected(options, section.attribute)) {
      continue;
    }
    const MetricSummary& m = s.*section.summary;
    const std::string name = section.name;
    out += centred(section.header, '-', 50) + "\n";
    out += row_f("Mean " + name + " (ms):", m.mean_ms);
    out += row_f("Median " + name + " (ms):", m.median_ms);
    for (const auto& [p, value] : m.percentiles_ms) {
      out += row_f("P" + percentile_word(p) + " " + name + " (ms):", value);
    }
  }
  out += std::string(50, '=') + "\n";
  return out;
}

boost::json::object to_result_json(const BenchSummary& s, const ReportOptions& options) {
  boost::json::object j;
  // main_async(): "inf" (a string) when every request is sent at once.
  if (rate_is_finite(options)) {
    j["request_rate"] = *options.request_rate;
  } else {
    j["request_rate"] = "inf";
  }
  j["burstiness"] = options.burstiness;
  if (options.max_concurrency) {
    j["max_concurrency"] = *options.max_concurrency;
  } else {
    j["max_concurrency"] = nullptr;
  }
  j["duration"] = s.duration_s;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["total_input_tokens"] = s.total_input;
  j["total_output_tokens"] = s.total_output;
  j["request_throughput"] = s.request_throughput;
  if (s.request_goodput) {
    j["request_goodput"] = *s.request_goodput;
  } else {
    j["request_goodput"] = nullptr;
  }
  j["output_throughput"] = s.output_throughput;
  j["total_token_throughput"] = s.total_token_throughput;
  j["max_output_tokens_per_s"] = s.max_output_tokens_per_s;
  j["max_concurrent_requests"] = s.max_concurrent_requests;
  j["rtfx"] = 0.0;  // input audio seconds / duration: always 0 for text requests
  for (const MetricSection& section : kSections) {
    if (!selected(options, section.attribute)) {
      continue;
    }
    const MetricSummary& m = s.*section.summary;
    const std::string suffix = std::string(section.attribute) + "_ms";
    j["mean_" + suffix] = m.mean_ms;
    j["median_" + suffix] = m.median_ms;
    j["std_" + suffix] = m.std_ms;
    for (const auto& [p, value] : m.percentiles_ms) {
      j["p" + percentile_word(p) + "_" + suffix] = value;
    }
  }
  return j;
}

}  // namespace llmprobe
