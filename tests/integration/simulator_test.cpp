// Tests of llmprobe-sim through its HTTP interface, with the deliberately minimal raw Beast client
// of sim_client.hpp (not llmprobe's): the simulator is the reference the daemon is tested
// against, so it must be checked by code that shares nothing with the daemon.
#include "simulator.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "sim_client.hpp"

namespace {

using namespace llmprobe::sim_client;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using llmprobe::sim::DelaySpec;
using llmprobe::sim::Options;
using llmprobe::sim::RequestTruth;
using llmprobe::sim::SimClock;
using llmprobe::sim::Simulator;

constexpr auto kTtft = 20ms;
constexpr auto kItl = 5ms;

// The data of each SSE event, split the simplest way (the simulator writes "data: x\n\n", or
// "data:x\n\n" for TGI and MindIE).
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> events;
  std::size_t at = 0;
  while (at < body.size()) {
    const auto end = body.find("\n\n", at);
    const auto event = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (event.rfind("data: ", 0) == 0) {
      events.push_back(event.substr(6));
    } else if (event.rfind("data:", 0) == 0) {
      events.push_back(event.substr(5));
    } else {
      events.push_back(event);
    }
    if (end == std::string::npos) {
      break;
    }
    at = end + 2;
  }
  return events;
}

std::string completion_body(int max_tokens, bool stream = true, bool include_usage = true,
                            bool ignore_eos = false) {
  json::object body{{"model", "sim-test"},
                    {"prompt", "one two  three\tfour"},
                    {"max_tokens", max_tokens},
                    {"stream", stream},
                    {"ignore_eos", ignore_eos}};
  if (include_usage) {
    body["stream_options"] = json::object{{"include_usage", true}};
  }
  return json::serialize(body);
}

std::string chat_body(int max_tokens) {
  return json::serialize(json::object{
      {"model", "sim-test"},
      {"messages", json::array{json::object{{"role", "system"}, {"content", "be brief"}},
                               json::object{{"role", "user"}, {"content", "say hello"}}}},
      {"max_tokens", max_tokens},
      {"stream", true},
      {"stream_options", json::object{{"include_usage", true}}}});
}

// The truth of a request appears when the simulator has finished it, which can be a moment
// after the client saw the end of the response: poll, bounded.
std::optional<RequestTruth> wait_for_truth(const Simulator& simulator, const std::string& id) {
  const auto give_up = SimClock::now() + 3s;
  while (SimClock::now() < give_up) {
    if (auto truth = simulator.truth_for(id)) {
      return truth;
    }
    std::this_thread::sleep_for(1ms);
  }
  return std::nullopt;
}

class SimulatorTest : public ::testing::Test {
 protected:
  static Options fast_options() {
    Options options;
    options.ttft = DelaySpec{DelaySpec::Kind::fixed, kTtft, {}};
    options.itl = DelaySpec{DelaySpec::Kind::fixed, kItl, {}};
    options.natural_output_tokens = 8;
    return options;
  }
  void start(Options options = fast_options()) {
    simulator_ = std::make_unique<Simulator>(std::move(options));
    simulator_->start();
    ASSERT_NE(simulator_->port(), 0);
  }
  void SetUp() override { start(); }

  Reply post(const std::string& target, std::string body, const std::string& id,
             std::map<std::string, std::string> headers = {}) {
    headers["X-Request-Id"] = id;
    return run_one(simulator_->port(), Request{http::verb::post, target, std::move(body),
                                               std::move(headers), 0ms, nullptr});
  }

  RequestTruth truth(const std::string& id) {
    auto found = wait_for_truth(*simulator_, id);
    EXPECT_TRUE(found.has_value()) << "no ground truth for " << id;
    return found.value_or(RequestTruth{});
  }

  std::unique_ptr<Simulator> simulator_;
};

TEST_F(SimulatorTest, ChatStreamHasRoleChunkContentFinishReasonUsageAndDone) {
  const auto reply = post("/v1/chat/completions", chat_body(3), "chat-1");
  ASSERT_EQ(reply.status, 200u);
  EXPECT_FALSE(reply.read_error) << reply.read_error.message();
  EXPECT_EQ(reply.content_type, "text/event-stream");
  EXPECT_EQ(reply.transfer_encoding, "chunked");
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 6u);  // role, 3 content, usage, [DONE]

  const auto role = json::parse(events[0]).as_object();
  EXPECT_EQ(role.at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(role.at("model").as_string(), "sim-test");
  const auto& role_delta = role.at("choices").as_array().at(0).as_object().at("delta").as_object();
  EXPECT_EQ(role_delta.at("role").as_string(), "assistant");
  EXPECT_EQ(role_delta.at("content").as_string(), "");  // as vLLM: present but empty

  for (int i = 1; i <= 3; ++i) {
    const auto chunk = json::parse(events[i]).as_object();
    const auto& choice = chunk.at("choices").as_array().at(0).as_object();
    EXPECT_EQ(choice.at("delta").as_object().at("content").as_string(), " tok");
    if (i < 3) {
      EXPECT_TRUE(choice.at("finish_reason").is_null());
    } else {
      EXPECT_EQ(choice.at("finish_reason").as_string(), "length");
    }
  }
  const auto usage_chunk = json::parse(events[4]).as_object();
  EXPECT_TRUE(usage_chunk.at("choices").as_array().empty());
  const auto& usage = usage_chunk.at("usage").as_object();
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 4);  // "be brief" + "say hello"
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), 7);
  EXPECT_EQ(events[5], "[DONE]");

  const auto truth = this->truth("chat-1");
  EXPECT_EQ(truth.content_event_times.size(), 3u);
  EXPECT_EQ(truth.prompt_tokens, 4);
  EXPECT_EQ(truth.output_tokens, 3);
  EXPECT_TRUE(truth.usage_sent);
  EXPECT_TRUE(truth.completed);
  EXPECT_EQ(truth.path, "/v1/chat/completions");
  EXPECT_EQ(truth.model, "sim-test");
}

TEST_F(SimulatorTest, CompletionsStreamFormat) {
  const auto reply = post("/v1/completions", completion_body(2), "cmpl-1");
  ASSERT_EQ(reply.status, 200u);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 4u);  // 2 content, usage, [DONE]
  const auto first = json::parse(events[0]).as_object();
  EXPECT_EQ(first.at("object").as_string(), "text_completion");
  const auto& choice = first.at("choices").as_array().at(0).as_object();
  EXPECT_EQ(choice.at("text").as_string(), " tok");
  EXPECT_TRUE(choice.at("logprobs").is_null());
  EXPECT_EQ(json::parse(events[2]).at("usage").at("prompt_tokens").as_int64(), 4);
  EXPECT_EQ(events[3], "[DONE]");
}

