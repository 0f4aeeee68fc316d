// The llmprobe command line: exporter-style flags (--config.file, --config.check,
// --web.listen-address, --log.level), parsed with Boost.Program_options. main.cpp only calls
// run_cli, so the whole command line is testable.
#pragma once

namespace llmprobe {

// Returns the process exit code: 0 ok, 1 bad configuration, 2 bad usage.
int run_cli(int argc, const char* const* argv);

}  // namespace llmprobe
