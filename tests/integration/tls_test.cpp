// TLS through the daemon against the simulator serving HTTPS, with certificates made by the
// openssl CLI in the test: mutual TLS with the right client certificate succeeds; without it,
// with the wrong CA or the wrong name the request ends with reason `tls` and the detail (what
// the log prints) names the cause, while the daemon goes on probing its other targets.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "harness.hpp"
#include "simulator.hpp"

namespace llmprobe {
namespace {

using namespace std::chrono_literals;
using testing::DaemonHarness;
using testing::kSlowdown;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("openssl version > /dev/null 2>&1") != 0)
      return;
    std::string pattern = (std::filesystem::temp_directory_path() / "llmprobe-tls-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr)
      return;
    dir_ = pattern;
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto make_ca = [&](const std::string& name) {
      return "openssl req -x509" + key + " -keyout " + name + ".key -out " + name +
             ".pem -days 2 -subj '/CN=" + name +
             "' -addext basicConstraints=critical,CA:TRUE"
             " -addext keyUsage=critical,keyCertSign,cRLSign";
    };
    auto make_cert = [&](const std::string& name, const std::string& ca, const std::string& ext) {
      return "openssl req" + key + " -keyout " + name + ".key -out " + name +
             ".csr -subj '/CN=" + name + "' && printf '" + ext + "' > " + name +
             ".ext && openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
             ".key -CAcreateserial -out " + name + ".pem -days 2 -extfile " + name + ".ext";
    };
    const std::string commands =
        "cd '" + dir_ + "' && (" + make_ca("ca") + " && " + make_ca("other-ca") + " && " +
        make_cert("server", "ca",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n") +
        " && " + make_cert("client", "ca", "extendedKeyUsage=clientAuth\\n") + " && " +
        make_cert("stranger", "other-ca", "extendedKeyUsage=clientAuth\\n") +
        ") > openssl.log 2>&1";
    ready_ = std::system(commands.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    if (!dir_.empty())
      std::filesystem::remove_all(dir_, ignored);
  }
  void SetUp() override {
    if (!ready_)
      GTEST_SKIP() << "could not make test certificates with the openssl CLI";
  }
  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  static sim::Options https_options(bool require_client_cert) {
    sim::Options options;
    options.ttft = {sim::DelaySpec::Kind::fixed, 20ms, {}};
    options.itl = {sim::DelaySpec::Kind::fixed, 5ms, {}};
    options.tls_cert_file = file("server.pem");
    options.tls_key_file = file("server.key");
    if (require_client_cert)
      options.tls_client_ca_file = file("ca.pem");
    return options;
  }

  static std::string target(const std::string& name, const std::string& host, std::uint16_t port,
                            const std::string& tls) {
    return "  - name: " + name + "\n    base_url: https://" + host + ":" + std::to_string(port) +
           "\n    api: openai-chat\n    model: m\n    tls: {" + tls + "}\n";
  }

  static inline std::string dir_;
  static inline bool ready_ = false;
};

TEST_F(TlsTest, MutualTlsSucceedsOnlyWithTheRightCertificate) {
  sim::Simulator mtls(https_options(true));
  mtls.start();
  sim::Simulator plain(sim::Options{});
  plain.start();
  const std::string ca = "ca_file: " + file("ca.pem");
  const std::string client =
      ca + ", cert_file: " + file("client.pem") + ", key_file: " + file("client.key");
  const std::string yaml =
      "targets:\n" + target("good", "localhost", mtls.port(), client) +
      target("by-ip-with-name", "127.0.0.1", mtls.port(), client + ", server_name: localhost") +
      target("no-client-cert", "localhost", mtls.port(), ca) +
      target("stranger-cert", "localhost", mtls.port(),
             ca + ", cert_file: " + file("stranger.pem") + ", key_file: " + file("stranger.key")) +
      target("wrong-ca", "localhost", mtls.port(),
             "ca_file: " + file("other-ca.pem") + ", cert_file: " + file("client.pem") +
                 ", key_file: " + file("client.key")) +
      target("wrong-name", "127.0.0.1", mtls.port(), client + ", server_name: elsewhere.test") +
      target("tls13", "localhost", mtls.port(), client + ", min_version: \"1.3\"") +
      "  - name: plain\n    base_url: http://127.0.0.1:" + std::to_string(plain.port()) +
      "\n    api: openai-chat\n    model: m\n"
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 300ms\n    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  harness.wait_for(
      [](const auto& results) {
        for (const char* name : {"good", "by-ip-with-name", "no-client-cert", "stranger-cert",
                                 "wrong-ca", "wrong-name", "tls13"}) {
          if (testing::count_for(results, name) < 1)
            return false;
        }
        return testing::count_for(results, "plain") >= 3;
      },
      20s * kSlowdown, "a result from every target");
  const std::string metrics = testing::http_get(harness.port(), "/metrics").body;
  harness.stop();

  for (const char* name : {"good", "by-ip-with-name", "tls13", "plain"}) {
    for (const auto& result : harness.results_for(name))
      EXPECT_TRUE(result.measurement.success()) << name << ": " << result.record.error_detail;
  }
  // Every fresh HTTPS request went through each phase once, TLS included.
  const std::string labels = "model=\"m\",phase=\"tls\",target=\"good\",workload=\"probe\"";
  EXPECT_EQ(testing::metric_value(metrics, "llmprobe_request_phase_seconds_count{" + labels + "}"),
            testing::metric_value(metrics,
                                  "llmprobe_requests_total{model=\"m\",outcome=\"success\","
                                  "target=\"good\",workload=\"probe\"}"));

  struct Expected {
    const char* target;
    const char* detail;  // part of the detail the log prints
  };
  for (const Expected& expected :
       {Expected{"no-client-cert", "certificate"}, Expected{"stranger-cert", "certificate"},
        Expected{"wrong-ca", "certificate verification"},
        Expected{"wrong-name", "does not name \"elsewhere.test\""}}) {
    const auto results = harness.results_for(expected.target);
    ASSERT_FALSE(results.empty()) << expected.target;
    for (const auto& result : results) {
      ASSERT_TRUE(result.measurement.error.has_value()) << expected.target << " succeeded";
      EXPECT_EQ(to_string(*result.measurement.error), "tls")
          << expected.target << ": " << result.record.error_detail;
      EXPECT_NE(result.record.error_detail.find(expected.detail), std::string::npos)
          << expected.target << ": " << result.record.error_detail;
    }
  }
  EXPECT_GE(mtls.tls_handshake_failures(), 2u);  // the server saw the bad client certificates
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsAnUntrustedServer) {
  sim::Simulator server(https_options(false));
  server.start();
  const std::string yaml =
      "targets:\n" + target("trusting", "127.0.0.1", server.port(), "insecure_skip_verify: true") +
      target("system-cas", "localhost", server.port(), "") +
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 300ms\n    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  harness.wait_for(
      [](const auto& r) {
        return testing::count_for(r, "trusting") >= 1 && testing::count_for(r, "system-cas") >= 1;
      },
      10s * kSlowdown, "both targets");
  harness.stop();
  EXPECT_TRUE(harness.results_for("trusting").front().measurement.success())
      << harness.results_for("trusting").front().record.error_detail;
  // The test CA is not among the system's: verification must fail.
  const auto refused = harness.results_for("system-cas").front();
  ASSERT_TRUE(refused.measurement.error.has_value());
  EXPECT_EQ(to_string(*refused.measurement.error), "tls") << refused.record.error_detail;
}

TEST(Ipv6, ProbesAnIpv6Target) {
  sim::Options options;
  options.host = "::1";
  sim::Simulator simulator(options);
  try {
    simulator.start();
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  const std::string yaml =
      "targets:\n  - name: v6\n    base_url: http://[::1]:" + std::to_string(simulator.port()) +
      "\n    api: openai-completions\n    model: m\n"
      "workloads:\n  - name: probe\n    kind: probe\n    interval: 1s\n"
      "    max_tokens: 4\n";
  DaemonHarness harness(yaml);
  harness.wait_for([](const auto& r) { return !r.empty(); }, 10s * kSlowdown, "one probe");
  harness.stop();
  const auto result = harness.results().front();
  EXPECT_TRUE(result.measurement.success()) << result.record.error_detail;
  EXPECT_TRUE(simulator.truth_for(result.request_id).has_value());
}

}  // namespace
}  // namespace llmprobe
