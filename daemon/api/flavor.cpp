// The table of API flavors: the one place that names every flavor.
#include "llmprobe/api/flavor.hpp"

#include <array>
#include <utility>

#include "api/adapters.hpp"

namespace llmprobe {

namespace {

struct FlavorEntry {
  ApiFlavor flavor;
  std::string_view name;  // the config spelling
  const ApiAdapter& (*adapter)();
};

constexpr std::array<FlavorEntry, 8> kFlavors = {{
    {ApiFlavor::openai_completions, "openai-completions", openai_completions_adapter},
    {ApiFlavor::openai_chat, "openai-chat", openai_chat_adapter},
    {ApiFlavor::tgi, "tgi", tgi_adapter},
    {ApiFlavor::triton, "triton", triton_adapter},
    {ApiFlavor::mindie, "mindie", mindie_adapter},
    {ApiFlavor::mindie_chat, "mindie-chat", mindie_chat_adapter},
    {ApiFlavor::ollama, "ollama", ollama_chat_adapter},
    {ApiFlavor::ollama_generate, "ollama-generate", ollama_generate_adapter},
}};

const FlavorEntry& entry(ApiFlavor flavor) {
  for (const FlavorEntry& e : kFlavors) {
    if (e.flavor == flavor)
      return e;
  }
  return kFlavors.front();
}

}  // namespace

std::string_view to_string(ApiFlavor flavor) {
  return entry(flavor).name;
}

std::optional<ApiFlavor> parse_api_flavor(std::string_view text) {
  for (const FlavorEntry& e : kFlavors) {
    if (e.name == text)
      return e.flavor;
  }
  return std::nullopt;
}

const ApiAdapter& adapter_for(ApiFlavor flavor) {
  return entry(flavor).adapter();
}

std::vector<std::string_view> api_flavor_names() {
  std::vector<std::string_view> names;
  for (const FlavorEntry& e : kFlavors)
    names.push_back(e.name);
  return names;
}

}  // namespace llmprobe