TEST_F(SimulatorTest, OutputLengthFollowsMaxTokensIgnoreEosAndTokensPerEvent) {
  // Natural length 5 (header) below max_tokens 10: stops naturally.
  post("/v1/completions", completion_body(10), "natural", {{"x-sim-output-tokens", "5"}});
  auto truth = this->truth("natural");
  EXPECT_EQ(truth.output_tokens, 5);
  EXPECT_EQ(truth.content_event_times.size(), 5u);

  // ignore_eos: exactly max_tokens.
  const auto reply = post("/v1/completions", completion_body(10, true, true, true), "ignore-eos",
                          {{"x-sim-output-tokens", "5"}});
  truth = this->truth("ignore-eos");
  EXPECT_EQ(truth.output_tokens, 10);
  const auto events = sse_data(reply.body);
  ASSERT_GE(events.size(), 10u);
  EXPECT_EQ(json::parse(events[9]).at("choices").at(0).at("finish_reason").as_string(), "length");

  // max_tokens below the natural length (8): cut, finish_reason "length".
  post("/v1/completions", completion_body(3), "capped");
  EXPECT_EQ(this->truth("capped").output_tokens, 3);

  // Natural end: finish_reason "stop".
  const auto natural = post("/v1/completions", completion_body(100), "stop");
  const auto natural_events = sse_data(natural.body);
  ASSERT_EQ(natural_events.size(), 10u);  // 8 content, usage, [DONE]
  EXPECT_EQ(json::parse(natural_events[7]).at("choices").at(0).at("finish_reason").as_string(),
            "stop");

  // 3 tokens per event, 10 tokens: 4 events, the last one short.
  const auto bundled = post("/v1/completions", completion_body(10, true, true, true), "bundled",
                            {{"x-sim-tokens-per-event", "3"}});
  truth = this->truth("bundled");
  EXPECT_EQ(truth.tokens_per_content_event, (std::vector<int>{3, 3, 3, 1}));
  const auto bundled_events = sse_data(bundled.body);
  ASSERT_GE(bundled_events.size(), 4u);
  EXPECT_EQ(json::parse(bundled_events[0]).at("choices").at(0).at("text").as_string(),
            " tok tok tok");
  EXPECT_EQ(json::parse(bundled_events[4]).at("usage").at("completion_tokens").as_int64(), 10);
}

TEST_F(SimulatorTest, GroundTruthFollowsTheAbsoluteSchedule) {
  post("/v1/completions", completion_body(10, true, true, true), "timing");
  const auto truth = this->truth("timing");
  ASSERT_EQ(truth.content_event_times.size(), 10u);
  EXPECT_GE(truth.started_at, truth.received_at);
  for (std::size_t k = 0; k < truth.content_event_times.size(); ++k) {
    const auto planned = truth.started_at + kTtft + static_cast<int>(k) * kItl;
    const auto actual = truth.content_event_times[k];
    EXPECT_GE(actual, planned) << "event " << k << " written before its deadline";
    EXPECT_LT(actual - planned, 5ms) << "event " << k << " late";
    if (k > 0) {
      // The schedule is absolute, so a late write (busy machine) is followed by a shorter gap;
      // the gap is only short by as much as the previous event was late.
      const auto previous_lateness = truth.content_event_times[k - 1] - (planned - kItl);
      EXPECT_GE(actual - truth.content_event_times[k - 1], kItl - 1ms - previous_lateness)
          << "gap " << k;
    }
  }
}

TEST_F(SimulatorTest, PerRequestDelayHeadersOverrideOptions) {
  post("/v1/completions", completion_body(3), "slow",
       {{"x-sim-ttft", "60ms"}, {"x-sim-itl", "1ms"}});
  const auto truth = this->truth("slow");
  ASSERT_EQ(truth.content_event_times.size(), 3u);
  EXPECT_GE(truth.content_event_times[0] - truth.started_at, 60ms);
  EXPECT_LT(truth.content_event_times[2] - truth.content_event_times[0], 10ms);

  const auto bad = post("/v1/completions", completion_body(3), "bad-ttft", {{"x-sim-ttft", "60"}});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_NE(bad.body.find("x-sim-ttft"), std::string::npos) << bad.body;
}

TEST_F(SimulatorTest, MaxConcurrencyQueuesTheSecondRequest) {
  auto options = fast_options();
  options.max_concurrency = 1;
  start(options);
  std::vector<Request> requests;
  for (const char* id : {"queued-a", "queued-b"}) {
    requests.push_back(Request{http::verb::post,
                               "/v1/completions",
                               completion_body(4),
                               {{"X-Request-Id", id}},
                               0ms,
                               nullptr});
  }
  const auto replies = run_all(simulator_->port(), requests);
  for (const auto& reply : replies) {
    EXPECT_EQ(reply.status, 200u);
  }
  auto a = truth("queued-a");
  auto b = truth("queued-b");
  if (b.started_at < a.started_at) {
    std::swap(a, b);
  }
  ASSERT_EQ(a.content_event_times.size(), 4u);
  EXPECT_GE(b.started_at, a.content_event_times.back());
  EXPECT_GE(b.started_at - b.received_at, kTtft + 3 * kItl - 2ms);  // it waited for a's slot
}

TEST_F(SimulatorTest, SeveralThreadsServeQueuedRequests) {
  auto options = fast_options();
  options.threads = 2;
  options.max_concurrency = 2;
  start(options);
  std::vector<Request> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(Request{http::verb::post,
                               "/v1/chat/completions",
                               chat_body(3),
                               {{"X-Request-Id", "threaded-" + std::to_string(i)}},
                               0ms,
                               nullptr});
  }
  for (const auto& reply : run_all(simulator_->port(), requests)) {
    EXPECT_EQ(reply.status, 200u);
    EXPECT_EQ(sse_data(reply.body).size(), 6u);
  }
  for (int i = 0; i < 6; ++i) {
    const auto truth = this->truth("threaded-" + std::to_string(i));
    EXPECT_TRUE(truth.completed);
    EXPECT_EQ(truth.content_event_times.size(), 3u);
  }
}

TEST_F(SimulatorTest, StatusFaultRepliesWithJsonError) {
  const auto reply =
      post("/v1/completions", completion_body(3), "status", {{"x-sim-fault", "status:503"}});
  EXPECT_EQ(reply.status, 503u);
  const auto body = json::parse(reply.body);
  EXPECT_EQ(body.at("error").at("code").as_int64(), 503);
  EXPECT_TRUE(body.at("error").at("message").is_string());
  const auto truth = this->truth("status");
  EXPECT_EQ(truth.status, 503u);
  EXPECT_EQ(truth.fault, "status:503");
  EXPECT_TRUE(truth.content_event_times.empty());
}

TEST_F(SimulatorTest, UnknownFaultIsABadRequestNamingIt) {
  const auto reply =
      post("/v1/completions", completion_body(3), "bogus", {{"x-sim-fault", "explode"}});
  EXPECT_EQ(reply.status, 400u);
  EXPECT_NE(reply.body.find("explode"), std::string::npos) << reply.body;
}

