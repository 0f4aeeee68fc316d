// Configuration decoding: every invalid-*.yaml fixture with its exact message, the valid
// fixtures field by field, durations, API key sources (and that no message leaks a key), and the
// two configurations users meet first: the documented sample and the embedded demo.
#include "llmprobe/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace llmprobe {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const std::string kTestdata = LLMPROBE_TESTDATA_DIR;

std::string fixture(const std::string& name) {
  return kTestdata + "/" + name;
}

// The message of the ConfigError that loading `path` throws, or "" when it loads.
std::string load_error(const std::string& path) {
  try {
    load_config_file(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& yaml, const std::string& source = "test.yaml") {
  try {
    parse_config(yaml, source);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Sets an environment variable for one test and restores the previous state afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = getenv(name_.c_str()))
      old_ = old;
    if (value != nullptr) {
      setenv(name_.c_str(), value, 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A file removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "llmprobe-config-test-XXXXXX").string();
    const int fd = mkstemp(pattern.data());
    if (fd < 0)
      throw std::runtime_error("mkstemp failed");
    close(fd);
    path_ = pattern;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Invalid fixtures: one per error class, exact messages. "{path}" stands for the fixture's path
// and "{dir}" for the testdata directory.

struct InvalidCase {
  const char* fixture;
  const char* message;
};

const InvalidCase kInvalidCases[] = {
    // Document level.
    {"invalid-empty.yaml",
     "{path}: the configuration is empty (expected a mapping with \"targets\" and \"workloads\")"},
    {"invalid-comments-only.yaml",
     "{path}: the configuration is empty (expected a mapping with \"targets\" and \"workloads\")"},
    {"invalid-syntax.yaml", "{path}:8:1: <yaml>: end of sequence flow not found"},
    {"invalid-multiple-documents.yaml", "{path}:12:1: <yaml>: only one YAML document is allowed"},
    {"invalid-root-sequence.yaml",
     "{path}:2:1: <root>: expected a mapping with \"targets\" and \"workloads\", got a sequence"},
    {"invalid-targets-missing.yaml", "{path}:2:1: targets: required key is missing"},
    {"invalid-targets-empty.yaml", "{path}:2:10: targets: must not be empty"},
    {"invalid-workloads-empty.yaml", "{path}:7:12: workloads: must not be empty"},
    {"invalid-target-type.yaml", "{path}:2:11: targets[0]: expected a mapping, got \"demo\""},
    {"invalid-sequence-type.yaml", "{path}:8:3: workloads: expected a sequence, got a mapping"},
    // Keys.
    {"invalid-unknown-key.yaml",
     "{path}:8:7: targets[0].timeouts.conect: unknown key \"conect\" (did you mean \"connect\"?)"},
    {"invalid-unknown-key-no-suggestion.yaml",
     "{path}:11:1: scrape_interval: unknown key \"scrape_interval\" (known keys: global, targets, "
     "workloads)"},
    {"invalid-duplicate-key.yaml",
     "{path}:7:5: targets[0].model: duplicate key \"model\" (first defined at line 6)"},
    {"invalid-duplicate-key-flow.yaml",
     "{path}:7:26: targets[0].timeouts.idle: duplicate key \"idle\" (first defined at line 7)"},
    {"invalid-non-string-key.yaml",
     "{path}:12:9: workloads[0].extra_body: mapping keys must be strings, got a sequence"},
    {"invalid-model-missing.yaml", "{path}:3:5: targets[0].model: required key is missing"},
    {"invalid-kind-missing.yaml", "{path}:8:5: workloads[0].kind: required key is missing"},
    // Types.
    {"invalid-integer-type.yaml",
     "{path}:11:20: workloads[0].prompt_tokens: expected an integer, got \"many\""},
    {"invalid-integer-quoted.yaml",
     "{path}:11:17: workloads[0].max_tokens: expected an integer, got the quoted string \"16\""},
    {"invalid-integer-range.yaml",
     "{path}:11:20: workloads[0].prompt_tokens: must be between 1 and 1000000, got 0"},
    {"invalid-max-response-bytes.yaml",
     "{path}:7:25: targets[0].max_response_bytes: must be at least 1, got -1"},
    {"invalid-mapping-type.yaml",
     "{path}:7:15: targets[0].timeouts: expected a mapping, got a sequence"},
    {"invalid-bool-type.yaml",
     "{path}:11:17: workloads[0].ignore_eos: expected true or false, got \"yes\""},
    // Durations.
    {"invalid-duration-no-unit.yaml",
     "{path}:10:15: workloads[0].interval: durations need a unit, e.g. 15s"},
    {"invalid-duration-decimal.yaml",
     "{path}:10:15: workloads[0].interval: invalid duration \"1.5s\" (expected e.g. 15s, 500ms, "
     "1m30s; units: h, m, s, ms, us, ns)"},
    {"invalid-duration-order.yaml",
     "{path}:10:15: workloads[0].interval: invalid duration \"30s1m\" (expected e.g. 15s, 500ms, "
     "1m30s; units: h, m, s, ms, us, ns)"},
    {"invalid-duration-unknown-unit.yaml",
     "{path}:10:15: workloads[0].interval: invalid duration \"1d\" (expected e.g. 15s, 500ms, "
     "1m30s; units: h, m, s, ms, us, ns)"},
    {"invalid-interval-zero.yaml", "{path}:10:15: workloads[0].interval: must be greater than 0"},
    {"invalid-timeout-zero.yaml", "{path}:7:36: targets[0].timeouts.total: must be greater than 0"},
    {"invalid-jitter-too-large.yaml",
     "{path}:11:13: workloads[0].jitter: jitter 15s must be less than the interval 15s"},
    {"invalid-shutdown-grace.yaml",
     "{path}:3:19: global.shutdown_grace: durations need a unit, e.g. 15s"},
    // URLs.
    {"invalid-url-credentials.yaml",
     "{path}:4:15: targets[0].base_url: credentials do not belong in URLs: use api_key"},
    {"invalid-url-query.yaml",
     "{path}:4:15: targets[0].base_url: base_url must not have a query (credentials do not "
     "belong in URLs: use api_key)"},
    {"invalid-url-fragment.yaml",
     "{path}:4:15: targets[0].base_url: base_url must not have a fragment"},
    {"invalid-url-scheme.yaml",
     "{path}:4:15: targets[0].base_url: scheme must be http or https, got \"ftp\" (expected e.g. "
     "http://127.0.0.1:8000)"},
    {"invalid-url-no-host.yaml", "{path}:4:15: targets[0].base_url: base_url needs a host"},
    {"invalid-url-port.yaml",
     "{path}:4:15: targets[0].base_url: invalid port \"99999\" in base_url (expected 1 to "
     "65535)"},
    {"invalid-url-syntax.yaml",
     "{path}:4:15: targets[0].base_url: not a valid URL (expected e.g. http://127.0.0.1:8000)"},
    // Targets.
    {"invalid-api.yaml",
     "{path}:5:10: targets[0].api: unknown api \"openai-chta\" (did you mean \"openai-chat\"?)"},
    {"invalid-api-unknown.yaml",
     "{path}:5:10: targets[0].api: unknown api \"grpc\" (supported: openai-completions, "
     "openai-chat, tgi, triton, mindie, mindie-chat, ollama, ollama-generate)"},
    {"invalid-model-empty.yaml", "{path}:6:12: targets[0].model: must not be empty"},
    {"invalid-name-chars.yaml",
     "{path}:3:11: targets[0].name: invalid name \"my demo\": use 1 to 64 characters from A-Z "
     "a-z 0-9 _ . : -"},
    {"invalid-name-too-long.yaml",
     "{path}:3:11: targets[0].name: invalid name "
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\": use 1 to 64 "
     "characters from A-Z a-z 0-9 _ . : -"},
    {"invalid-duplicate-target.yaml",
     "{path}:7:11: targets[1].name: duplicate target name \"demo\" (first defined at line 3)"},
    {"invalid-duplicate-workload.yaml",
     "{path}:11:11: workloads[1].name: duplicate workload name \"probe\" (first defined at line "
     "8)"},
    {"invalid-workload-ref-unknown.yaml",
     "{path}:7:24: targets[0].workloads[1]: unknown workload \"prob\" (did you mean \"probe\"?)"},
    {"invalid-workload-ref-unknown-no-suggestion.yaml",
     "{path}:7:17: targets[0].workloads[0]: unknown workload \"burst\" (defined workloads: "
     "probe)"},
    {"invalid-workload-ref-duplicate.yaml",
     "{path}:9:9: targets[0].workloads[1]: workload \"probe\" is listed twice (first at line 8)"},
    {"invalid-workload-ref-empty.yaml",
     "{path}:7:16: targets[0].workloads: must not be empty (omit the key to run every "
     "workload)"},
    // Headers.
    {"invalid-header-authorization.yaml",
     "{path}:8:7: targets[0].headers.authorization: \"Authorization\" does not belong in "
     "headers: use api_key"},
    {"invalid-header-name.yaml",
     "{path}:8:7: targets[0].headers.X Foo: invalid header name \"X Foo\" (use letters, digits "
     "and !#$%&'*+-.^_`|~)"},
    {"invalid-header-value-crlf.yaml",
     "{path}:8:14: targets[0].headers.X-Foo: header value must not contain control characters "
     "such as CR or LF"},
    {"invalid-header-duplicate.yaml",
     "{path}:9:7: targets[0].headers.x-foo: header \"x-foo\" is set twice (header names ignore "
     "case)"},
    // API keys.
    {"invalid-api-key-inline.yaml",
     "{path}:7:14: targets[0].api_key: expected a mapping {file: PATH}, {env: NAME} or "
     "{credential: NAME}; the key itself does not belong in the configuration file"},
    {"invalid-api-key-both.yaml",
     "{path}:7:14: targets[0].api_key: exactly one of \"file\", \"env\" or \"credential\" is "
     "required"},
    {"invalid-api-key-neither.yaml",
     "{path}:7:14: targets[0].api_key: exactly one of \"file\", \"env\" or \"credential\" is "
     "required"},
    {"invalid-api-key-credential-path.yaml",
     "{path}:7:27: targets[0].api_key.credential: a credential name is a file name, not a path"},
    {"invalid-tls-on-http.yaml",
     "{path}:7:10: targets[0].tls: TLS settings need an https:// base_url"},
    {"invalid-tls-cert-without-key.yaml",
     "{path}:8:18: targets[0].tls.cert_file: cert_file and key_file go together (mutual TLS "
     "needs both)"},
    {"invalid-tls-version.yaml",
     "{path}:8:20: targets[0].tls.min_version: unsupported TLS version \"1.1\" (supported: "
     "\"1.2\", \"1.3\")"},
    {"invalid-tls-ca-missing.yaml",
     "{path}:8:16: targets[0].tls.ca_file: cannot read \"{dir}/no-such-ca.pem\": No such file or "
     "directory"},
    {"invalid-connection.yaml",
     "{path}:11:17: workloads[0].connection: unknown connection policy \"pooled\" (supported: "
     "fresh, keep_alive)"},
    {"invalid-api-key-unknown-key.yaml",
     "{path}:7:15: targets[0].api_key.envv: unknown key \"envv\" (did you mean \"env\"?)"},
    {"invalid-api-key-file-missing.yaml",
     "{path}:7:21: targets[0].api_key.file: cannot read \"{dir}/no-such-key.txt\": No such file "
     "or directory"},
    {"invalid-api-key-env-name.yaml",
     "{path}:7:20: targets[0].api_key.env: not a valid environment variable name (use A-Z, a-z, "
     "0-9 and _)"},
    // Workloads.
    {"invalid-kind.yaml",
     "{path}:9:11: workloads[0].kind: unknown kind \"burst\" (supported: probe)"},
    {"invalid-extra-body-reserved.yaml",
     "{path}:13:7: workloads[0].extra_body.stream: \"stream\" is set by llmprobe and cannot be "
     "overridden"},
    {"invalid-extra-body-stream-options.yaml",
     "{path}:12:7: workloads[0].extra_body.stream_options: \"stream_options\" is set by llmprobe "
     "and cannot be overridden"},
    {"invalid-extra-body-type.yaml",
     "{path}:11:17: workloads[0].extra_body: expected a mapping, got a sequence"},
    // Buckets.
    {"invalid-buckets-unsorted.yaml",
     "{path}:12:39: workloads[0].buckets.time_to_first_token[2]: bucket edges must be strictly "
     "increasing: 0.25 is not greater than the previous edge 0.5"},
    {"invalid-buckets-duplicate.yaml",
     "{path}:12:35: workloads[0].buckets.inter_token_latency[1]: bucket edges must be strictly "
     "increasing: 0.01 is not greater than the previous edge 0.01"},
    {"invalid-buckets-non-positive.yaml",
     "{path}:12:26: workloads[0].buckets.request_duration[0]: bucket edges must be positive, got "
     "0"},
    {"invalid-buckets-empty.yaml",
     "{path}:12:21: workloads[0].buckets.schedule_lag: must not be empty (omit the key for the "
     "default buckets)"},
    {"invalid-buckets-not-number.yaml",
     "{path}:12:37: workloads[0].buckets.time_per_output_token[1]: expected a number, got "
     "\"fast\""},
    {"invalid-buckets-inf.yaml",
     "{path}:12:29: workloads[0].buckets.request_duration[1]: bucket edges must be finite (the "
     "+Inf bucket is added automatically)"},
    {"invalid-buckets-unknown.yaml",
     "{path}:12:7: workloads[0].buckets.ttft: unknown key \"ttft\" (known keys: "
     "time_to_first_token, inter_token_latency, time_per_output_token, request_duration, "
     "schedule_lag)"},
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

class InvalidFixture : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidFixture, FailsWithExactMessage) {
  const std::string path = fixture(GetParam().fixture);
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const std::string expected =
      replace_all(replace_all(GetParam().message, "{path}", path), "{dir}", kTestdata);
  EXPECT_EQ(load_error(path), expected);
}

INSTANTIATE_TEST_SUITE_P(Config, InvalidFixture, testing::ValuesIn(kInvalidCases),
                         [](const testing::TestParamInfo<InvalidCase>& info) {
                           std::string name = info.param.fixture;
                           name = name.substr(0, name.size() - std::string(".yaml").size());
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// A fixture without a table entry would be dead weight; an entry without a fixture fails above.
TEST(ConfigFixtures, EveryInvalidFixtureIsInTheTable) {
  std::set<std::string> listed;
  for (const InvalidCase& c : kInvalidCases) {
    listed.insert(c.fixture);
  }
  for (const auto& entry : std::filesystem::directory_iterator(kTestdata)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("invalid-", 0) == 0) {
      EXPECT_EQ(listed.count(name), 1u) << name;
    }
  }
}

TEST(ConfigError, FormatsLocationAndKey) {
  EXPECT_STREQ(ConfigError("a.yaml", 3, 7, "targets[0].model", "bad").what(),
               "a.yaml:3:7: targets[0].model: bad");
  EXPECT_STREQ(ConfigError("a.yaml", 0, 0, "", "cannot read").what(), "a.yaml: cannot read");
  EXPECT_STREQ(ConfigError("a.yaml", 0, 0, "global", "bad").what(), "a.yaml: global: bad");
  const ConfigError e("a.yaml", 3, 7, "k", "p");
  EXPECT_EQ(e.file(), "a.yaml");
  EXPECT_EQ(e.line(), 3);
  EXPECT_EQ(e.column(), 7);
  EXPECT_EQ(e.key(), "k");
  EXPECT_EQ(e.problem(), "p");
}

TEST(LoadConfigFile, UnreadableFileHasNoLocation) {
  const std::string path = fixture("no-such-config.yaml");
  EXPECT_EQ(load_error(path),
            path + ": cannot read the configuration file: No such file or directory");
  EXPECT_EQ(load_error(kTestdata),
            kTestdata + ": cannot read the configuration file: is a directory");
}

// ---------------------------------------------------------------------------------------------
// Valid fixtures.

TEST(ValidConfig, MinimalTakesEveryDefault) {
  const Config config = load_config_file(fixture("valid-minimal.yaml"));
  EXPECT_EQ(config.source, fixture("valid-minimal.yaml"));
  EXPECT_EQ(config.global.shutdown_grace, seconds(10));
  ASSERT_EQ(config.targets.size(), 1u);
  const Target& target = config.targets[0];
  EXPECT_EQ(target.name, "demo");
  EXPECT_EQ(target.base_url, "http://127.0.0.1:8000");
  EXPECT_FALSE(target.endpoint.tls);
  EXPECT_EQ(target.endpoint.host, "127.0.0.1");
  EXPECT_EQ(target.endpoint.port, 8000);
  EXPECT_EQ(target.endpoint.base_path, "");
  EXPECT_EQ(target.api, ApiFlavor::openai_completions);
  EXPECT_EQ(target.model, "m");
  EXPECT_TRUE(target.headers.empty());
  EXPECT_EQ(target.api_key_source.kind, SecretSource::Kind::none);
  EXPECT_TRUE(target.api_key.empty());
  EXPECT_EQ(target.timeouts.connect, seconds(5));
  EXPECT_EQ(target.timeouts.first_token, seconds(30));
  EXPECT_EQ(target.timeouts.idle, seconds(30));
  EXPECT_EQ(target.timeouts.total, seconds(120));
  EXPECT_EQ(target.max_response_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(target.workloads, std::vector<std::string>{"probe"});

  ASSERT_EQ(config.workloads.size(), 1u);
  const Workload& workload = config.workloads[0];
  EXPECT_EQ(workload.name, "probe");
  EXPECT_EQ(workload.kind, WorkloadKind::probe);
  EXPECT_EQ(workload.interval, seconds(15));
  EXPECT_EQ(workload.jitter, Duration::zero());
  EXPECT_EQ(workload.prompt_tokens, 32);
  EXPECT_TRUE(workload.cache_busting_prefix);
  EXPECT_EQ(workload.max_tokens, 16);
  EXPECT_FALSE(workload.ignore_eos);
  EXPECT_TRUE(workload.extra_body.empty());
  EXPECT_TRUE(workload.buckets.time_to_first_token.empty());
  EXPECT_TRUE(workload.buckets.inter_token_latency.empty());
  EXPECT_TRUE(workload.buckets.time_per_output_token.empty());
  EXPECT_TRUE(workload.buckets.request_duration.empty());
  EXPECT_TRUE(workload.buckets.schedule_lag.empty());

  EXPECT_EQ(config.find_workload("probe"), &config.workloads[0]);
  EXPECT_EQ(config.find_workload("nope"), nullptr);
}

TEST(ValidConfig, FullSetsEveryKey) {
  const ScopedEnv env("LLMPROBE_TEST_API_KEY", "sk-full-test-key");
  const Config config = load_config_file(fixture("valid-full.yaml"));
  EXPECT_EQ(config.global.shutdown_grace, seconds(90));
  ASSERT_EQ(config.targets.size(), 2u);
  const Target& target = config.targets[0];
  EXPECT_EQ(target.name, "gpu-0.node_1:a");
  EXPECT_EQ(target.base_url, "https://[::1]:9443/serving/v1/");
  EXPECT_TRUE(target.endpoint.tls);
  EXPECT_EQ(target.endpoint.host, "::1");
  EXPECT_EQ(target.endpoint.port, 9443);
  EXPECT_EQ(target.endpoint.base_path, "/serving/v1");
  EXPECT_EQ(target.api, ApiFlavor::openai_chat);
  EXPECT_EQ(target.model, "Qwen/Qwen2.5-0.5B-Instruct");
  const std::vector<std::pair<std::string, std::string>> headers = {{"X-Probe", "llmprobe"},
                                                                    {"x-tenant", "42"}};
  EXPECT_EQ(target.headers, headers);
  EXPECT_EQ(target.api_key_source.kind, SecretSource::Kind::env);
  EXPECT_EQ(target.api_key_source.reference, "LLMPROBE_TEST_API_KEY");
  EXPECT_EQ(target.api_key.reveal(), "sk-full-test-key");
  EXPECT_EQ(target.timeouts.connect, milliseconds(250));
  EXPECT_EQ(target.timeouts.first_token, seconds(10));
  EXPECT_EQ(target.timeouts.idle, seconds(2));
  EXPECT_EQ(target.timeouts.total, minutes(1));
  EXPECT_EQ(target.max_response_bytes, 1048576u);
  // In the order written, not the order the workloads are defined in.
  EXPECT_EQ(target.workloads, (std::vector<std::string>{"long", "probe"}));

  const Target& second = config.targets[1];
  EXPECT_EQ(second.endpoint.port, 80);
  EXPECT_EQ(second.endpoint.host, "example.com");
  EXPECT_EQ(second.workloads, (std::vector<std::string>{"probe", "long"}));

  ASSERT_EQ(config.workloads.size(), 2u);
  const Workload& workload = config.workloads[0];
  EXPECT_EQ(workload.interval, seconds(5));
  EXPECT_EQ(workload.jitter, seconds(1));
  EXPECT_EQ(workload.prompt_tokens, 100);
  EXPECT_FALSE(workload.cache_busting_prefix);
  EXPECT_EQ(workload.max_tokens, 64);
  EXPECT_TRUE(workload.ignore_eos);
  EXPECT_EQ(boost::json::serialize(workload.extra_body),
            R"({"temperature":0,"top_p":9.5E-1,"seed":-7,"skip_special_tokens":false,)"
            R"("stop":["\n\n","END"],"label":"123","nothing":null,)"
            R"("big":1.8446744073709552E19,"nested":{"a":[1,2.5E0,"x"],"b":{"c":true}}})");
  EXPECT_TRUE(workload.extra_body.at("temperature").is_int64());
  EXPECT_TRUE(workload.extra_body.at("top_p").is_double());
  EXPECT_TRUE(workload.extra_body.at("label").is_string());
  EXPECT_EQ(workload.buckets.time_to_first_token, (std::vector<double>{0.05, 0.1, 1}));
  EXPECT_EQ(workload.buckets.inter_token_latency, (std::vector<double>{0.001, 0.01}));
  EXPECT_EQ(workload.buckets.time_per_output_token, (std::vector<double>{0.005, 0.05}));
  EXPECT_EQ(workload.buckets.request_duration, (std::vector<double>{1, 10, 100}));
  EXPECT_EQ(workload.buckets.schedule_lag, (std::vector<double>{0.001, 0.01}));
  EXPECT_EQ(config.workloads[1].interval, hours(2));
}

TEST(ValidConfig, EmptyOptionalSectionsMeanDefaults) {
  const Config config = load_config_file(fixture("valid-empty-sections.yaml"));
  EXPECT_EQ(config.global.shutdown_grace, seconds(10));
  const Target& target = config.targets[0];
  EXPECT_EQ(target.endpoint.host, "localhost");
  EXPECT_EQ(target.endpoint.base_path, "");  // "/" alone is no prefix
  EXPECT_TRUE(target.headers.empty());
  EXPECT_EQ(target.timeouts.total, seconds(120));
  EXPECT_TRUE(config.workloads[0].extra_body.empty());
  EXPECT_TRUE(config.workloads[0].buckets.request_duration.empty());
}

// Every valid-*.yaml fixture parses (with the variables the full fixture needs).
TEST(ValidConfig, EveryValidFixtureParses) {
  const ScopedEnv env("LLMPROBE_TEST_API_KEY", "sk-any");
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kTestdata)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("valid-", 0) != 0)
      continue;
    ++count;
    EXPECT_EQ(load_error(entry.path().string()), "") << name;
  }
  EXPECT_GE(count, 3);
}

// ---------------------------------------------------------------------------------------------
// Durations.

struct DurationCase {
  const char* text;
  std::optional<Duration> expected;
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"0s", Duration::zero()},
      {"15s", seconds(15)},
      {"500ms", milliseconds(500)},
      {"1m30s", seconds(90)},
      {"2h", hours(2)},
      {"250us", microseconds(250)},
      {"250\xC2\xB5s", microseconds(250)},  // U+00B5 MICRO SIGN
      {"250\xCE\xBCs", microseconds(250)},  // U+03BC GREEK SMALL LETTER MU
      {"7ns", nanoseconds(7)},
      {"1h2m3s4ms5us6ns",
       hours(1) + minutes(2) + seconds(3) + milliseconds(4) + microseconds(5) + nanoseconds(6)},
      {"90m", minutes(90)},
      {"0010s", seconds(10)},
      {"2562047h", hours(2562047)},  // the largest whole hour that fits in int64 nanoseconds
      {"2562047h47m16s854775807ns", Duration(9223372036854775807)},  // exactly the maximum
      {"9223372036854775807ns", Duration(9223372036854775807)},
      {"", std::nullopt},
      {"15", std::nullopt},
      {"0", std::nullopt},
      {"-1s", std::nullopt},
      {"+1s", std::nullopt},
      {"1.5s", std::nullopt},
      {"1d", std::nullopt},
      {"1w", std::nullopt},
      {"s", std::nullopt},
      {"1S", std::nullopt},
      {"1 s", std::nullopt},
      {" 1s", std::nullopt},
      {"1s ", std::nullopt},
      {"1s1s", std::nullopt},
      {"30s1m", std::nullopt},
      {"1ms1s", std::nullopt},
      {"1us1\xC2\xB5s", std::nullopt},  // the same unit twice, spelled differently
      {"2562048h", std::nullopt},
      {"9223372036854775808ns", std::nullopt},
      {"99999999999999999999s", std::nullopt},
      {"2562047h47m16s854775808ns", std::nullopt},
  };
  for (const DurationCase& c : cases) {
    EXPECT_EQ(parse_duration(c.text), c.expected) << '"' << c.text << '"';
  }
}

// ---------------------------------------------------------------------------------------------
// API keys: resolved at load, never echoed.

std::string config_with_api_key(const std::string& api_key_yaml) {
  return "targets:\n"
         "  - name: demo\n"
         "    base_url: http://127.0.0.1:8000\n"
         "    api: openai-chat\n"
         "    model: m\n"
         "    api_key: " +
         api_key_yaml +
         "\n"
         "workloads:\n"
         "  - name: probe\n"
         "    kind: probe\n"
         "    interval: 15s\n";
}

TEST(ApiKey, FromEnvironment) {
  const ScopedEnv env("LLMPROBE_TEST_KEY_ENV", "sk-from-env");
  const Config config = parse_config(config_with_api_key("{env: LLMPROBE_TEST_KEY_ENV}"), "t");
  EXPECT_EQ(config.targets[0].api_key.reveal(), "sk-from-env");
  EXPECT_EQ(config.targets[0].api_key_source.kind, SecretSource::Kind::env);
  EXPECT_EQ(config.targets[0].api_key_source.reference, "LLMPROBE_TEST_KEY_ENV");
}

TEST(ApiKey, FromFileTrimsTrailingWhitespace) {
  const TempFile key("sk-from-file \r\n\n");
  const Config config = parse_config(config_with_api_key("{file: " + key.path() + "}"), "t");
  EXPECT_EQ(config.targets[0].api_key.reveal(), "sk-from-file");
  EXPECT_EQ(config.targets[0].api_key_source.kind, SecretSource::Kind::file);
  EXPECT_EQ(config.targets[0].api_key_source.reference, key.path());
}

TEST(ApiKey, RelativeFileIsRelativeToTheConfigFile) {
  const TempFile key("sk-relative\n");
  const std::filesystem::path key_path(key.path());
  const std::string source = (key_path.parent_path() / "llmprobe.yaml").string();
  const Config config =
      parse_config(config_with_api_key("{file: " + key_path.filename().string() + "}"), source);
  EXPECT_EQ(config.targets[0].api_key.reveal(), "sk-relative");
}

TEST(ApiKey, FromSystemdCredential) {
  const TempFile key("sk-credential-key\n");
  const std::filesystem::path path(key.path());
  const ScopedEnv env("CREDENTIALS_DIRECTORY", path.parent_path().string().c_str());
  const Config config =
      parse_config(config_with_api_key("{credential: " + path.filename().string() + "}"), "t");
  EXPECT_EQ(config.targets[0].api_key.reveal(), "sk-credential-key");
  EXPECT_EQ(config.targets[0].api_key_source.kind, SecretSource::Kind::credential);
  EXPECT_EQ(config.targets[0].api_key_source.reference, path.filename().string());
}

TEST(ApiKey, CredentialOutsideSystemdSaysWhy) {
  const ScopedEnv env("CREDENTIALS_DIRECTORY", nullptr);
  EXPECT_EQ(parse_error(config_with_api_key("{credential: vllm-key}")),
            "test.yaml:6:27: targets[0].api_key.credential: credential \"vllm-key\": "
            "$CREDENTIALS_DIRECTORY is not set (run under systemd with "
            "LoadCredential=vllm-key:PATH)");
}

TEST(Tls, DecodesEverySettingWithPathsRelativeToTheConfig) {
  const TempFile ca("ca");
  const std::filesystem::path ca_path(ca.path());
  const std::string yaml =
      "targets:\n  - name: mindie\n    base_url: https://10.0.0.5:1025\n    api: mindie-chat\n"
      "    model: m\n    tls:\n      ca_file: " +
      ca_path.filename().string() + "\n      cert_file: " + ca.path() +
      "\n      key_file: " + ca.path() +
      "\n      server_name: mindie.local\n      min_version: \"1.3\"\n"
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 15s\n"
      "    connection: keep_alive\n";
  const Config config = parse_config(yaml, (ca_path.parent_path() / "llmprobe.yaml").string());
  const TlsSettings& tls = config.targets[0].tls;
  EXPECT_EQ(tls.ca_file, ca.path());
  EXPECT_EQ(tls.cert_file, ca.path());
  EXPECT_EQ(tls.key_file, ca.path());
  EXPECT_EQ(tls.server_name, "mindie.local");
  EXPECT_EQ(tls.min_version, 13);
  EXPECT_FALSE(tls.insecure_skip_verify);
  EXPECT_EQ(config.workloads[0].connection, ConnectionPolicy::keep_alive);
  EXPECT_EQ(config.targets[0].api, ApiFlavor::mindie_chat);
}

TEST(ApiKey, UnsetVariable) {
  const ScopedEnv env("LLMPROBE_TEST_KEY_UNSET", nullptr);
  EXPECT_EQ(parse_error(config_with_api_key("{env: LLMPROBE_TEST_KEY_UNSET}")),
            "test.yaml:6:20: targets[0].api_key.env: environment variable "
            "\"LLMPROBE_TEST_KEY_UNSET\" is not set");
}

TEST(ApiKey, EmptyVariable) {
  const ScopedEnv env("LLMPROBE_TEST_KEY_EMPTY", "");
  EXPECT_EQ(parse_error(config_with_api_key("{env: LLMPROBE_TEST_KEY_EMPTY}")),
            "test.yaml:6:20: targets[0].api_key.env: environment variable "
            "\"LLMPROBE_TEST_KEY_EMPTY\" is empty");
}

TEST(ApiKey, EmptyFile) {
  const TempFile key(" \n\n");
  EXPECT_EQ(parse_error(config_with_api_key("{file: " + key.path() + "}")),
            "test.yaml:6:21: targets[0].api_key.file: file \"" + key.path() + "\" is empty");
}

// A key with a line break inside would split the Authorization header.
TEST(ApiKey, ControlCharactersAreRejectedWithoutEchoingTheKey) {
  const std::string secret = "sk-line-one\nsk-line-two";
  const ScopedEnv env("LLMPROBE_TEST_KEY_CTRL", secret.c_str());
  const std::string message = parse_error(config_with_api_key("{env: LLMPROBE_TEST_KEY_CTRL}"));
  EXPECT_EQ(message,
            "test.yaml:6:20: targets[0].api_key.env: the key from environment variable "
            "\"LLMPROBE_TEST_KEY_CTRL\" contains control characters");
  EXPECT_EQ(message.find("sk-line"), std::string::npos);

  const TempFile key(secret + "\n");
  const std::string file_message = parse_error(config_with_api_key("{file: " + key.path() + "}"));
  EXPECT_EQ(file_message, "test.yaml:6:21: targets[0].api_key.file: the key from file \"" +
                              key.path() + "\" contains control characters");
  EXPECT_EQ(file_message.find("sk-line"), std::string::npos);
}

// Whatever goes wrong around a key, the message never contains it.
TEST(ApiKey, MessagesNeverContainTheSecret) {
  const std::string secret = "sk-hunter2";
  const std::vector<std::string> bad_sources = {
      secret,                                                 // inline
      "[" + secret + "]",                                     // inline, as a sequence
      "{env: " + secret + "}",                                // key pasted as the name
      "{file: /nonexistent, env: X}",                         // both
      "{env: LLMPROBE_TEST_KEY_SECRET, file: /nonexistent}",  // both, variable set
      "{file: /nonexistent/key}",                             // unreadable
  };
  const ScopedEnv env("LLMPROBE_TEST_KEY_SECRET", secret.c_str());
  for (const std::string& source : bad_sources) {
    const std::string message = parse_error(config_with_api_key(source));
    EXPECT_NE(message, "") << source;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
  // Other places a key might be pasted: userinfo, query, Authorization header.
  for (const char* fixture_name :
       {"invalid-url-credentials.yaml", "invalid-url-query.yaml", "invalid-api-key-inline.yaml",
        "invalid-api-key-env-name.yaml", "invalid-header-authorization.yaml"}) {
    const std::string message = load_error(fixture(fixture_name));
    EXPECT_NE(message, "") << fixture_name;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
}

// ---------------------------------------------------------------------------------------------
// Odds and ends the fixtures do not cover.

TEST(ParseConfig, SourceNameAppearsInMessages) {
  EXPECT_EQ(parse_error("", "<embedded demo config>"),
            "<embedded demo config>: the configuration is empty (expected a mapping with "
            "\"targets\" and \"workloads\")");
}

TEST(ParseConfig, QuotedScalarsInExtraBodyStayStrings) {
  const Config config = parse_config(
      "targets: [{name: t, base_url: 'http://h', api: openai-chat, model: m}]\n"
      "workloads: [{name: w, kind: probe, interval: 1s,\n"
      "  extra_body: {a: 'true', b: \"1\", c: !!str 2.5, d: True, e: 1e3, f: .nan, g: 0x10}}]\n",
      "t");
  EXPECT_EQ(boost::json::serialize(config.workloads[0].extra_body),
            R"({"a":"true","b":"1","c":"2.5","d":"True","e":1E3,"f":".nan","g":"0x10"})");
}

TEST(ParseConfig, BooleansAcceptTheYaml12Spellings) {
  for (const char* spelling : {"true", "True", "TRUE"}) {
    const Config config = parse_config(
        std::string("targets: [{name: t, base_url: 'http://h', api: openai-chat, model: m}]\n"
                    "workloads: [{name: w, kind: probe, interval: 1s, ignore_eos: ") +
            spelling + "}]\n",
        "t");
    EXPECT_TRUE(config.workloads[0].ignore_eos) << spelling;
  }
}

TEST(ParseConfig, UrlEdgeCases) {
  struct UrlCase {
    const char* url;
    bool tls;
    const char* host;
    int port;
    const char* base_path;
  };
  const UrlCase cases[] = {
      {"HTTPS://Example.com", true, "Example.com", 443, ""},
      {"http://h:1", false, "h", 1, ""},
      {"http://h/v1//", false, "h", 80, "/v1"},
      {"http://h/a%20b/", false, "h", 80, "/a%20b"},
      {"http://[fe80::1]/", false, "fe80::1", 80, ""},
  };
  for (const UrlCase& c : cases) {
    const Config config =
        parse_config(std::string("targets: [{name: t, api: openai-chat, model: m, base_url: '") +
                         c.url + "'}]\nworkloads: [{name: w, kind: probe, interval: 1s}]\n",
                     "t");
    const Endpoint& endpoint = config.targets[0].endpoint;
    EXPECT_EQ(endpoint.tls, c.tls) << c.url;
    EXPECT_EQ(endpoint.host, c.host) << c.url;
    EXPECT_EQ(endpoint.port, c.port) << c.url;
    EXPECT_EQ(endpoint.base_path, c.base_path) << c.url;
  }
  EXPECT_EQ(parse_error("targets: [{name: t, api: openai-chat, model: m, base_url: 'http://h:0'}]\n"
                        "workloads: [{name: w, kind: probe, interval: 1s}]\n"),
            "test.yaml:1:59: targets[0].base_url: invalid port \"0\" in base_url (expected 1 to "
            "65535)");
}

TEST(ParseConfig, JitterZeroAndJustBelowTheInterval) {
  const Config config = parse_config(
      "targets: [{name: t, base_url: 'http://h', api: openai-chat, model: m}]\n"
      "workloads: [{name: a, kind: probe, interval: 1s, jitter: 0s},\n"
      "            {name: b, kind: probe, interval: 1s, jitter: 999ms}]\n",
      "t");
  EXPECT_EQ(config.workloads[0].jitter, Duration::zero());
  EXPECT_EQ(config.workloads[1].jitter, milliseconds(999));
}

// ---------------------------------------------------------------------------------------------
// The configurations users meet first.

TEST(SampleConfig, Parses) {
  const std::string path = std::string(LLMPROBE_SOURCE_DIR) + "/config/llmprobe.yaml";
  Config config;
  ASSERT_NO_THROW(config = load_config_file(path)) << load_error(path);
  ASSERT_EQ(config.targets.size(), 1u);
  EXPECT_EQ(config.targets[0].endpoint.host, "127.0.0.1");
  EXPECT_EQ(config.targets[0].endpoint.port, 8000);
  // It must check cleanly on a fresh machine: no key from the environment.
  EXPECT_EQ(config.targets[0].api_key_source.kind, SecretSource::Kind::none);
  ASSERT_EQ(config.workloads.size(), 1u);
  EXPECT_EQ(config.workloads[0].interval, seconds(15));
}

TEST(EmbeddedDemoConfig, Parses) {
  const Config config = parse_config(embedded_demo_config(), "<embedded demo config>");
  EXPECT_EQ(config.source, "<embedded demo config>");
  ASSERT_EQ(config.targets.size(), 1u);
  const Target& target = config.targets[0];
  EXPECT_EQ(target.name, "demo");
  EXPECT_EQ(target.base_url, "http://127.0.0.1:8000");
  EXPECT_EQ(target.endpoint.host, "127.0.0.1");
  EXPECT_EQ(target.endpoint.port, 8000);
  EXPECT_EQ(target.api, ApiFlavor::openai_chat);
  EXPECT_EQ(target.model, "llmprobe-sim");
  EXPECT_EQ(target.workloads, std::vector<std::string>{"probe"});
  ASSERT_EQ(config.workloads.size(), 1u);
  const Workload& workload = config.workloads[0];
  EXPECT_EQ(workload.name, "probe");
  EXPECT_EQ(workload.interval, seconds(5));
  EXPECT_EQ(workload.jitter, seconds(1));
  EXPECT_EQ(workload.prompt_tokens, 32);
  EXPECT_EQ(workload.max_tokens, 32);
  EXPECT_TRUE(workload.ignore_eos);
}

}  // namespace
}  // namespace llmprobe
