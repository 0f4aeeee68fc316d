// Throughput of the stream-reading path: SseParser alone, then SseParser + the chat decoder, over
// an in-memory vLLM chat stream fed in 16 KiB reads (the size of a typical socket read). The
// client must never be the bottleneck (vLLM #39963), so this is the number to keep well above
// any server's output rate. Prints the best of five runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/sse_parser.hpp"

namespace {

using llmprobe::SseEvent;
using llmprobe::SseParser;
using llmprobe::SseStatus;

constexpr int kContentChunks = 100'000;
constexpr std::size_t kReadSize = 16 * 1024;
constexpr int kRuns = 5;

// The byte layout vLLM's OpenAI server writes: role chunk, content chunks, finish chunk, usage
// chunk, [DONE].
std::string build_stream() {
  const std::string head =
      R"({"id":"chatcmpl-5b2e9c7f0a1d4e3b8c6f9a2d7e1b4c08","object":"chat.completion.chunk",)"
      R"("created":1732291847,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"delta":)";
  const char* words[] = {" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog"};
  std::string stream;
  stream.reserve(static_cast<std::size_t>(kContentChunks) * 260);
  stream += "data: " + head +
            R"({"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})" + "\n\n";
  for (int i = 0; i < kContentChunks; ++i) {
    stream += "data: " + head + R"({"content":")" + words[i % 8] +
              R"("},"logprobs":null,"finish_reason":null}]})" + "\n\n";
  }
  stream += "data: " + head +
            R"({"content":""},"logprobs":null,"finish_reason":"length","stop_reason":null}]})" +
            "\n\n";
  stream +=
      R"(data: {"id":"chatcmpl-5b2e9c7f0a1d4e3b8c6f9a2d7e1b4c08","object":"chat.completion.chunk",)"
      R"("created":1732291847,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[],)"
      R"("usage":{"prompt_tokens":1024,"total_tokens":101024,"completion_tokens":100000}})"
      "\n\ndata: [DONE]\n\n";
  return stream;
}

struct Run {
  double seconds = 0;
  std::size_t events = 0;
  std::size_t content = 0;
};

Run run_once(std::string_view stream, const llmprobe::ApiAdapter* adapter) {
  SseParser parser;
  std::vector<SseEvent> events;
  events.reserve(256);
  Run run;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t pos = 0; pos < stream.size(); pos += kReadSize) {
    events.clear();
    if (parser.feed(stream.substr(pos, kReadSize), events) != SseStatus::ok) {
      std::fprintf(stderr, "parse error\n");
      std::exit(1);
    }
    run.events += events.size();
    if (adapter != nullptr) {
      for (const SseEvent& event : events) {
        if (adapter->decode_event(event.data).kind == llmprobe::EventKind::content)
          ++run.content;
      }
    }
  }
  parser.finish();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

void report(const char* name, std::string_view stream, const llmprobe::ApiAdapter* adapter) {
  Run best;
  best.seconds = 1e30;
  for (int i = 0; i < kRuns; ++i) {
    const Run run = run_once(stream, adapter);
    if (run.seconds < best.seconds)
      best = run;
  }
  if (adapter != nullptr && best.content != static_cast<std::size_t>(kContentChunks)) {
    std::fprintf(stderr, "%s: expected %d content events, got %zu\n", name, kContentChunks,
                 best.content);
    std::exit(1);
  }
  std::printf("%s: %.1f MB/s, %.2f M events/s\n", name,
              static_cast<double>(stream.size()) / best.seconds / 1e6,
              static_cast<double>(best.events) / best.seconds / 1e6);
}

}  // namespace

int main() {
  const std::string stream = build_stream();
  std::printf("stream: %zu bytes, %d content chunks, %zu-byte reads, best of %d\n", stream.size(),
              kContentChunks, kReadSize, kRuns);
  report("sse_parser", stream, nullptr);
  report("sse_parser+openai_chat", stream,
         &llmprobe::adapter_for(llmprobe::ApiFlavor::openai_chat));
  return 0;
}
