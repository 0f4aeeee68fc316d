#include "llmprobe/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "process_metrics.hpp"

#ifndef LLMPROBE_VERSION
#define LLMPROBE_VERSION "unknown"
#endif
#ifndef LLMPROBE_REVISION
#define LLMPROBE_REVISION "unknown"
#endif

namespace llmprobe {

BuildInfo build_info() {
  return BuildInfo{LLMPROBE_VERSION, LLMPROBE_REVISION};
}

namespace {

std::vector<double> sorted_union(std::vector<double> edges, const std::vector<double>& extra) {
  edges.insert(edges.end(), extra.begin(), extra.end());
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  return edges;
}

}  // namespace

// vLLM's server-side edges (REFERENCE.md §2) plus finer ones where vLLM's ladder is too coarse
// for a single probe: fast models stream a token every 5-10 ms, and TTFT of a short prompt on an
// idle server sits between 0.1 and 0.5 s where vLLM has only two edges.
const std::vector<double>& default_ttft_buckets() {
  static const std::vector<double> buckets =
      sorted_union({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                    1,     2.5,   5,    7.5,  10,   20,   40,   80,  160,  640, 2560},
                   {0.15, 0.2, 0.3, 0.4});
  return buckets;
}

const std::vector<double>& default_itl_buckets() {
  static const std::vector<double> buckets =
      sorted_union({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5,
                    10, 20, 40, 80},
                   {0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.015, 0.02, 0.03, 0.04});
  return buckets;
}

const std::vector<double>& default_request_duration_buckets() {
  static const std::vector<double> buckets =
      sorted_union({0.3, 0.5, 0.8, 1,  1.5, 2,   2.5, 5,   10,   15,  20,
                    30,  40,  50,  60, 120, 240, 480, 960, 1920, 7680},
                   {0.05, 0.1, 0.2});
  return buckets;
}

const std::vector<double>& default_schedule_lag_buckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10};
  return buckets;
}

const std::vector<double>& default_phase_buckets() {
  return default_schedule_lag_buckets();
}

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Labels;