TEST_F(SimulatorTest, StallBeforeFirstSendsNothingUntilTheClientLeaves) {
  Request request{http::verb::post,
                  "/v1/chat/completions",
                  chat_body(3),
                  {{"X-Request-Id", "stall-0"}, {"x-sim-fault", "stall_before_first"}},
                  200ms,
                  nullptr};
  const auto reply = run_one(simulator_->port(), request);
  EXPECT_EQ(reply.status, 200u);
  EXPECT_TRUE(reply.timed_out);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 1u);  // only the role chunk, which is not content
  EXPECT_NE(events[0].find("\"role\""), std::string::npos);
  const auto truth = this->truth("stall-0");  // recorded once the client hung up
  EXPECT_TRUE(truth.content_event_times.empty());
  EXPECT_TRUE(truth.completed);
}

TEST_F(SimulatorTest, StallAfterFirstSendsOneEvent) {
  Request request{http::verb::post,
                  "/v1/completions",
                  completion_body(5),
                  {{"X-Request-Id", "stall-1"}, {"x-sim-fault", "stall_after_first"}},
                  200ms,
                  nullptr};
  const auto reply = run_one(simulator_->port(), request);
  EXPECT_TRUE(reply.timed_out);
  EXPECT_EQ(sse_data(reply.body).size(), 1u);
  EXPECT_EQ(truth("stall-1").content_event_times.size(), 1u);
}

TEST_F(SimulatorTest, CloseMidStreamTruncatesTheBody) {
  const auto reply = post("/v1/completions", completion_body(10, true, true, true), "close",
                          {{"x-sim-fault", "close_mid_stream"}});
  EXPECT_EQ(reply.status, 200u);
  EXPECT_TRUE(reply.read_error) << "the chunked body must end without its terminating chunk";
  EXPECT_FALSE(reply.timed_out);
  EXPECT_EQ(sse_data(reply.body).size(), 5u);
  EXPECT_EQ(reply.body.find("[DONE]"), std::string::npos);
  const auto truth = this->truth("close");
  EXPECT_EQ(truth.content_event_times.size(), 5u);
  EXPECT_FALSE(truth.usage_sent);
}

TEST_F(SimulatorTest, MalformedEventIsNotJson) {
  const auto reply = post("/v1/completions", completion_body(3), "malformed",
                          {{"x-sim-fault", "malformed_event"}});
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 6u);  // content, broken, content, content, usage, [DONE]
  boost::system::error_code ec;
  json::parse(events[1], ec);
  EXPECT_TRUE(ec) << events[1];
  EXPECT_EQ(truth("malformed").content_event_times.size(), 3u);
}

TEST_F(SimulatorTest, ErrorEventAfterTheFirstToken) {
  const auto reply =
      post("/v1/completions", completion_body(5), "error-event", {{"x-sim-fault", "error_event"}});
  EXPECT_FALSE(reply.read_error);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(json::parse(events[1]).as_object().contains("error"));
  EXPECT_EQ(events[2], "[DONE]");
  EXPECT_EQ(truth("error-event").content_event_times.size(), 1u);
}

TEST_F(SimulatorTest, LongLineIsOneHugeValidEvent) {
  const auto reply =
      post("/v1/completions", completion_body(2), "long", {{"x-sim-fault", "long_line"}});
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 5u);  // long, 2 content, usage, [DONE]
  EXPECT_GE(events[0].size(), 2u * 1024 * 1024 - 16);
  EXPECT_EQ(events[0].find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(events[0]).at("choices").at(0).at("text").as_string(), "");
  EXPECT_EQ(truth("long").content_event_times.size(), 2u);
}

TEST_F(SimulatorTest, NoUsageOmitsTheUsageChunk) {
  const auto reply =
      post("/v1/completions", completion_body(2), "no-usage", {{"x-sim-fault", "no_usage"}});
  EXPECT_EQ(reply.body.find("usage"), std::string::npos);
  EXPECT_EQ(sse_data(reply.body).back(), "[DONE]");
  EXPECT_FALSE(truth("no-usage").usage_sent);
}

TEST_F(SimulatorTest, NoDoneEndsTheBodyWithoutFinishReasonOrDone) {
  const auto reply =
      post("/v1/completions", completion_body(2), "no-done", {{"x-sim-fault", "no_done"}});
  EXPECT_FALSE(reply.read_error) << "the chunked body still ends properly";
  EXPECT_EQ(reply.body.find("[DONE]"), std::string::npos);
  for (const auto& event : sse_data(reply.body)) {
    const auto chunk = json::parse(event).as_object();
    for (const auto& choice : chunk.at("choices").as_array()) {
      EXPECT_TRUE(choice.at("finish_reason").is_null());
    }
  }
  EXPECT_TRUE(truth("no-done").completed);
}

TEST_F(SimulatorTest, UsageOnLastChoiceLikeMindIe) {
  const auto reply = post("/v1/completions", completion_body(2), "mindie",
                          {{"x-sim-fault", "usage_on_last_choice"}});
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 3u);  // 2 content (the last with usage), [DONE]
  const auto last = json::parse(events[1]);
  EXPECT_EQ(last.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(last.at("usage").at("completion_tokens").as_int64(), 2);
  EXPECT_TRUE(truth("mindie").usage_sent);
}

TEST_F(SimulatorTest, NonStreamingReturnsOneCompletionWithUsage) {
  const auto reply =
      post("/v1/chat/completions",
           R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":3})", "whole");
  ASSERT_EQ(reply.status, 200u);
  const auto body = json::parse(reply.body);
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(body.at("choices").at(0).at("message").at("content").as_string(), " tok tok tok");
  EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 3);
  const auto truth = this->truth("whole");
  EXPECT_FALSE(truth.stream);
  ASSERT_EQ(truth.content_event_times.size(), 1u);
  EXPECT_GE(truth.content_event_times[0] - truth.started_at, kTtft + 2 * kItl);
}

TEST_F(SimulatorTest, TruthEndpointServesJsonAndResetClearsIt) {
  post("/v1/completions", completion_body(2), "json-truth");
  truth("json-truth");
  const auto reply =
      run_one(simulator_->port(),
              Request{http::verb::get, "/sim/truth?id=json-truth", "", {}, 0ms, nullptr});
  ASSERT_EQ(reply.status, 200u);
  const auto records = json::parse(reply.body).as_array();
  ASSERT_EQ(records.size(), 1u);
  const auto& record = records[0].as_object();
  EXPECT_EQ(record.at("request_id").as_string(), "json-truth");
  for (const char* key : {"path", "model", "fault", "status", "stream", "received_at_ns",
                          "started_at_ns", "content_event_times_ns", "tokens_per_content_event",
                          "prompt_tokens", "output_tokens", "usage_sent", "completed"}) {
    EXPECT_TRUE(record.contains(key)) << key;
  }
  // Times are steady_clock nanoseconds: comparable with this process's clock.
  const auto first_ns = record.at("content_event_times_ns").at(0).as_int64();
  const auto now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(SimClock::now().time_since_epoch())
          .count();
  EXPECT_LE(first_ns, now_ns);
  EXPECT_GT(first_ns, now_ns - std::chrono::nanoseconds(10s).count());

  const auto reset =
      run_one(simulator_->port(), Request{http::verb::post, "/sim/reset", "", {}, 0ms, nullptr});
  EXPECT_EQ(reset.status, 200u);
  EXPECT_TRUE(simulator_->truth().empty());
}

