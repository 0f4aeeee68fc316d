// OpenAI-compatible flavors (vLLM, SGLang, MindIE's OpenAI mode, TGI /v1, llama.cpp, Ollama /v1):
// /v1/completions reads choices[].text, /v1/chat/completions reads choices[].delta.
// Private header: only the flavor table includes it.
#pragma once

#include "llmprobe/api/flavor.hpp"

namespace llmprobe {

const ApiAdapter& openai_completions_adapter();
const ApiAdapter& openai_chat_adapter();

}  // namespace llmprobe
