// Client accuracy and cost benchmark (a program that prints numbers, not a test).
//
// The simulator runs in a forked child process pinned to the other core; the client (llmprobe's
// ProbeRunner on one io_context thread) is pinned to core 0. For 1, 64, 512 and 2048 concurrent
// streams it compares every measured TTFT and ITL with the simulator's ground truth (both sides
// read CLOCK_MONOTONIC) and prints p50/p99 of |measured - true|, the client's CPU seconds per
// million streamed events and its peak RSS. Then it runs an idle daemon probing 10 targets
// every 15 s and prints its RSS.
//
//   client_bench [--levels 1,64,512,2048] [--tokens 64] [--ttft-ms 100] [--itl-ms 20]
//                [--idle-seconds 40]
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "llmprobe/config.hpp"
#include "llmprobe/measurement.hpp"
#include "llmprobe/runner.hpp"
#include "simulator.hpp"

namespace {

using namespace llmprobe;
namespace asio = boost::asio;

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % static_cast<int>(std::thread::hardware_concurrency()), &set);
  sched_setaffinity(0, sizeof set, &set);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0)
      return std::atol(line.c_str() + std::strlen(field) + 1);
  }
  return -1;
}

// Runs the simulator in a child process; returns its pid and port. The child exits when the
// parent closes the pipe.
std::pair<pid_t, std::uint16_t> fork_simulator(const sim::Options& options) {
  int to_parent[2];
  int from_parent[2];
  if (pipe(to_parent) != 0 || pipe(from_parent) != 0)
    std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    pin_to_cpu(1);
    close(to_parent[0]);
    close(from_parent[1]);
    sim::Simulator simulator(options);
    simulator.start();
    const std::uint16_t port = simulator.port();
    if (write(to_parent[1], &port, sizeof port) != sizeof port)
      _exit(1);
    char byte;
    while (read(from_parent[0], &byte, 1) > 0) {
    }
    simulator.stop();
    _exit(0);
  }
  close(to_parent[1]);
  close(from_parent[0]);
  std::uint16_t port = 0;
  if (read(to_parent[0], &port, sizeof port) != sizeof port)
    std::exit(1);
  close(to_parent[0]);
  // Keep from_parent[1] open until we are done: closing it (at exit) stops the child.
  return {pid, port};
}

std::string http_request(std::uint16_t port, const std::string& method, const std::string& target) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{30, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request =
      method + " " + target +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string raw;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(raw), ec);
  const auto body = raw.find("\r\n\r\n");
  if (body == std::string::npos)
    return {};
  std::string text = raw.substr(body + 4);
  // The simulator may answer chunked; undo it.
  if (raw.substr(0, body).find("chunked") == std::string::npos)
    return text;
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto eol = text.find("\r\n", at);
    const std::size_t size = std::stoul(text.substr(at, eol - at), nullptr, 16);
    if (size == 0)
      break;
    out += text.substr(eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return out;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return NAN;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto low = static_cast<std::size_t>(std::floor(rank));
  const auto high = static_cast<std::size_t>(std::ceil(rank));
  return values[low] + (values[high] - values[low]) * (rank - static_cast<double>(low));
}

std::vector<int> parse_levels(const std::string& text) {
  std::vector<int> levels;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ','))
    levels.push_back(std::stoi(item));
  return levels;
}

struct Args {
  std::vector<int> levels{1, 64, 512, 2048};
  int tokens = 64;
  int ttft_ms = 100;
  int itl_ms = 20;
  int idle_seconds = 40;
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--levels")
      args.levels = parse_levels(value);
    else if (flag == "--tokens")
      args.tokens = std::stoi(value);
    else if (flag == "--ttft-ms")
      args.ttft_ms = std::stoi(value);
    else if (flag == "--itl-ms")
      args.itl_ms = std::stoi(value);
    else if (flag == "--idle-seconds")
      args.idle_seconds = std::stoi(value);
    else {
      std::cerr << "unknown flag " << flag << '\n';
      std::exit(2);
    }
  }
  return args;
}

std::string config_yaml(std::uint16_t port, int targets, const std::string& interval, int tokens) {
  std::string yaml = "targets:\n";
  for (int i = 0; i < targets; ++i) {
    yaml += "  - name: t" + std::to_string(i) +
            "\n    base_url: http://127.0.0.1:" + std::to_string(port) +
            "\n    api: openai-chat\n    model: bench\n";
  }
  yaml += "workloads:\n  - name: probe\n    kind: probe\n    interval: " + interval +
          "\n    max_tokens: " + std::to_string(tokens) + "\n    ignore_eos: true\n";
  return yaml;
}