TEST_F(SimulatorTest, OtherEndpointsAndBadRequests) {
  const auto port = simulator_->port();
  EXPECT_EQ(run_one(port, Request{http::verb::get, "/health", "", {}, 0ms, nullptr}).status, 200u);
  const auto models = run_one(port, Request{http::verb::get, "/v1/models", "", {}, 0ms, nullptr});
  EXPECT_EQ(models.status, 200u);
  EXPECT_TRUE(json::parse(models.body).at("data").is_array());
  EXPECT_EQ(run_one(port, Request{http::verb::get, "/nowhere", "", {}, 0ms, nullptr}).status, 404u);

  const auto not_json = post("/v1/completions", "{not json", "not-json");
  EXPECT_EQ(not_json.status, 400u);
  EXPECT_NE(not_json.body.find("JSON"), std::string::npos) << not_json.body;
  const auto no_prompt = post("/v1/completions", R"({"max_tokens":3})", "no-prompt");
  EXPECT_EQ(no_prompt.status, 400u);
  EXPECT_NE(no_prompt.body.find("prompt"), std::string::npos) << no_prompt.body;
  // Only the header announcing 2 MiB is sent: the simulator must refuse on the header alone.
  // (Sending the body too races the 413 against the client's write: a broken pipe.)
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  timeval receive_timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &receive_timeout,
               sizeof receive_timeout);
  asio::write(socket, asio::buffer(std::string(
                          "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n")));
  std::string raw;
  boost::system::error_code read_error;
  asio::read(socket, asio::dynamic_buffer(raw), read_error);
  EXPECT_EQ(raw.substr(0, 12), "HTTP/1.1 413") << raw;
}

TEST_F(SimulatorTest, RequestIdDefaultsToACounter) {
  run_one(simulator_->port(),
          Request{http::verb::post, "/v1/completions", completion_body(1), {}, 0ms, nullptr});
  const auto give_up = SimClock::now() + 3s;
  while (simulator_->truth().empty() && SimClock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  const auto records = simulator_->truth();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request_id.rfind("sim-", 0), 0u) << records[0].request_id;
  EXPECT_EQ(simulator_->requests_seen(), 1u);
}

TEST_F(SimulatorTest, StopEndsAStalledStreamAndRecordsIt) {
  Reply reply;
  std::atomic<bool> header_seen{false};
  std::thread client([&reply, &header_seen, port = simulator_->port()] {
    reply =
        run_one(port, Request{http::verb::post,
                              "/v1/completions",
                              completion_body(3),
                              {{"X-Request-Id", "stalled"}, {"x-sim-fault", "stall_after_first"}},
                              5000ms,
                              &header_seen});
  });
  // Wait (bounded) until the stream has started, then stop the simulator under the client.
  const auto give_up = SimClock::now() + 3s;
  while (!header_seen && SimClock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  const auto stop_at = SimClock::now();
  simulator_->stop();
  client.join();
  EXPECT_LT(SimClock::now() - stop_at, 3s);
  EXPECT_FALSE(reply.timed_out) << "stop() must close the connection";
  const auto truth = simulator_->truth_for("stalled");
  ASSERT_TRUE(truth.has_value());
  EXPECT_FALSE(truth->completed);
}

TEST_F(SimulatorTest, ANewSimulatorRebindsThePortOfAStoppedOne) {
  const auto port = simulator_->port();
  post("/v1/completions", completion_body(1), "before-stop");
  auto options = fast_options();
  options.port = port;
  simulator_->stop();
  simulator_.reset();
  start(options);
  EXPECT_EQ(simulator_->port(), port);
  EXPECT_EQ(post("/v1/completions", completion_body(1), "after-restart").status, 200u);
}

// --- other flavors ---

std::vector<std::string> ndjson_lines(const std::string& body) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < body.size()) {
    const auto end = body.find('\n', at);
    lines.push_back(body.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) {
      break;
    }
    at = end + 1;
  }
  return lines;
}

// Milliseconds as the simulator writes them (a JSON number) -> nanoseconds.
std::chrono::nanoseconds from_ms(const json::value& value) {
  return std::chrono::nanoseconds(std::llround(value.to_number<double>() * 1e6));
}

std::chrono::nanoseconds absolute(std::chrono::nanoseconds d) {
  return d < 0ns ? -d : d;
}

TEST_F(SimulatorTest, TgiStreamsOneTokenPerEventWithDetailsOnTheLast) {
  const auto body = R"({"inputs":"one two three","parameters":{"max_new_tokens":3}})";
  // tokens_per_event does not apply to TGI: one token per event regardless.
  const auto reply = post("/generate_stream", body, "tgi-1", {{"x-sim-tokens-per-event", "2"}});
  ASSERT_EQ(reply.status, 200u);
  EXPECT_FALSE(reply.read_error) << reply.read_error.message();
  EXPECT_EQ(reply.content_type, "text/event-stream");
  EXPECT_EQ(reply.body.rfind("data:{", 0), 0u) << "TGI writes data: without a space";
  EXPECT_EQ(reply.body.find("data: "), std::string::npos);
  EXPECT_EQ(reply.body.find("[DONE]"), std::string::npos);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto event = json::parse(events[static_cast<std::size_t>(i)]).as_object();
    EXPECT_EQ(event.at("index").as_int64(), i + 1);
    const auto& token = event.at("token").as_object();
    EXPECT_EQ(token.at("id").as_int64(), i + 1);
    EXPECT_EQ(token.at("text").as_string(), " tok");
    EXPECT_DOUBLE_EQ(token.at("logprob").as_double(), -0.1);
    EXPECT_FALSE(token.at("special").as_bool());
    if (i < 2) {
      EXPECT_TRUE(event.at("generated_text").is_null());
      EXPECT_TRUE(event.at("details").is_null());
    } else {
      EXPECT_EQ(event.at("generated_text").as_string(), " tok tok tok");
      const auto& details = event.at("details").as_object();
      EXPECT_EQ(details.at("finish_reason").as_string(), "length");
      EXPECT_EQ(details.at("generated_tokens").as_int64(), 3);
      EXPECT_TRUE(details.at("seed").is_null());
      EXPECT_EQ(details.at("input_length").as_int64(), 3);
    }
  }
  const auto truth = this->truth("tgi-1");
  EXPECT_EQ(truth.flavor, "tgi");
  EXPECT_EQ(truth.path, "/generate_stream");
  EXPECT_EQ(truth.prompt_tokens, 3);
  EXPECT_EQ(truth.output_tokens, 3);
  EXPECT_EQ(truth.tokens_per_content_event, (std::vector<int>{1, 1, 1}));
  EXPECT_TRUE(truth.usage_sent);
  EXPECT_TRUE(truth.completed);
  EXPECT_FALSE(truth.reported_prefill);
  ASSERT_EQ(truth.content_event_times.size(), 3u);
  EXPECT_GE(truth.content_event_times[0] - truth.started_at, kTtft);
  EXPECT_LT(truth.content_event_times[0] - truth.started_at, kTtft + 5ms);

  // Natural end below max_new_tokens: "eos_token".
  const auto natural =
      post("/generate_stream", R"({"inputs":"x","parameters":{"max_new_tokens":100}})", "tgi-eos");
  const auto natural_events = sse_data(natural.body);
  ASSERT_EQ(natural_events.size(), 8u);
  EXPECT_EQ(json::parse(natural_events[7]).at("details").at("finish_reason").as_string(),
            "eos_token");
  EXPECT_EQ(post("/generate_stream", R"({"parameters":{}})", "tgi-bad").status, 400u);
}

