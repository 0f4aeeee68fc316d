// llmprobe: probes LLM inference servers with real streaming requests and exports what users
// feel (TTFT, ITL, TPOT, E2E, errors) as Prometheus metrics. All logic lives in llmprobe_core.
#include "llmprobe/cli.hpp"

int main(int argc, char** argv) {
  return llmprobe::run_cli(argc, argv);
}
