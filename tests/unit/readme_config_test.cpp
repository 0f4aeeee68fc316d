// Every YAML block the README shows under "## Servers" is a real target definition: it parses
// with llmprobe's strict decoder. Files and keys the user must provide (certificates, API key
// variables) are the only errors allowed, so a renamed key or a wrong flavor fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llmprobe/config.hpp"

namespace llmprobe {
namespace {

std::vector<std::string> server_blocks() {
  std::ifstream in(std::string(LLMPROBE_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const auto start = readme.find("\n## Servers\n");
  const auto end = readme.find("\n## ", start + 1);
  std::vector<std::string> blocks;
  if (start == std::string::npos)
    return blocks;
  std::size_t at = start;
  while ((at = readme.find("```yaml\n", at)) != std::string::npos && at < end) {
    const auto body = at + 8;
    const auto close = readme.find("```", body);
    blocks.push_back(readme.substr(body, close - body));
    at = close + 3;
  }
  return blocks;
}

std::string indent(const std::string& block) {
  std::string out;
  std::istringstream lines(block);
  for (std::string line; std::getline(lines, line);)
    out += "  " + line + "\n";
  return out;
}

TEST(ReadmeConfig, EveryServerBlockParses) {
  const std::vector<std::string> blocks = server_blocks();
  ASSERT_GE(blocks.size(), 7u) << "the README's Servers section lost its config blocks";
  for (const std::string& block : blocks) {
    const std::string yaml = "targets:\n" + indent(block) +
                             "workloads:\n  - name: probe\n    kind: probe\n    interval: 15s\n";
    try {
      parse_config(yaml, "README.md");
    } catch (const ConfigError& e) {
      const std::string problem = e.problem();
      const bool user_supplied = problem.find("cannot read") != std::string::npos ||
                                 problem.find("environment variable") != std::string::npos;
      EXPECT_TRUE(user_supplied) << e.what() << "\nin:\n" << block;
    }
  }
}

}  // namespace
}  // namespace llmprobe
