// Tests of llmprobe-sim's continuous-batching load model (Options::load_model) through its HTTP
// interface, with the simulator tests' raw Beast client (sim_client.hpp, shares nothing with
// the daemon). Timing is checked
// against the ground truth the simulator records, with tolerances for a busy machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "sim_client.hpp"
#include "simulator.hpp"

namespace {

using namespace llmprobe::sim_client;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using llmprobe::sim::Options;
using llmprobe::sim::RequestTruth;
using llmprobe::sim::SimClock;
using llmprobe::sim::Simulator;

// Step timing used by most tests: base 10 ms + 5 ms per running sequence, prefill negligible.
constexpr auto kBase = 10ms;
constexpr auto kPerSeq = 5ms;

// A completion of exactly `tokens` tokens (ignore_eos), prompt of four words.
std::string completion_body(int tokens, bool stream = true) {
  return json::serialize(json::object{{"model", "sim-test"},
                                      {"prompt", "one two three four"},
                                      {"max_tokens", tokens},
                                      {"stream", stream},
                                      {"ignore_eos", true}});
}

Request completion(const std::string& id, int tokens) {
  Request request;
  request.body = completion_body(tokens);
  request.headers = {{"X-Request-Id", id}};
  return request;
}

// The truth appears when the simulator has finished the request: poll, bounded.
RequestTruth truth_of(const Simulator& simulator, const std::string& id) {
  const auto give_up = SimClock::now() + 3s;
  while (SimClock::now() < give_up) {
    if (auto truth = simulator.truth_for(id)) {
      return *truth;
    }
    std::this_thread::sleep_for(1ms);
  }
  ADD_FAILURE() << "no ground truth for " << id;
  return {};
}

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Options model_options(int max_running) {
  Options options;
  options.natural_output_tokens = 8;
  options.load_model.enabled = true;
  options.load_model.max_running = max_running;
  options.load_model.prefill_tokens_per_s = 1e6;  // 4 prompt tokens: 4 us
  options.load_model.decode_step_base = kBase;
  options.load_model.decode_step_per_seq = kPerSeq;
  return options;
}

class SimLoadModelTest : public ::testing::Test {
 protected:
  void start(const Options& options) {
    simulator_ = std::make_unique<Simulator>(options);
    simulator_->start();
    ASSERT_NE(simulator_->port(), 0);
  }
  std::vector<Reply> run(const std::vector<Request>& requests) {
    auto replies = run_all(simulator_->port(), requests);
    for (const auto& reply : replies) {
      EXPECT_EQ(reply.status, 200u) << reply.body;
      EXPECT_FALSE(reply.read_error) << reply.read_error.message();
    }
    return replies;
  }
  RequestTruth truth(const std::string& id) { return truth_of(*simulator_, id); }

