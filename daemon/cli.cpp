#include "llmprobe/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include "llmprobe/config.hpp"
#include "llmprobe/daemon.hpp"
#include "llmprobe/metrics.hpp"
#include "llmprobe/runner.hpp"

namespace llmprobe {

namespace po = boost::program_options;

namespace {

constexpr const char* kDefaultListenAddress = ":10087";

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("llmprobe");
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%e%z level=%l %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

}  // namespace

int run_cli(int argc, const char* const* argv) {
  po::options_description flags("llmprobe flags");
  // clang-format off
  flags.add_options()
    ("help,h", "show this help and exit")
    ("version", "print the version and exit")
    ("config.file", po::value<std::string>()->default_value(""),
     "YAML configuration file; empty: the embedded demo config probing the bundled simulator "
     "at 127.0.0.1:8000")
    ("config.check", po::bool_switch(), "validate the configuration, print the result and exit "
     "(0 valid, 1 invalid)")
    ("web.listen-address", po::value<std::string>()->default_value(kDefaultListenAddress),
     "address for /metrics and the /-/ endpoints: host:port, [v6]:port or :port")
    ("log.level", po::value<std::string>()->default_value("info"),
     "debug, info, warn or error");
  // clang-format on

  po::variables_map vars;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vars);
    po::notify(vars);
  } catch (const std::exception& e) {
    std::cerr << "llmprobe: " << e.what() << "\nTry 'llmprobe --help'.\n";
    return 2;
  }
  if (vars.count("help")) {
    std::cout << "Usage: llmprobe [flags]\n\n" << flags << '\n';
    return 0;
  }
  if (vars.count("version")) {
    const BuildInfo info = build_info();
    std::cout << "llmprobe " << info.version << " (revision " << info.revision << ")\n";
    return 0;
  }
  const std::string level = vars["log.level"].as<std::string>();
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    std::cerr << "llmprobe: --log.level: must be debug, info, warn or error, not \"" << level
              << "\"\n";
    return 2;
  }

  const std::string config_file = vars["config.file"].as<std::string>();
  std::shared_ptr<const Config> config;
  try {
    config = std::make_shared<const Config>(
        config_file.empty() ? parse_config(embedded_demo_config(), "<embedded demo config>")
                            : load_config_file(config_file));
    check_tls_files(*config);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  } catch (const std::runtime_error& e) {
    std::cerr << config_file << ": " << e.what() << '\n';
    return 1;
  }
  if (vars["config.check"].as<bool>()) {
    std::cout << config->source << ": OK: " << config->targets.size() << " target(s), "
              << config->workloads.size() << " workload(s)\n";
    return 0;
  }

  setup_logging(level);
  if (config_file.empty()) {
    spdlog::warn(
        "no --config.file given: using the embedded demo configuration, which probes the "
        "bundled simulator at http://127.0.0.1:8000");
  }
  try {
    DaemonOptions options;
    options.listen_address = vars["web.listen-address"].as<std::string>();
    Daemon daemon(config, options);
    return daemon.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

}  // namespace llmprobe
