// llmprobe's configuration: targets (servers to probe) and named workloads (what to send them),
// decoded strictly from YAML. Every problem is a ConfigError naming file:line:column and the key.
// Config objects are immutable after loading and safe to share between threads.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmprobe/api/flavor.hpp"
#include "llmprobe/clock.hpp"

namespace llmprobe {

// Thrown for any configuration problem. what() is the full message
// "<file>:<line>:<column>: <key path>: <problem>" (line/column 1-based). Line 0 means "no
// position" and drops ":<line>:<column>"; an empty key drops "<key path>: ", so an unreadable
// file reads "<file>: <problem>". docs/configuration.md documents the format.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, std::string key, std::string problem);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& key() const { return key_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string file_;
  int line_;
  int column_;
  std::string key_;
  std::string problem_;
};

// A secret value (API key). It has no stream operator and no implicit conversion, so it cannot
// be logged by accident; reveal() is called only where the header is written.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  bool empty() const { return value_.empty(); }
  const std::string& reveal() const { return value_; }

 private:
  std::string value_;
};

// Where a secret comes from: `api_key: {file: PATH}`, `{env: NAME}` or `{credential: NAME}`
// (a systemd credential: $CREDENTIALS_DIRECTORY/NAME, see LoadCredential=).
struct SecretSource {
  enum class Kind { none, file, env, credential };
  Kind kind = Kind::none;
  std::string reference;  // path, variable or credential name (not secret)
};

// TLS settings of an https:// target. Paths are absolute (resolved against the config file).
struct TlsSettings {
  std::string ca_file;      // trust these CAs instead of the system's
  std::string cert_file;    // client certificate (chain) for mutual TLS ...
  std::string key_file;     // ... and its private key
  std::string server_name;  // SNI and the name verified in the certificate (default: URL host)
  int min_version = 12;     // 12 = TLS 1.2, 13 = TLS 1.3
  bool insecure_skip_verify = false;  // no certificate verification at all (logged loudly)
};

struct Timeouts {
  Duration connect = std::chrono::seconds(5);       // resolve + TCP connect + TLS handshake
  Duration first_token = std::chrono::seconds(30);  // request start -> first content event
  Duration idle = std::chrono::seconds(30);         // longest gap between reads after that
  Duration total = std::chrono::seconds(120);       // request start -> end of stream
};

// A parsed base URL: scheme://host[:port][/prefix]. No userinfo, query or fragment.
struct Endpoint {
  bool tls = false;
  std::string host;        // without IPv6 brackets
  std::uint16_t port = 0;  // defaulted from the scheme
  std::string base_path;   // "" or "/prefix" without trailing slash
};

struct Target {
  std::string name;
  std::string base_url;  // as written (has no credentials: those are rejected)
  Endpoint endpoint;
  ApiFlavor api = ApiFlavor::openai_completions;
  std::string model;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  SecretSource api_key_source;
  Secret api_key;  // resolved at load; sent as "Authorization: Bearer <key>"
  Timeouts timeouts;
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  std::vector<std::string> workloads;  // names; default: every workload
  TlsSettings tls;
  std::size_t max_idle_connections = 2;  // keep-alive pool size (connection: keep_alive)
  // A pooled connection idle longer than this is closed, not reused: servers drop idle
  // connections themselves (uvicorn, so vLLM: after 5 s), and a dead one would cost a probe.
  Duration max_idle_time = std::chrono::seconds(4);
};

// Bucket edges per histogram; empty means the default ladder (metrics.hpp).
struct BucketOverrides {
  std::vector<double> time_to_first_token;
  std::vector<double> inter_token_latency;
  std::vector<double> time_per_output_token;
  std::vector<double> request_duration;
  std::vector<double> schedule_lag;
};

enum class WorkloadKind { probe };

// fresh: a new connection per request (the first-request experience: DNS, TCP, TLS each time);
// keep_alive: reuse pooled connections (steady state, like a client with a connection pool).
enum class ConnectionPolicy { fresh, keep_alive };

struct Workload {
  std::string name;
  WorkloadKind kind = WorkloadKind::probe;
  Duration interval = std::chrono::seconds(15);
  Duration jitter = Duration::zero();  // run k starts at t0 + k*interval + U[0, jitter)
  int prompt_tokens = 32;              // approximate prompt length (one common word per token)
  bool cache_busting_prefix = true;    // a per-request nonce defeats the server's prefix cache
  int max_tokens = 16;
  bool ignore_eos = false;
  ConnectionPolicy connection = ConnectionPolicy::fresh;
  boost::json::object extra_body;  // merged into the request body last
  BucketOverrides buckets;
};

struct GlobalSettings {
  Duration shutdown_grace = std::chrono::seconds(10);  // in-flight requests get this at exit
};

struct Config {
  std::string source;  // file name, or "<embedded demo config>"
  GlobalSettings global;
  std::vector<Target> targets;
  std::vector<Workload> workloads;

  const Workload* find_workload(std::string_view name) const;
};

// Parses and validates; throws ConfigError. `source_name` is used in messages, and a relative
// `api_key: {file: ...}` is resolved against its directory. API keys are read here.
Config parse_config(std::string_view yaml_text, std::string_view source_name);
// Reads the file and parses it; an unreadable file is a ConfigError too.
Config load_config_file(const std::string& path);

// The configuration used when no --config.file is given: probes the bundled simulator at
// 127.0.0.1:8000 (see README "Quick start").
std::string_view embedded_demo_config();

// Prometheus-style durations: "15s", "500ms", "1m30s", "2h", "250us". Returns nullopt on
// anything else (negative, empty, unknown unit, overflow).
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace llmprobe