TEST_F(SimulatorTest, TritonStreamsTextOutputWithoutAnEndMarker) {
  const auto body = R"({"text_input":"a b","max_tokens":5,"stream":true,"ignore_eos":true})";
  const auto reply = post("/v2/models/my-model/generate_stream", body, "triton-1",
                          {{"x-sim-tokens-per-event", "2"}, {"x-sim-output-tokens", "2"}});
  ASSERT_EQ(reply.status, 200u);
  EXPECT_FALSE(reply.read_error) << "the chunked body ends properly";
  EXPECT_EQ(reply.body.rfind("data: {", 0), 0u);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 3u);
  const std::vector<std::string> texts{" tok tok", " tok tok", " tok"};
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto event = json::parse(events[i]).as_object();
    EXPECT_EQ(event.at("model_name").as_string(), "my-model");
    EXPECT_EQ(event.at("model_version").as_string(), "1");
    EXPECT_FALSE(event.at("sequence_end").as_bool());
    EXPECT_EQ(event.at("sequence_id").as_int64(), 0);
    EXPECT_FALSE(event.at("sequence_start").as_bool());
    EXPECT_EQ(event.at("text_output").as_string(), texts[i]);
  }
  const auto truth = this->truth("triton-1");
  EXPECT_EQ(truth.flavor, "triton");
  EXPECT_EQ(truth.model, "my-model");
  EXPECT_EQ(truth.prompt_tokens, 2);
  EXPECT_EQ(truth.output_tokens, 5);  // ignore_eos: max_tokens, past the natural length 2
  EXPECT_EQ(truth.tokens_per_content_event, (std::vector<int>{2, 2, 1}));
  EXPECT_TRUE(truth.completed);

  const auto capped =
      post("/v2/models/m/generate_stream", R"({"text_input":"a","max_tokens":3})", "triton-2");
  EXPECT_EQ(sse_data(capped.body).size(), 3u);
  EXPECT_EQ(post("/v2/models/m/generate_stream", R"({"max_tokens":3})", "triton-bad").status, 400u);
}

TEST_F(SimulatorTest, MindieInferReportsThePrefillAndDecodeTimesItApplied) {
  const auto body = R"({"inputs":"a b c d","stream":true,)"
                    R"("parameters":{"max_new_tokens":4,"ignore_eos":true,"details":true}})";
  const auto reply = post("/infer", body, "infer-1",
                          {{"x-sim-ttft", "uniform(20ms,30ms)"},
                           {"x-sim-itl", "uniform(3ms,9ms)"},
                           {"x-sim-output-tokens", "2"}});
  ASSERT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.body.rfind("data:{", 0), 0u);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 4u);
  const auto truth = this->truth("infer-1");
  EXPECT_EQ(truth.flavor, "mindie");
  EXPECT_EQ(truth.output_tokens, 4);
  ASSERT_EQ(truth.content_event_times.size(), 4u);
  ASSERT_TRUE(truth.reported_prefill && truth.reported_decode);

  const auto first = json::parse(events[0]).as_object();
  EXPECT_EQ(first.at("token").at("text").as_string(), " tok");
  EXPECT_FALSE(first.contains("decode_time"));
  const auto prefill = from_ms(first.at("prefill_time"));
  EXPECT_EQ(prefill, *truth.reported_prefill);
  EXPECT_GE(prefill, 20ms);
  EXPECT_LE(prefill, 30ms);
  // What was reported is what was applied: the first write came prefill after the start.
  EXPECT_LT(absolute(truth.content_event_times[0] - truth.started_at - prefill), 1ms);

  std::chrono::nanoseconds decode_sum{0};
  auto scheduled = truth.started_at + prefill;
  for (std::size_t i = 1; i < events.size(); ++i) {
    const auto event = json::parse(events[i]).as_object();
    EXPECT_FALSE(event.contains("prefill_time"));
    const auto decode = from_ms(event.at("decode_time"));
    EXPECT_GE(decode, 3ms);
    EXPECT_LE(decode, 9ms);
    decode_sum += decode;
    scheduled += decode;
    EXPECT_LT(absolute(truth.content_event_times[i] - scheduled), 1ms) << "event " << i;
  }
  EXPECT_EQ(decode_sum, *truth.reported_decode);
  const auto last = json::parse(events[3]).as_object();
  EXPECT_EQ(last.at("generated_text").as_string(), " tok tok tok tok");
  EXPECT_EQ(last.at("details").at("finish_reason").as_string(), "length");
  EXPECT_EQ(last.at("details").at("generated_tokens").as_int64(), 4);

  // details: false -> no details; stream defaults to false -> one JSON object.
  const auto no_details =
      post("/infer", R"({"inputs":"a","stream":true,"parameters":{"details":false}})", "infer-2");
  const auto no_details_events = sse_data(no_details.body);
  ASSERT_EQ(no_details_events.size(), 8u);
  EXPECT_TRUE(json::parse(no_details_events[7]).at("details").is_null());
  EXPECT_EQ(json::parse(no_details_events[7]).at("generated_text").as_string().size(), 8u * 4);
  const auto whole = post("/infer", R"({"inputs":"a","parameters":{"max_new_tokens":2}})", "i-3");
  ASSERT_EQ(whole.status, 200u);
  EXPECT_EQ(json::parse(whole.body).at("generated_text").as_string(), " tok tok");
}