void accuracy_level(int streams, const Args& args, std::uint16_t port) {
  auto config = std::make_shared<const Config>(
      parse_config(config_yaml(port, 1, "1h", args.tokens), "<bench>"));
  asio::io_context io(1);
  ProbeRunner runner(io.get_executor(), SteadyClockSource::instance());
  std::vector<std::pair<std::string, StreamRecord>> records(static_cast<std::size_t>(streams));
  for (int i = 0; i < streams; ++i) {
    ProbeSpec spec{config, &config->targets[0], &config->workloads[0],
                   "bench-" + std::to_string(streams) + "-" + std::to_string(i),
                   SteadyClock::now()};
    records[static_cast<std::size_t>(i)].first = spec.request_id;
    asio::co_spawn(
        io,
        [&runner, spec, &slot = records[static_cast<std::size_t>(i)].second]()
            -> asio::awaitable<void> { slot = co_await runner.run(spec); },
        asio::detached);
  }
  const double cpu_before = thread_cpu_seconds();
  io.run();
  const double cpu = thread_cpu_seconds() - cpu_before;

  const auto truth_json = boost::json::parse(http_request(port, "GET", "/sim/truth")).as_array();
  std::map<std::string, std::vector<std::int64_t>> truth;
  for (const auto& item : truth_json) {
    const auto& obj = item.as_object();
    std::vector<std::int64_t> times;
    for (const auto& t : obj.at("content_event_times_ns").as_array())
      times.push_back(t.to_number<std::int64_t>());
    truth[std::string(obj.at("request_id").as_string())] = std::move(times);
  }
  http_request(port, "POST", "/sim/reset");

  std::vector<double> ttft_error_ms;
  std::vector<double> itl_error_ms;
  std::size_t events = 0;
  int failures = 0;
  for (const auto& [id, record] : records) {
    const Measurement m = measure(record);
    const auto it = truth.find(id);
    if (!m.success() || it == truth.end() || it->second.size() != record.content_times.size()) {
      ++failures;
      continue;
    }
    const auto& times = it->second;
    events += times.size();
    auto ns = [](TimePoint t) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    };
    ttft_error_ms.push_back(std::abs(static_cast<double>(ns(record.content_times[0]) - times[0])) /
                            1e6);
    for (std::size_t i = 1; i < times.size(); ++i) {
      const auto measured = ns(record.content_times[i]) - ns(record.content_times[i - 1]);
      const auto actual = times[i] - times[i - 1];
      itl_error_ms.push_back(std::abs(static_cast<double>(measured - actual)) / 1e6);
    }
  }
  std::printf(
      "streams=%-5d ok=%-5zu failed=%-3d ttft_err_ms p50=%.3f p99=%.3f  itl_err_ms p50=%.3f "
      "p99=%.3f  client_cpu_s_per_M_events=%.2f  peak_rss_mib=%.1f\n",
      streams, records.size() - static_cast<std::size_t>(failures), failures,
      percentile(ttft_error_ms, 50), percentile(ttft_error_ms, 99), percentile(itl_error_ms, 50),
      percentile(itl_error_ms, 99), events ? cpu / static_cast<double>(events) * 1e6 : NAN,
      static_cast<double>(status_kib("VmHWM:")) / 1024.0);
  std::fflush(stdout);
}

// The real llmprobe binary (next to this one) in a fresh process, so its RSS is its own.
void idle_daemon(const Args& args, std::uint16_t port) {
  char self[4096] = {};
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  if (length <= 0)
    return;
  std::string binary(self, static_cast<std::size_t>(length));
  binary = binary.substr(0, binary.rfind('/')) + "/llmprobe";
  const std::string config_path = "/tmp/llmprobe-client-bench-idle.yaml";
  std::ofstream(config_path) << config_yaml(port, 10, "15s", 16);
  const pid_t pid = fork();
  if (pid == 0) {
    execl(binary.c_str(), binary.c_str(), "--config.file", config_path.c_str(),
          "--web.listen-address", "127.0.0.1:0", "--log.level", "warn", nullptr);
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::seconds(args.idle_seconds));
  auto field = [pid](const char* name) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind(name, 0) == 0)
        return std::atol(line.c_str() + std::strlen(name) + 1);
    }
    return -1L;
  };
  std::printf(
      "idle daemon (llmprobe, 10 targets every 15 s, after %d s): rss_mib=%.1f "
      "peak_rss_mib=%.1f\n",
      args.idle_seconds, static_cast<double>(field("VmRSS:")) / 1024.0,
      static_cast<double>(field("VmHWM:")) / 1024.0);
  std::fflush(stdout);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::remove(config_path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  sim::Options options;
  options.ttft = {sim::DelaySpec::Kind::fixed, std::chrono::milliseconds(args.ttft_ms), {}};
  options.itl = {sim::DelaySpec::Kind::fixed, std::chrono::milliseconds(args.itl_ms), {}};
  const auto [sim_pid, port] = fork_simulator(options);
  pin_to_cpu(0);
  std::printf("client_bench: %d tokens per stream, sim TTFT %d ms, ITL %d ms, client on 1 core\n",
              args.tokens, args.ttft_ms, args.itl_ms);
  for (int streams : args.levels)
    accuracy_level(streams, args, port);
  if (args.idle_seconds > 0)
    idle_daemon(args, port);
  kill(sim_pid, SIGTERM);
  int status = 0;
  waitpid(sim_pid, &status, 0);
  return 0;
}