// The families, created once; series are added per (target, workload).
struct Families {
  explicit Families(prometheus::Registry& registry)
      : time_to_first_token(
            prometheus::BuildHistogram()
                .Name("llmprobe_time_to_first_token_seconds")
                .Help("Time from sending the request to the first stream event carrying generated "
                      "content, in seconds (vLLM's TTFT).")
                .Register(registry)),
        inter_token_latency(
            prometheus::BuildHistogram()
                .Name("llmprobe_inter_token_latency_seconds")
                .Help("Gap between consecutive content-bearing stream events of one request, in "
                      "seconds; one observation per gap (vLLM's ITL).")
                .Register(registry)),
        time_per_output_token(
            prometheus::BuildHistogram()
                .Name("llmprobe_time_per_output_token_seconds")
                .Help("Per request: (end-to-end latency - TTFT) / (output tokens - 1), in seconds; "
                      "only requests with more than one output token (vLLM's TPOT).")
                .Register(registry)),
        request_duration(
            prometheus::BuildHistogram()
                .Name("llmprobe_request_duration_seconds")
                .Help("Time from sending the request to its last content-bearing stream event, in "
                      "seconds; successful requests only (vLLM's E2E latency).")
                .Register(registry)),
        schedule_lag(prometheus::BuildHistogram()
                         .Name("llmprobe_schedule_lag_seconds")
                         .Help("How late each request was sent relative to its scheduled time, in "
                               "seconds; every request that started.")
                         .Register(registry)),
        requests(prometheus::BuildCounter()
                     .Name("llmprobe_requests_total")
                     .Help("Finished probe requests, by outcome (success or error).")
                     .Register(registry)),
        request_errors(prometheus::BuildCounter()
                           .Name("llmprobe_request_errors_total")
                           .Help("Failed probe requests, by error reason.")
                           .Register(registry)),
        output_tokens(prometheus::BuildCounter()
                          .Name("llmprobe_output_tokens_total")
                          .Help("Output tokens of successful requests: usage.completion_tokens, "
                                "else the number of content events.")
                          .Register(registry)),
        input_tokens(prometheus::BuildCounter()
                         .Name("llmprobe_input_tokens_total")
                         .Help("Prompt tokens of successful requests, as reported by the "
                               "server's usage (requests without usage are not counted).")
                         .Register(registry)),
        output_tokens_estimated(
            prometheus::BuildCounter()
                .Name("llmprobe_output_tokens_estimated_total")
                .Help("Successful requests whose output token count was estimated from the "
                      "number of content events because the server sent no usage.")
                .Register(registry)),
        runs_skipped(prometheus::BuildCounter()
                         .Name("llmprobe_runs_skipped_total")
                         .Help("Scheduled runs not started because the previous run of the same "
                               "target and workload was still in flight.")
                         .Register(registry)),
        probe_success(prometheus::BuildGauge()
                          .Name("llmprobe_probe_success")
                          .Help("1 if the last finished request succeeded, 0 otherwise.")
                          .Register(registry)),
        last_run_timestamp(prometheus::BuildGauge()
                               .Name("llmprobe_last_run_timestamp_seconds")
                               .Help("Unix time in seconds when the last request finished.")
                               .Register(registry)),
        last_success_timestamp(
            prometheus::BuildGauge()
                .Name("llmprobe_last_success_timestamp_seconds")
                .Help("Unix time in seconds when the last successful request finished; 0 before "
                      "the first success.")
                .Register(registry)),
        in_flight(prometheus::BuildGauge()
                      .Name("llmprobe_in_flight_requests")
                      .Help("Probe requests currently in flight.")
                      .Register(registry)),
        request_phase(prometheus::BuildHistogram()
                          .Name("llmprobe_request_phase_seconds")
                          .Help("Duration of each connection phase of a request, in seconds: "
                                "resolve, connect, tls (only on new connections), request_write "
                                "and first_byte (response header after the request was written).")
                          .Register(registry)),
        server_reported_queue(prometheus::BuildHistogram()
                                  .Name("llmprobe_server_reported_queue_seconds")
                                  .Help("Queue time the server reported for a request, in seconds.")
                                  .Register(registry)),
        server_reported_prefill(
            prometheus::BuildHistogram()
                .Name("llmprobe_server_reported_prefill_seconds")
                .Help("Prefill (prompt processing) time the server reported for a request, in "
                      "seconds: MindIE prefill_time, Ollama prompt_eval_duration.")
                .Register(registry)),
        server_reported_decode(
            prometheus::BuildHistogram()
                .Name("llmprobe_server_reported_decode_seconds")
                .Help("Decode time the server reported for a request, in seconds: MindIE "
                      "decode_time summed over events, Ollama eval_duration.")
                .Register(registry)),
        server_reported_request_duration(
            prometheus::BuildHistogram()
                .Name("llmprobe_server_reported_request_duration_seconds")
                .Help("Whole-request time the server reported, in seconds: Ollama "
                      "total_duration.")
                .Register(registry)),
        build(prometheus::BuildGauge()
                  .Name("llmprobe_build_info")
                  .Help("A metric with a constant '1' value labeled by the version and revision "
                        "llmprobe was built from.")
                  .Register(registry)) {}

  Family<Histogram>& time_to_first_token;
  Family<Histogram>& inter_token_latency;
  Family<Histogram>& time_per_output_token;
  Family<Histogram>& request_duration;
  Family<Histogram>& schedule_lag;
  Family<Counter>& requests;
  Family<Counter>& request_errors;
  Family<Counter>& output_tokens;
  Family<Counter>& input_tokens;
  Family<Counter>& output_tokens_estimated;
  Family<Counter>& runs_skipped;
  Family<Gauge>& probe_success;
  Family<Gauge>& last_run_timestamp;
  Family<Gauge>& last_success_timestamp;
  Family<Gauge>& in_flight;
  Family<Histogram>& request_phase;
  Family<Histogram>& server_reported_queue;
  Family<Histogram>& server_reported_prefill;
  Family<Histogram>& server_reported_decode;
  Family<Histogram>& server_reported_request_duration;
  Family<Gauge>& build;
};

// The phase label's values, in the order a request goes through them.
constexpr std::array<const char*, 5> kPhases = {"resolve", "connect", "tls", "request_write",
                                                "first_byte"};

// Flavors whose streams carry server-side timings; only their pairs get server_reported_* series.
bool reports_server_timings(ApiFlavor flavor) {
  switch (flavor) {
    case ApiFlavor::triton:
    case ApiFlavor::mindie:
    case ApiFlavor::mindie_chat:
    case ApiFlavor::ollama:
    case ApiFlavor::ollama_generate:
      return true;
    case ApiFlavor::openai_completions:
    case ApiFlavor::openai_chat:
    case ApiFlavor::tgi:
      return false;
  }
  return false;
}