TEST_F(SimulatorTest, MindieStyleChatPutsUsageOnTheLastChoiceWithoutTheSpace) {
  const auto reply =
      post("/v1/chat/completions", chat_body(3), "mindie-chat", {{"x-sim-style", "mindie"}});
  ASSERT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.body.rfind("data:{", 0), 0u);
  EXPECT_EQ(reply.body.find("data: "), std::string::npos);
  const auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 5u);  // role, 3 content (the last with usage), [DONE]
  EXPECT_FALSE(json::parse(events[2]).as_object().contains("usage"));
  const auto last = json::parse(events[3]);
  EXPECT_EQ(last.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(last.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(events[4], "[DONE]");
  const auto truth = this->truth("mindie-chat");
  EXPECT_EQ(truth.flavor, "mindie-chat");
  EXPECT_TRUE(truth.usage_sent);
  EXPECT_EQ(post("/v1/chat/completions", chat_body(3), "bad-style", {{"x-sim-style", "x"}}).status,
            400u);
}

void expect_ollama_timestamp(const json::object& object) {
  const auto created = std::string(object.at("created_at").as_string());
  EXPECT_EQ(created.size(), 30u) << created;  // 2026-01-02T03:04:05.123456789Z
  EXPECT_EQ(created.back(), 'Z') << created;
  EXPECT_EQ(created[10], 'T') << created;
}

TEST_F(SimulatorTest, OllamaChatStreamsNdjsonWithDurationsOfWhatItDid) {
  const auto body = json::serialize(json::object{
      {"model", "llama3"},
      {"messages", json::array{json::object{{"role", "user"}, {"content", "say hi now"}}}},
      {"stream", true},
      {"options", json::object{{"num_predict", 3}}}});
  const auto reply = post("/api/chat", body, "ollama-1");
  ASSERT_EQ(reply.status, 200u);
  EXPECT_FALSE(reply.read_error);
  EXPECT_EQ(reply.content_type, "application/x-ndjson");
  ASSERT_EQ(reply.body.back(), '\n');
  const auto lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 4u);  // 3 content, done
  for (std::size_t i = 0; i < 3; ++i) {
    const auto object = json::parse(lines[i]).as_object();
    EXPECT_EQ(object.at("model").as_string(), "llama3");
    expect_ollama_timestamp(object);
    EXPECT_EQ(object.at("message").at("role").as_string(), "assistant");
    EXPECT_EQ(object.at("message").at("content").as_string(), " tok");
    EXPECT_FALSE(object.at("done").as_bool());
  }
  const auto done = json::parse(lines[3]).as_object();
  expect_ollama_timestamp(done);
  EXPECT_EQ(done.at("message").at("content").as_string(), "");
  EXPECT_TRUE(done.at("done").as_bool());
  EXPECT_EQ(done.at("done_reason").as_string(), "length");
  EXPECT_EQ(done.at("prompt_eval_count").as_int64(), 3);
  EXPECT_EQ(done.at("eval_count").as_int64(), 3);

  const auto truth = this->truth("ollama-1");
  EXPECT_EQ(truth.flavor, "ollama");
  EXPECT_EQ(truth.output_tokens, 3);
  EXPECT_TRUE(truth.usage_sent);
  ASSERT_EQ(truth.content_event_times.size(), 3u);
  ASSERT_TRUE(truth.reported_prefill && truth.reported_decode && truth.reported_total &&
              truth.reported_queue);
  const auto ns = [&](const char* key) {
    return std::chrono::nanoseconds(done.at(key).as_int64());
  };
  EXPECT_EQ(ns("prompt_eval_duration"), *truth.reported_prefill);
  EXPECT_EQ(ns("eval_duration"), *truth.reported_decode);
  EXPECT_EQ(ns("total_duration"), *truth.reported_total);
  EXPECT_EQ(ns("load_duration"), *truth.reported_queue);
  // The durations are what the simulator did.
  EXPECT_LT(
      absolute(ns("prompt_eval_duration") - (truth.content_event_times[0] - truth.started_at)),
      1ms);
  EXPECT_LT(
      absolute(ns("eval_duration") - (truth.content_event_times[2] - truth.content_event_times[0])),
      1ms);
  EXPECT_LT(absolute(ns("prompt_eval_duration") - kTtft), 2ms);
  EXPECT_LT(absolute(ns("eval_duration") - 2 * kItl), 2ms);
  EXPECT_GE(ns("total_duration"), truth.content_event_times[2] - truth.received_at);
  EXPECT_LT(ns("total_duration") - (truth.content_event_times[2] - truth.received_at), 1ms);
}

TEST_F(SimulatorTest, OllamaGenerateUsesResponseAndStopsNaturally) {
  const auto reply = post("/api/generate", R"({"model":"m","prompt":"why is the sky blue"})",
                          "ollama-gen", {{"x-sim-tokens-per-event", "3"}});
  ASSERT_EQ(reply.status, 200u);
  const auto lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 4u);  // 8 tokens in 3 + 3 + 2, then done
  EXPECT_EQ(json::parse(lines[0]).at("response").as_string(), " tok tok tok");
  EXPECT_EQ(json::parse(lines[2]).at("response").as_string(), " tok tok");
  const auto done = json::parse(lines[3]).as_object();
  EXPECT_EQ(done.at("response").as_string(), "");
  EXPECT_EQ(done.at("done_reason").as_string(), "stop");
  EXPECT_EQ(done.at("prompt_eval_count").as_int64(), 5);
  EXPECT_EQ(done.at("eval_count").as_int64(), 8);
  const auto truth = this->truth("ollama-gen");
  EXPECT_EQ(truth.flavor, "ollama-generate");
  EXPECT_EQ(truth.tokens_per_content_event, (std::vector<int>{3, 3, 2}));

  // stream: false -> one object with everything.
  const auto whole = post(
      "/api/generate", R"({"model":"m","prompt":"x","stream":false,"options":{"num_predict":2}})",
      "ollama-whole");
  ASSERT_EQ(whole.status, 200u);
  const auto object = json::parse(whole.body).as_object();
  EXPECT_EQ(object.at("response").as_string(), " tok tok");
  EXPECT_TRUE(object.at("done").as_bool());
  EXPECT_EQ(object.at("eval_count").as_int64(), 2);
  EXPECT_EQ(std::chrono::nanoseconds(object.at("prompt_eval_duration").as_int64()), kTtft);
  EXPECT_FALSE(this->truth("ollama-whole").stream);
}