  std::unique_ptr<Simulator> simulator_;
};

TEST_F(SimLoadModelTest, RequestsBeyondMaxRunningQueueAndTheirTtftIncludesTheWait) {
  auto options = model_options(2);
  options.load_model.prefill_tokens_per_s = 1000;  // 4 prompt tokens: 4 ms of prefill
  start(options);
  std::vector<Request> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(completion("q-" + std::to_string(i), 4));
  }
  run(requests);
  std::vector<RequestTruth> truths;
  for (int i = 0; i < 4; ++i) {
    truths.push_back(truth("q-" + std::to_string(i)));
    ASSERT_EQ(truths.back().content_event_times.size(), 4u);
    ASSERT_EQ(truths.back().batch_sizes.size(), 4u);
    for (const int batch : truths.back().batch_sizes) {
      EXPECT_GE(batch, 1);
      EXPECT_LE(batch, 2) << "more sequences ran than max_running";
    }
  }
  std::sort(truths.begin(), truths.end(),
            [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
  for (int i = 2; i < 4; ++i) {
    const auto& queued = truths[static_cast<std::size_t>(i)];
    // Admitted only when a running sequence had all its tokens: at least 4 steps of >= 15 ms.
    // (admission times are the engine's step starts, exact).
    EXPECT_GE(queued.started_at - truths[0].started_at, 4 * (kBase + kPerSeq)) << queued.request_id;
    EXPECT_GE(queued.queued_for, 4 * (kBase + kPerSeq) - 2ms) << queued.request_id;
    EXPECT_EQ(queued.queued_for, queued.started_at - queued.received_at);
    // TTFT = queue wait + prefill (4 ms) + one step (>= base + 1 x per_seq).
    const auto ttft = queued.content_event_times.front() - queued.received_at;
    EXPECT_GE(ttft, queued.queued_for + 4ms + kBase + kPerSeq - 1ms)
        << queued.request_id << " ttft " << ms(ttft) << " ms";
  }
  for (int i = 0; i < 2; ++i) {
    const auto& running = truths[static_cast<std::size_t>(i)];
    EXPECT_LT(running.queued_for, kBase + 2 * kPerSeq + 4ms + 3ms) << running.request_id;
  }
}

TEST_F(SimLoadModelTest, InterTokenLatencyGrowsWithTheBatchByDecodeStepPerSeq) {
  start(model_options(4));
  // "long" runs 16 steps; "short" joins and leaves after 6: the long one sees both batch sizes.
  run({completion("long", 16), completion("short", 6)});
  const auto long_truth = truth("long");
  ASSERT_EQ(long_truth.content_event_times.size(), 16u);
  ASSERT_EQ(long_truth.batch_sizes.size(), 16u);
  std::map<int, std::vector<double>> gaps;  // batch size -> gaps (ms)
  for (std::size_t k = 1; k < 16; ++k) {
    gaps[long_truth.batch_sizes[k]].push_back(
        ms(long_truth.content_event_times[k] - long_truth.content_event_times[k - 1]));
  }
  ASSERT_EQ(gaps.count(1), 1u);
  ASSERT_EQ(gaps.count(2), 1u) << "the two requests never ran together";
  // Medians: a write delayed by a busy machine lengthens one gap and shortens the next.
  const auto median = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  const double itl1 = median(gaps[1]);
  const double itl2 = median(gaps[2]);
  // Tolerances leave room for a machine busy compiling (the steps differ by 5 ms).
  EXPECT_NEAR(itl1, ms(kBase + kPerSeq), 3.0);
  EXPECT_NEAR(itl2, ms(kBase + 2 * kPerSeq), 3.0);
  EXPECT_NEAR(itl2 - itl1, ms(kPerSeq), 2.0);
  const auto short_truth = truth("short");
  EXPECT_EQ(short_truth.batch_sizes, std::vector<int>(6, 2));
}

// Output tokens per second over a burst of `concurrency` requests of `tokens` tokens each.
double burst_throughput(Simulator& simulator, int concurrency, int tokens,
                        const std::string& prefix) {
  std::vector<Request> requests;
  for (int i = 0; i < concurrency; ++i) {
    requests.push_back(completion(prefix + std::to_string(i), tokens));
  }
  run_all(simulator.port(), requests);
  auto begin = SimClock::time_point::max();
  auto end = SimClock::time_point::min();
  int total = 0;
  for (int i = 0; i < concurrency; ++i) {
    const auto t = truth_of(simulator, prefix + std::to_string(i));
    if (t.content_event_times.empty()) {
      ADD_FAILURE() << "no events for " << t.request_id;
      continue;
    }
    begin = std::min(begin, t.received_at);
    end = std::max(end, t.content_event_times.back());
    total += t.output_tokens;
  }
  return total / std::chrono::duration<double>(end - begin).count();
}

TEST_F(SimLoadModelTest, OutputThroughputSaturatesBeyondMaxRunning) {
  auto options = model_options(2);
  options.load_model.decode_step_base = 10ms;
  options.load_model.decode_step_per_seq = 1ms;
  start(options);
  const double one = burst_throughput(*simulator_, 1, 8, "c1-");
  const double at_s = burst_throughput(*simulator_, 2, 8, "c2-");
  const double twice_s = burst_throughput(*simulator_, 4, 8, "c4-");
  const double four_s = burst_throughput(*simulator_, 8, 8, "c8-");
  // Below S more requests mean more throughput; beyond S it is capped by the engine: 2 tokens
  // per 12 ms step. (At exactly S the short run's ramp keeps it a little under the cap, so the
  // cap, not the S run, is the reference.)
  const double capacity = 2 / 0.012;
  EXPECT_GT(at_s, 1.5 * one) << one << " -> " << at_s << " tokens/s";
  EXPECT_LT(twice_s, 1.05 * capacity) << at_s << " -> " << twice_s << " tokens/s";
  EXPECT_LT(four_s, 1.05 * capacity) << twice_s << " -> " << four_s << " tokens/s";
  EXPECT_LT(four_s, 1.15 * twice_s) << twice_s << " -> " << four_s << " tokens/s";
}

TEST_F(SimLoadModelTest, StepsFollowAnAbsoluteGridWithoutDrift) {
  start(model_options(4));
  auto bundled = completion("bundled", 30);
  bundled.headers["x-sim-tokens-per-event"] = "3";
  run({completion("grid", 20)});
  run({bundled});
  const auto step = kBase + kPerSeq;  // one running sequence; prefill is 4 us
  // Each event is measured against the engine's grid (admission + tokens x step), so drift would
  // show as lateness growing with k. A busy machine delays a write now and then, and the next
  // event is back on the grid. Every event of the second half being over 2 ms late would be
  // drift; the median is allowed a little more for a machine busy compiling.
  const auto check = [&](const RequestTruth& t, const std::vector<int>& tokens_per_event) {
    ASSERT_EQ(t.tokens_per_content_event, tokens_per_event);
    int tokens = 0;
    std::vector<std::chrono::nanoseconds> lateness;
    for (std::size_t k = 0; k < t.content_event_times.size(); ++k) {
      tokens += tokens_per_event[k];
      // The step producing the event's last token ends at admission + tokens x step (+ 4 us).
      const auto grid = t.started_at + tokens * step + 4us;
      const auto late = t.content_event_times[k] - grid;
      EXPECT_GE(late, -10us) << t.request_id << " event " << k << " before its step ended";
      EXPECT_LT(late, 25ms) << t.request_id << " event " << k << " " << ms(late) << " ms late";
      lateness.push_back(late);
    }
    // Drift accumulates: with it, no event of the second half could be back on the grid.
    const auto best_late = *std::min_element(
        lateness.begin() + static_cast<std::ptrdiff_t>(lateness.size() / 2), lateness.end());
    EXPECT_LT(best_late, 2ms) << t.request_id << ": the second half drifted off the grid";
    std::sort(lateness.begin(), lateness.end());
    EXPECT_LT(lateness[lateness.size() / 2], 4ms) << t.request_id << " median lateness";
  };
  check(truth("grid"), std::vector<int>(20, 1));
  check(truth("bundled"), std::vector<int>(10, 3));
}

TEST_F(SimLoadModelTest, EveryFlavorIsFedByTheEngineAndDelayHeadersAreIgnored) {
  start(model_options(8));
  const std::vector<Request> requests{
      {http::verb::post,
       "/v1/chat/completions",
       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3,)"
       R"("stream":true,"ignore_eos":true})",
       {{"X-Request-Id", "chat"}, {"x-sim-ttft", "500ms"}, {"x-sim-itl", "200ms"}}},
      {http::verb::post, "/v1/completions", completion_body(3, false), {{"X-Request-Id", "whole"}}},
      {http::verb::post,
       "/generate_stream",
       R"({"inputs":"a b","parameters":{"max_new_tokens":3}})",
       {{"X-Request-Id", "tgi"}, {"x-sim-output-tokens", "3"}}},
      {http::verb::post,
       "/v2/models/m/generate_stream",
       R"({"text_input":"a b","max_tokens":3,"stream":true,"ignore_eos":true})",
       {{"X-Request-Id", "triton"}}},
      {http::verb::post,
       "/infer",
       R"({"inputs":"a b","stream":true,"parameters":{"max_new_tokens":3,"ignore_eos":true}})",
       {{"X-Request-Id", "mindie"}}},
      {http::verb::post,
       "/api/chat",
       R"({"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":3}})",
       {{"X-Request-Id", "ollama"}, {"x-sim-output-tokens", "3"}}},
  };
  run(requests);
  for (const char* id : {"chat", "whole", "tgi", "triton", "mindie", "ollama"}) {
    const auto t = truth(id);
    EXPECT_TRUE(t.completed) << id;
    EXPECT_EQ(t.output_tokens, 3) << id;
    EXPECT_EQ(t.batch_sizes.size(), 3u) << id;
    ASSERT_FALSE(t.content_event_times.empty()) << id;
    // Six requests in one batch: steps of 10 + 6 x 5 = 40 ms, three of them; not 500 ms.
    EXPECT_LT(t.content_event_times.back() - t.received_at, 300ms) << id;
    for (const int batch : t.batch_sizes) {
      EXPECT_GE(batch, 1) << id;
      EXPECT_LE(batch, 6) << id;
    }
  }
  const auto mindie = truth("mindie");
  ASSERT_TRUE(mindie.reported_prefill.has_value());
  ASSERT_EQ(mindie.content_event_times.size(), 3u);
  // prefill_time: the first token's step end since admission (one step of 15..40 ms).
  EXPECT_GE(*mindie.reported_prefill, kBase + kPerSeq - 1ms);
  EXPECT_LE(*mindie.reported_prefill, kBase + 6 * kPerSeq + 1ms);
  const auto ollama = truth("ollama");
  ASSERT_TRUE(ollama.reported_queue.has_value());
  EXPECT_EQ(*ollama.reported_queue, ollama.queued_for);
}

TEST_F(SimLoadModelTest, ModelOffKeepsPerRequestTimersAndEmptyBatchSizes) {
  Options options;
  options.ttft = {llmprobe::sim::DelaySpec::Kind::fixed, 20ms, {}};
  options.itl = {llmprobe::sim::DelaySpec::Kind::fixed, 5ms, {}};
  start(options);
  run({completion("off", 3)});
  const auto t = truth("off");
  ASSERT_EQ(t.content_event_times.size(), 3u);
  EXPECT_TRUE(t.batch_sizes.empty());
  EXPECT_EQ(t.queued_for, t.started_at - t.received_at);
  EXPECT_GE(t.content_event_times[0] - t.started_at, 20ms);
  // The per-request schedule: TTFT then ITL, on absolute deadlines.
  EXPECT_GE(t.content_event_times[2] - t.started_at, 20ms + 2 * 5ms);
}

TEST_F(SimLoadModelTest, SeveralThreadsShareOneEngine) {
  auto options = model_options(2);
  options.threads = 2;
  start(options);
  std::vector<Request> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(completion("threaded-" + std::to_string(i), 3));
  }
  run(requests);
  int queued = 0;
  for (int i = 0; i < 6; ++i) {
    const auto t = truth("threaded-" + std::to_string(i));
    EXPECT_TRUE(t.completed);
    ASSERT_EQ(t.batch_sizes.size(), 3u);
    for (const int batch : t.batch_sizes) {
      EXPECT_LE(batch, 2);
    }
    if (t.queued_for >= 3 * (kBase + kPerSeq) - 2ms) {
      ++queued;
    }
  }
  EXPECT_GE(queued, 4) << "six requests, two running at a time: four waited a full turn";
}