// Histogram edges must be finite and strictly increasing: prometheus-cpp would otherwise produce
// a histogram promtool and PromQL reject.
const std::vector<double>& checked_buckets(const std::vector<double>& configured,
                                           const std::vector<double>& fallback,
                                           const Workload& workload, const char* histogram) {
  if (configured.empty())
    return fallback;
  for (std::size_t i = 0; i < configured.size(); ++i) {
    if (!std::isfinite(configured[i]) || (i > 0 && configured[i] <= configured[i - 1])) {
      throw std::invalid_argument("workload " + workload.name + ": buckets." + histogram +
                                  " must be finite and strictly increasing");
    }
  }
  return configured;
}

double unix_seconds(std::chrono::system_clock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

class Series final : public ProbeSeries {
 public:
  Series(Families& families, const Target& target, const Workload& workload)
      : labels_{{"target", target.name}, {"model", target.model}, {"workload", workload.name}},
        time_to_first_token_(families.time_to_first_token.Add(
            labels_, checked_buckets(workload.buckets.time_to_first_token, default_ttft_buckets(),
                                     workload, "time_to_first_token"))),
        inter_token_latency_(families.inter_token_latency.Add(
            labels_, checked_buckets(workload.buckets.inter_token_latency, default_itl_buckets(),
                                     workload, "inter_token_latency"))),
        time_per_output_token_(families.time_per_output_token.Add(
            labels_, checked_buckets(workload.buckets.time_per_output_token, default_itl_buckets(),
                                     workload, "time_per_output_token"))),
        request_duration_(families.request_duration.Add(
            labels_,
            checked_buckets(workload.buckets.request_duration, default_request_duration_buckets(),
                            workload, "request_duration"))),
        schedule_lag_(families.schedule_lag.Add(
            labels_, checked_buckets(workload.buckets.schedule_lag, default_schedule_lag_buckets(),
                                     workload, "schedule_lag"))),
        requests_success_(families.requests.Add(with(labels_, "outcome", "success"))),
        requests_error_(families.requests.Add(with(labels_, "outcome", "error"))),
        output_tokens_(families.output_tokens.Add(labels_)),
        input_tokens_(families.input_tokens.Add(labels_)),
        output_tokens_estimated_(families.output_tokens_estimated.Add(labels_)),
        runs_skipped_(families.runs_skipped.Add(labels_)),
        probe_success_(families.probe_success.Add(labels_)),
        last_run_timestamp_(families.last_run_timestamp.Add(labels_)),
        last_success_timestamp_(families.last_success_timestamp.Add(labels_)),
        in_flight_(families.in_flight.Add(labels_)) {
    for (std::size_t i = 0; i < kPhases.size(); ++i) {
      phases_[i] =
          &families.request_phase.Add(with(labels_, "phase", kPhases[i]), default_phase_buckets());
    }
    if (reports_server_timings(target.api)) {
      server_queue_ = &families.server_reported_queue.Add(labels_, default_ttft_buckets());
      server_prefill_ = &families.server_reported_prefill.Add(labels_, default_ttft_buckets());
      server_decode_ =
          &families.server_reported_decode.Add(labels_, default_request_duration_buckets());
      server_total_ = &families.server_reported_request_duration.Add(
          labels_, default_request_duration_buckets());
    }
    for (std::size_t i = 0; i < kAllErrorReasons.size(); ++i) {
      const auto reason = kAllErrorReasons[i];
      errors_by_reason_.at(static_cast<std::size_t>(reason)) =
          &families.request_errors.Add(with(labels_, "reason", std::string(to_string(reason))));
    }
  }

  void observe(const Measurement& measurement,
               std::chrono::system_clock::time_point finished_at) override {
    // Every request that started was late by some amount, whatever its outcome.
    schedule_lag_.Observe(to_seconds(measurement.lateness));
    // Phases and server timings that happened are real whatever the outcome.
    const std::array<const std::optional<Duration>*, kPhases.size()> phases = {
        &measurement.resolve, &measurement.connect, &measurement.tls, &measurement.request_write,
        &measurement.first_byte};
    for (std::size_t i = 0; i < phases.size(); ++i) {
      if (*phases[i])
        phases_[i]->Observe(to_seconds(**phases[i]));
    }
    observe_if(server_queue_, measurement.server_timings.queue);
    observe_if(server_prefill_, measurement.server_timings.prefill);
    observe_if(server_decode_, measurement.server_timings.decode);
    observe_if(server_total_, measurement.server_timings.total);
    // A request that streamed and then failed (truncated, idle timeout) still showed the user
    // its first token and its gaps: those are real latencies and are kept.
    if (measurement.ttft)
      time_to_first_token_.Observe(to_seconds(*measurement.ttft));
    for (const auto gap : measurement.itl)
      inter_token_latency_.Observe(to_seconds(gap));
    const double now = unix_seconds(finished_at);
    last_run_timestamp_.Set(now);
    if (measurement.error) {
      requests_error_.Increment();
      const auto index = static_cast<std::size_t>(*measurement.error);
      if (index < errors_by_reason_.size() && errors_by_reason_[index] != nullptr) {
        errors_by_reason_[index]->Increment();
      }
      probe_success_.Set(0);
      return;
    }
    if (measurement.tpot)
      time_per_output_token_.Observe(to_seconds(*measurement.tpot));
    if (measurement.e2e)
      request_duration_.Observe(to_seconds(*measurement.e2e));
    requests_success_.Increment();
    output_tokens_.Increment(static_cast<double>(measurement.output_tokens));
    if (measurement.input_tokens)
      input_tokens_.Increment(static_cast<double>(*measurement.input_tokens));
    if (measurement.output_tokens_estimated)
      output_tokens_estimated_.Increment();
    probe_success_.Set(1);
    last_success_timestamp_.Set(now);
  }

  void run_skipped() override { runs_skipped_.Increment(); }
  void request_started() override { in_flight_.Increment(); }
  void request_finished() override { in_flight_.Decrement(); }

 private:
  static void observe_if(Histogram* histogram, const std::optional<Duration>& value) {
    if (histogram != nullptr && value)
      histogram->Observe(to_seconds(*value));
  }

  static Labels with(Labels labels, const std::string& name, const std::string& value) {
    labels.emplace(name, value);
    return labels;
  }

  Labels labels_;
  Histogram& time_to_first_token_;
  Histogram& inter_token_latency_;
  Histogram& time_per_output_token_;
  Histogram& request_duration_;
  Histogram& schedule_lag_;
  Counter& requests_success_;
  Counter& requests_error_;
  Counter& output_tokens_;
  Counter& input_tokens_;
  Counter& output_tokens_estimated_;
  Counter& runs_skipped_;
  Gauge& probe_success_;
  Gauge& last_run_timestamp_;
  Gauge& last_success_timestamp_;
  Gauge& in_flight_;
  std::array<Histogram*, kPhases.size()> phases_{};
  Histogram* server_queue_ = nullptr;  // set only for flavors that report timings
  Histogram* server_prefill_ = nullptr;
  Histogram* server_decode_ = nullptr;
  Histogram* server_total_ = nullptr;
  // Indexed by the enum's value, so observe() needs no lookup that could throw.
  std::array<Counter*, kAllErrorReasons.size()> errors_by_reason_{};
};

}  // namespace