TEST_F(SimulatorTest, FaultsTakeEachFlavorsShape) {
  const std::string tgi = R"({"inputs":"a","parameters":{"max_new_tokens":4}})";
  const std::string ollama = R"({"model":"m","prompt":"a","options":{"num_predict":4}})";
  const std::string triton = R"({"text_input":"a","max_tokens":4})";

  // status:<code> in every flavor, with its own error body.
  auto reply = post("/generate_stream", tgi, "f-tgi-status", {{"x-sim-fault", "status:503"}});
  EXPECT_EQ(reply.status, 503u);
  EXPECT_TRUE(json::parse(reply.body).at("error").is_string());
  EXPECT_TRUE(json::parse(reply.body).at("error_type").is_string());
  reply = post("/api/generate", ollama, "f-ollama-status", {{"x-sim-fault", "status:429"}});
  EXPECT_EQ(reply.status, 429u);
  EXPECT_TRUE(json::parse(reply.body).at("error").is_string());
  reply = post("/v2/models/m/generate_stream", triton, "f-triton-status",
               {{"x-sim-fault", "status:500"}});
  EXPECT_EQ(reply.status, 500u);
  EXPECT_EQ(this->truth("f-triton-status").status, 500u);

  // error_event: TGI/MindIE shape, no [DONE].
  reply = post("/generate_stream", tgi, "f-tgi-error", {{"x-sim-fault", "error_event"}});
  auto events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(json::parse(events[1]).at("error_type").as_string(), "generation");
  EXPECT_TRUE(json::parse(events[1]).at("error").is_string());
  reply = post("/infer", R"({"inputs":"a","stream":true})", "f-infer-error",
               {{"x-sim-fault", "error_event"}});
  EXPECT_EQ(json::parse(sse_data(reply.body).at(1)).at("error_type").as_string(), "generation");
  reply = post("/api/generate", ollama, "f-ollama-error", {{"x-sim-fault", "error_event"}});
  auto lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(json::parse(lines[1]).at("error").is_string());
  EXPECT_FALSE(reply.read_error);

  // close_mid_stream: half the events, then a truncated body.
  reply = post("/v2/models/m/generate_stream", triton, "f-triton-close",
               {{"x-sim-fault", "close_mid_stream"}});
  EXPECT_TRUE(reply.read_error);
  EXPECT_EQ(sse_data(reply.body).size(), 2u);
  reply = post("/api/generate", ollama, "f-ollama-close", {{"x-sim-fault", "close_mid_stream"}});
  EXPECT_TRUE(reply.read_error);
  EXPECT_EQ(ndjson_lines(reply.body).size(), 2u);

  // malformed_event: an extra broken line after the first.
  reply = post("/api/generate", ollama, "f-ollama-malformed", {{"x-sim-fault", "malformed_event"}});
  lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 6u);  // content, broken, 3 content, done
  boost::system::error_code ec;
  json::parse(lines[1], ec);
  EXPECT_TRUE(ec) << lines[1];
  reply = post("/generate_stream", tgi, "f-tgi-malformed", {{"x-sim-fault", "malformed_event"}});
  events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 5u);
  json::parse(events[1], ec);
  EXPECT_TRUE(ec) << events[1];

  // no_done: Ollama without the done object; TGI without generated_text/details.
  reply = post("/api/generate", ollama, "f-ollama-no-done", {{"x-sim-fault", "no_done"}});
  lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) {
    EXPECT_FALSE(json::parse(line).at("done").as_bool());
  }
  reply = post("/generate_stream", tgi, "f-tgi-no-done", {{"x-sim-fault", "no_done"}});
  events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_TRUE(json::parse(events[3]).at("generated_text").is_null());

  // no_usage: TGI details null; Ollama done without counts.
  reply = post("/generate_stream", tgi, "f-tgi-no-usage", {{"x-sim-fault", "no_usage"}});
  events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(json::parse(events[3]).at("generated_text").as_string(), " tok tok tok tok");
  EXPECT_TRUE(json::parse(events[3]).at("details").is_null());
  EXPECT_FALSE(this->truth("f-tgi-no-usage").usage_sent);
  reply = post("/api/generate", ollama, "f-ollama-no-usage", {{"x-sim-fault", "no_usage"}});
  const auto done = json::parse(ndjson_lines(reply.body).back()).as_object();
  EXPECT_TRUE(done.at("done").as_bool());
  EXPECT_FALSE(done.contains("eval_count"));
  EXPECT_FALSE(this->truth("f-ollama-no-usage").reported_total);

  // long_line: TGI as an SSE comment, Ollama as a valid object without output.
  reply = post("/generate_stream", tgi, "f-tgi-long", {{"x-sim-fault", "long_line"}});
  events = sse_data(reply.body);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].rfind(":", 0), 0u);
  EXPECT_GE(events[0].size(), 2u * 1024 * 1024 - 16);
  reply = post("/api/generate", ollama, "f-ollama-long", {{"x-sim-fault", "long_line"}});
  lines = ndjson_lines(reply.body);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_GE(lines[0].size(), 2u * 1024 * 1024 - 16);
  EXPECT_EQ(json::parse(lines[0]).at("response").as_string(), "");

  // stall_after_first: one event, then nothing.
  Request stall{http::verb::post,
                "/api/chat",
                R"({"messages":[{"role":"user","content":"x"}]})",
                {{"X-Request-Id", "f-ollama-stall"}, {"x-sim-fault", "stall_after_first"}},
                200ms,
                nullptr};
  reply = run_one(simulator_->port(), stall);
  EXPECT_TRUE(reply.timed_out);
  EXPECT_EQ(ndjson_lines(reply.body).size(), 1u);
}

std::vector<Request> one_request_per_flavor() {
  const std::vector<std::pair<std::string, std::string>> targets{
      {"/v1/completions", completion_body(2)},
      {"/v1/chat/completions", chat_body(2)},
      {"/generate_stream", R"({"inputs":"a","parameters":{"max_new_tokens":2}})"},
      {"/v2/models/m/generate_stream", R"({"text_input":"a","max_tokens":2})"},
      {"/infer", R"({"inputs":"a","stream":true,"parameters":{"max_new_tokens":2}})"},
      {"/api/chat", R"({"messages":[{"role":"user","content":"x"}],"options":{"num_predict":2}})"},
      {"/api/generate", R"({"prompt":"x","options":{"num_predict":2}})"},
  };
  std::vector<Request> requests;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    requests.push_back(Request{http::verb::post,
                               targets[i].first,
                               targets[i].second,
                               {{"X-Request-Id", "keep-" + std::to_string(i)}},
                               0ms,
                               nullptr});
  }
  return requests;
}

TEST_F(SimulatorTest, KeepAliveServesEveryFlavorOnOneConnection) {
  const auto requests = one_request_per_flavor();
  const auto replies = run_on_one_connection(simulator_->port(), requests);
  ASSERT_EQ(replies.size(), requests.size());
  for (std::size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].status, 200u) << requests[i].target;
    EXPECT_FALSE(replies[i].read_error) << requests[i].target;
    const auto truth = this->truth("keep-" + std::to_string(i));
    EXPECT_TRUE(truth.completed) << requests[i].target;
    EXPECT_EQ(truth.output_tokens, 2) << requests[i].target;
    EXPECT_EQ(truth.request_on_connection, i + 1) << requests[i].target;
    EXPECT_EQ(truth.connection_id, 1u);
  }
  EXPECT_EQ(simulator_->connections_accepted(), 1u);
  EXPECT_EQ(simulator_->requests_seen(), requests.size());
  // A second connection gets the next id.
  post("/v1/completions", completion_body(1), "second-connection");
  EXPECT_EQ(truth("second-connection").connection_id, 2u);
  EXPECT_EQ(truth("second-connection").request_on_connection, 1u);
  EXPECT_EQ(simulator_->connections_accepted(), 2u);
}

