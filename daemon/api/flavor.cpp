// The table of API flavors: the one place that names every flavor.
#include "llmprobe/api/flavor.hpp"

#include "api/openai.hpp"

namespace llmprobe {

std::string_view to_string(ApiFlavor flavor) {
  switch (flavor) {
    case ApiFlavor::openai_completions:
      return "openai-completions";
    case ApiFlavor::openai_chat:
      return "openai-chat";
  }
  return "unknown";
}

std::optional<ApiFlavor> parse_api_flavor(std::string_view text) {
  for (ApiFlavor flavor : {ApiFlavor::openai_completions, ApiFlavor::openai_chat}) {
    if (text == to_string(flavor))
      return flavor;
  }
  return std::nullopt;
}

const ApiAdapter& adapter_for(ApiFlavor flavor) {
  switch (flavor) {
    case ApiFlavor::openai_completions:
      return openai_completions_adapter();
    case ApiFlavor::openai_chat:
      return openai_chat_adapter();
  }
  return openai_completions_adapter();
}

}  // namespace llmprobe