struct MetricsRegistry::Impl {
  prometheus::Registry registry;
  Families families{registry};
  ProcessCollector process;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Series>> series;
};

MetricsRegistry::MetricsRegistry(const Config& config, BuildInfo info)
    : impl_(std::make_unique<Impl>()) {
  impl_->families.build.Add({{"version", info.version}, {"revision", info.revision}}).Set(1);
  for (const auto& target : config.targets) {
    std::vector<const Workload*> workloads;
    if (target.workloads.empty()) {
      for (const auto& workload : config.workloads)
        workloads.push_back(&workload);
    } else {
      for (const auto& name : target.workloads) {
        const Workload* workload = config.find_workload(name);
        if (workload == nullptr) {
          throw std::invalid_argument("target " + target.name + ": unknown workload " + name);
        }
        workloads.push_back(workload);
      }
    }
    for (const Workload* workload : workloads) {
      auto key = std::make_pair(target.name, workload->name);
      if (impl_->series.contains(key)) {
        throw std::invalid_argument("target " + target.name + " lists workload " + workload->name +
                                    " twice (or the target name is repeated)");
      }
      impl_->series.emplace(std::move(key),
                            std::make_unique<Series>(impl_->families, target, *workload));
    }
  }
}

MetricsRegistry::~MetricsRegistry() = default;

ProbeSeries& MetricsRegistry::series(const std::string& target, const std::string& workload) {
  auto it = impl_->series.find({target, workload});
  if (it == impl_->series.end()) {
    throw std::out_of_range("no metrics series for target " + target + " and workload " + workload);
  }
  return *it->second;
}

std::string MetricsRegistry::serialize() const {
  auto families = impl_->registry.Collect();
  auto process = impl_->process.Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

}  // namespace llmprobe
