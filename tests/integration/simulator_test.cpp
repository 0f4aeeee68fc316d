// Tests of llmprobe-sim through its HTTP interface, with a deliberately minimal raw Beast client
// written here (not llmprobe's): the simulator is the reference the daemon is tested against, so
// it must be checked by code that shares nothing with the daemon.
#include "simulator.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using llmprobe::sim::DelaySpec;
using llmprobe::sim::Options;
using llmprobe::sim::RequestTruth;
using llmprobe::sim::SimClock;
using llmprobe::sim::Simulator;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kTtft = 20ms;
constexpr auto kItl = 5ms;

struct Request {
  http::verb method = http::verb::post;
  std::string target = "/v1/completions";
  std::string body;
  std::map<std::string, std::string> headers;
  // For stalls: after the response header, wait this long for more bytes, then hang up.
  std::chrono::milliseconds give_up_after{0};
  std::atomic<bool>* header_seen = nullptr;  // set once the response header has arrived
};

struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string transfer_encoding;
  std::string body;              // de-chunked, possibly partial
  beast::error_code read_error;  // of the body read; empty when the body ended properly
  bool timed_out = false;        // give_up_after expired (the server sent nothing more)
};

asio::awaitable<Reply> exchange(std::uint16_t port, Request request) {
  Reply reply;
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(5s);
  co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                asio::use_awaitable);
  http::request<http::string_body> message{request.method, request.target, 11};
  message.set(http::field::host, "127.0.0.1");
  message.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) {
    message.set(name, value);
  }
  message.body() = request.body;
  message.prepare_payload();
  stream.expires_after(5s);
  co_await http::async_write(stream, message, asio::use_awaitable);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  stream.expires_after(5s);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  if (request.header_seen != nullptr) {
    *request.header_seen = true;
  }
  if (request.give_up_after.count() > 0) {
    stream.expires_after(request.give_up_after);
  } else {
    stream.expires_after(5s);
  }
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  reply.timed_out = ec == beast::error::timeout;
  reply.read_error = ec;
  const auto& response = parser.get();
  reply.status = response.result_int();
  reply.content_type = std::string(response[http::field::content_type]);
  reply.transfer_encoding = std::string(response[http::field::transfer_encoding]);
  reply.body = response.body();
  co_return reply;
}

// Runs several requests at once on one io_context (for the concurrency tests).
std::vector<Reply> run_all(std::uint16_t port, std::vector<Request> requests) {
  asio::io_context io;
  std::vector<Reply> replies(requests.size());
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    asio::co_spawn(io, exchange(port, requests[i]),
                   [&replies, &errors, i](std::exception_ptr error, Reply reply) {
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         errors.emplace_back(e.what());
                       }
                       return;
                     }
                     replies[i] = std::move(reply);
                   });
  }
  io.run();
  for (const auto& error : errors) {
    ADD_FAILURE() << "client error: " << error;
  }
  return replies;
}

Reply run_one(std::uint16_t port, Request request) {
  return run_all(port, {std::move(request)}).front();
}

// The data of each SSE event, split the simplest way (the simulator writes "data: x\n\n").
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> events;
  std::size_t at = 0;
  while (at < body.size()) {
    const auto end = body.find("\n\n", at);
    const auto event = body.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (event.rfind("data: ", 0) == 0) {
      events.push_back(event.substr(6));
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