TEST_F(SimLoadModelTest, ARequestThatEndsEarlyFreesItsPlaceInTheBatch) {
  start(model_options(1));
  // "cut" closes after 5 of its 10 events (close_mid_stream); "next" waits for the only place.
  auto cut = completion("cut", 10);
  cut.headers["x-sim-fault"] = "close_mid_stream";
  const auto replies = run_all(simulator_->port(), {cut, completion("next", 2)});
  EXPECT_EQ(replies[1].status, 200u);
  const auto cut_truth = truth("cut");
  const auto next_truth = truth("next");
  ASSERT_EQ(cut_truth.content_event_times.size(), 5u);
  EXPECT_EQ(cut_truth.batch_sizes, std::vector<int>(5, 1));
  ASSERT_EQ(next_truth.content_event_times.size(), 2u);
  // Dropped at the first step after the close (6 or 7 steps in), not after all 10 tokens.
  const auto step = kBase + kPerSeq;
  EXPECT_GE(next_truth.started_at - cut_truth.started_at, 5 * step);
  EXPECT_LE(next_truth.started_at - cut_truth.started_at, 7 * step);
}

TEST(SimLoadModelOptionsTest, InvalidModelSettingsAreRejected) {
  auto options = model_options(0);
  EXPECT_THROW(Simulator{options}, std::invalid_argument);
  options = model_options(2);
  options.load_model.prefill_tokens_per_s = 0;
  EXPECT_THROW(Simulator{options}, std::invalid_argument);
  options = model_options(2);
  options.load_model.decode_step_base = 0ms;
  options.load_model.decode_step_per_seq = 0ms;
  EXPECT_THROW(Simulator{options}, std::invalid_argument);
  options.load_model.enabled = false;  // ignored when off
  EXPECT_NO_THROW(Simulator{options});
}

}  // namespace
