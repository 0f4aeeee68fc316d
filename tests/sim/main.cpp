// llmprobe-sim: command-line front end of the simulator (tests/sim/simulator.hpp), for the demo
// and for benchmarks run by hand. Serves until SIGINT/SIGTERM; bad flags exit 2.
#include <pthread.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "sim_internal.hpp"
#include "simulator.hpp"

namespace po = boost::program_options;
using llmprobe::sim::DelaySpec;
using llmprobe::sim::Options;
using llmprobe::sim::Simulator;

namespace {

constexpr int kUsageError = 2;

struct UsageError {
  std::string message;
};

// "host:port", "[v6]:port" or ":port".
void parse_listen(const std::string& text, Options& options) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    throw UsageError{"--listen: expected host:port, got '" + text + "'"};
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = text.substr(colon + 1);
  std::size_t used = 0;
  unsigned long port = 0;
  try {
    port = std::stoul(port_text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (port_text.empty() || used != port_text.size() || port > 65535) {
    throw UsageError{"--listen: invalid port in '" + text + "'"};
  }
  options.host = host.empty() ? "0.0.0.0" : host;
  options.port = static_cast<std::uint16_t>(port);
}

DelaySpec parse_delay(const std::string& flag, const std::string& text) {
  auto spec = DelaySpec::parse(text);
  if (!spec) {
    throw UsageError{"--" + flag + ": invalid delay '" + text +
                     "' (examples: 200ms, uniform(100ms,300ms), normal(200ms,20ms), exp(200ms))"};
  }
  return *spec;
}

std::chrono::nanoseconds parse_step(const std::string& flag, const std::string& text) {
  if (text == "0") {
    return std::chrono::nanoseconds(0);
  }
  const auto value = llmprobe::sim::detail::parse_duration(text);
  if (!value) {
    throw UsageError{"--" + flag + ": invalid duration '" + text + "' (examples: 10ms, 500us, 0)"};
  }
  return *value;
}

void require_positive(const std::string& flag, int value) {
  if (value < 1) {
    throw UsageError{"--" + flag + ": must be >= 1, got " + std::to_string(value)};
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  std::string listen = "127.0.0.1:8000";
  std::string ttft = "50ms";
  std::string itl = "10ms";
  std::string decode_step = "10ms";
  std::string decode_step_per_seq = "1ms";
  po::options_description flags(
      "llmprobe-sim: streaming inference server for tests (OpenAI, TGI, Triton, MindIE, Ollama)");
  flags.add_options()("help,h", "show this help")(
      "listen", po::value(&listen)->default_value(listen), "address to serve on (host:port)")(
      "ttft", po::value(&ttft)->default_value(ttft),
      "time to first token: 200ms, uniform(a,b), normal(mean,sd), exp(mean)")(
      "itl", po::value(&itl)->default_value(itl), "inter-token latency (same forms as --ttft)")(
      "tokens-per-event", po::value(&options.tokens_per_event)->default_value(1),
      "tokens bundled in one SSE event")(
      "output-tokens", po::value(&options.natural_output_tokens)->default_value(64),
      "natural output length (capped by max_tokens unless ignore_eos)")(
      "no-role-chunk", po::bool_switch(), "chat: no role-only first chunk")(
      "max-concurrency", po::value(&options.max_concurrency)->default_value(0),
      "requests generating at once; more queue (0 = unlimited)")(
      "fault", po::value(&options.fault)->default_value(""),
      "fault for every request (see simulator.hpp)")(
      "seed", po::value(&options.seed)->default_value(1), "seed of the delay distributions")(
      "threads", po::value(&options.threads)->default_value(1), "I/O threads")(
      "load-model", po::bool_switch(),
      "continuous-batching load model: one engine, FIFO queue, batched decode steps "
      "(--ttft/--itl and x-sim-ttft/x-sim-itl are then ignored)")(
      "max-running", po::value(&options.load_model.max_running)->default_value(8),
      "load model: sequences decoded together; more wait in the queue")(
      "prefill-rate", po::value(&options.load_model.prefill_tokens_per_s)->default_value(20000),
      "load model: prompt tokens prefilled per second")(
      "decode-step", po::value(&decode_step)->default_value(decode_step),
      "load model: fixed time of one decode step")(
      "decode-step-per-seq", po::value(&decode_step_per_seq)->default_value(decode_step_per_seq),
      "load model: added step time per running sequence")(
      "tls-cert", po::value(&options.tls_cert_file),
      "serve HTTPS only, with this PEM certificate (chain) file; needs --tls-key")(
      "tls-key", po::value(&options.tls_key_file), "PEM private key of --tls-cert")(
      "tls-client-ca", po::value(&options.tls_client_ca_file),
      "require a client certificate signed by this PEM CA (mutual TLS)");

  try {
    po::variables_map values;
    po::store(po::parse_command_line(argc, argv, flags), values);
    if (values.count("help") != 0) {
      std::cout << flags << "\n";
      return 0;
    }
    po::notify(values);
    parse_listen(listen, options);
    options.ttft = parse_delay("ttft", ttft);
    options.itl = parse_delay("itl", itl);
    require_positive("tokens-per-event", options.tokens_per_event);
    require_positive("output-tokens", options.natural_output_tokens);
    require_positive("threads", options.threads);
    if (options.max_concurrency < 0) {
      throw UsageError{"--max-concurrency: must be >= 0"};
    }
    if (!llmprobe::sim::detail::parse_fault(options.fault)) {
      throw UsageError{"--fault: unknown fault '" + options.fault + "'"};
    }
    options.role_chunk = !values["no-role-chunk"].as<bool>();
    options.load_model.enabled = values["load-model"].as<bool>();
    options.load_model.decode_step_base = parse_step("decode-step", decode_step);
    options.load_model.decode_step_per_seq = parse_step("decode-step-per-seq", decode_step_per_seq);
    require_positive("max-running", options.load_model.max_running);
    if (!(options.load_model.prefill_tokens_per_s > 0)) {
      throw UsageError{"--prefill-rate: must be > 0"};
    }
    if ((options.load_model.decode_step_base + options.load_model.decode_step_per_seq).count() <=
        0) {
      throw UsageError{"--decode-step and --decode-step-per-seq: their sum must be > 0"};
    }
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      throw UsageError{"--tls-cert and --tls-key go together"};
    }
    if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
      throw UsageError{"--tls-client-ca needs --tls-cert and --tls-key"};
    }
  } catch (const UsageError& e) {
    std::cerr << "llmprobe-sim: " << e.message << "\n";
    return kUsageError;
  } catch (const po::error& e) {
    // Program_options names the offending flag in its message.
    std::cerr << "llmprobe-sim: " << e.what() << "\n";
    return kUsageError;
  }

  // Block the signals in every thread (the simulator's threads inherit the mask) and take them
  // synchronously here: no async-signal-safety concerns.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    Simulator simulator(options);
    simulator.start();
    std::fprintf(stderr, "llmprobe-sim: listening on %s://%s:%u%s\n",
                 options.tls_cert_file.empty() ? "http" : "https", options.host.c_str(),
                 static_cast<unsigned>(simulator.port()),
                 options.tls_client_ca_file.empty() ? "" : " (client certificate required)");
    int received = 0;
    sigwait(&signals, &received);
    simulator.stop();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