// --- HTTPS ---

// A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate, made
// with the openssl CLI once for the whole suite.
class SimulatorTlsTest : public SimulatorTest {
 protected:
  static void SetUpTestSuite() {
    if (std::system("openssl version > /dev/null 2>&1") != 0) {
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "llmprobe-sim-tls-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) {
      return;
    }
    dir_ = pattern;
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string commands =
        "cd '" + dir_ + "' && (" + "openssl req -x509 " + key +
        " -keyout ca.key -out ca.pem -days 2 -subj '/CN=sim test CA'"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        " && openssl req " +
        key +
        " -keyout server.key -out server.csr -subj '/CN=localhost'"
        " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n'"
        " > server.ext"
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 2 -extfile server.ext"
        " && openssl req " +
        key +
        " -keyout client.key -out client.csr -subj '/CN=llmprobe'"
        " && printf 'extendedKeyUsage=clientAuth\\n' > client.ext"
        " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out client.pem -days 2 -extfile client.ext";
    ready_ = std::system((commands + ") > openssl.log 2>&1").c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }
  void SetUp() override {
    if (!ready_) {
      GTEST_SKIP() << "could not make test certificates with the openssl CLI";
    }
  }
  static std::string file(const char* name) { return dir_ + "/" + name; }
  static Options tls_options(bool require_client_cert) {
    auto options = fast_options();
    options.tls_cert_file = file("server.pem");
    options.tls_key_file = file("server.key");
    if (require_client_cert) {
      options.tls_client_ca_file = file("ca.pem");
    }
    return options;
  }
  static ssl::context client_context(bool with_cert) {
    ssl::context context(ssl::context::tls_client);
    context.load_verify_file(file("ca.pem"));
    context.set_verify_mode(ssl::verify_peer);
    if (with_cert) {
      context.use_certificate_chain_file(file("client.pem"));
      context.use_private_key_file(file("client.key"), ssl::context::pem);
    }
    return context;
  }
  void wait_for_handshake_failures(std::size_t count) {
    const auto give_up = SimClock::now() + 3s;
    while (simulator_->tls_handshake_failures() < count && SimClock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(simulator_->tls_handshake_failures(), count);
  }

  static inline std::string dir_;
  static inline bool ready_ = false;
};

TEST_F(SimulatorTlsTest, ServesEveryFlavorOverHttpsWithKeepAlive) {
  start(tls_options(false));
  auto client = client_context(false);
  const auto requests = one_request_per_flavor();
  const auto replies = run_on_one_connection(simulator_->port(), requests, &client);
  ASSERT_EQ(replies.size(), requests.size());
  for (std::size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].status, 200u) << requests[i].target;
    EXPECT_FALSE(replies[i].read_error) << requests[i].target;
    EXPECT_EQ(truth("keep-" + std::to_string(i)).request_on_connection, i + 1);
  }
  const auto timing = this->truth("keep-0");
  ASSERT_EQ(timing.content_event_times.size(), 2u);
  EXPECT_LT(timing.content_event_times[0] - timing.started_at, kTtft + 5ms);
  EXPECT_EQ(simulator_->connections_accepted(), 1u);
  EXPECT_EQ(simulator_->tls_handshake_failures(), 0u);

  // Plain HTTP to the TLS listener: a failed handshake, counted.
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), simulator_->port()));
  asio::write(socket, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::string raw;
  boost::system::error_code read_error;
  asio::read(socket, asio::dynamic_buffer(raw), read_error);
  EXPECT_EQ(raw.find("HTTP/1.1 200"), std::string::npos);
  wait_for_handshake_failures(1);
}

TEST_F(SimulatorTlsTest, MutualTlsAcceptsTheClientCertificate) {
  start(tls_options(true));
  auto client = client_context(true);
  const auto reply = run_one(simulator_->port(),
                             Request{http::verb::post,
                                     "/v1/chat/completions",
                                     chat_body(3),
                                     {{"X-Request-Id", "mtls"}},
                                     0ms,
                                     nullptr},
                             &client);
  ASSERT_EQ(reply.status, 200u);
  EXPECT_EQ(sse_data(reply.body).size(), 6u);
  EXPECT_TRUE(truth("mtls").completed);
  EXPECT_EQ(simulator_->tls_handshake_failures(), 0u);
}

TEST_F(SimulatorTlsTest, MutualTlsRefusesAClientWithoutCertificate) {
  start(tls_options(true));
  auto client = client_context(false);
  // With TLS 1.3 the client may finish its half of the handshake before the server refuses it;
  // either way no response comes back.
  asio::io_context io;
  bool answered = false;
  asio::co_spawn(io,
                 exchange(simulator_->port(),
                          Request{http::verb::get, "/health", "", {}, 0ms, nullptr}, &client),
                 [&answered](std::exception_ptr error, Reply reply) {
                   answered = !error && reply.status == 200;
                 });
  io.run();
  EXPECT_FALSE(answered);
  wait_for_handshake_failures(1);
  EXPECT_EQ(simulator_->requests_seen(), 0u);
  EXPECT_EQ(simulator_->connections_accepted(), 1u);
}

TEST_F(SimulatorTlsTest, MissingCertificateFileFailsAtStart) {
  auto options = tls_options(false);
  options.tls_cert_file = file("nonexistent.pem");
  Simulator simulator(options);
  EXPECT_THROW(simulator.start(), std::runtime_error);
}

TEST(DelaySpecTest, ParsesTheTextForms) {
  auto fixed = DelaySpec::parse("200ms");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->kind, DelaySpec::Kind::fixed);
  EXPECT_EQ(fixed->a, 200ms);
  auto uniform = DelaySpec::parse("uniform(100ms, 300ms)");
  ASSERT_TRUE(uniform);
  EXPECT_EQ(uniform->kind, DelaySpec::Kind::uniform);
  EXPECT_EQ(uniform->b, 300ms);
  auto normal = DelaySpec::parse("normal(1.5s,20ms)");
  ASSERT_TRUE(normal);
  EXPECT_EQ(normal->a, 1500ms);
  auto exponential = DelaySpec::parse("exp(250us)");
  ASSERT_TRUE(exponential);
  EXPECT_EQ(exponential->kind, DelaySpec::Kind::exponential);
  EXPECT_EQ(exponential->a, 250us);
  for (const char* bad : {"", "200", "ms", "uniform(3ms,1ms)", "uniform(1ms)", "gauss(1ms,2ms)",
                          "-5ms", "5 parsecs"}) {
    EXPECT_FALSE(DelaySpec::parse(bad)) << bad;
  }
}

}  // namespace
