// Every flavor's adapter, one small file each under daemon/api/. Private header: only the flavor
// table (flavor.cpp) includes it.
#pragma once

#include "llmprobe/api/flavor.hpp"

namespace llmprobe {

// OpenAI-compatible (vLLM, SGLang, llama.cpp, TGI /v1, Ollama /v1): choices[].text / .delta.
const ApiAdapter& openai_completions_adapter();
const ApiAdapter& openai_chat_adapter();
// TGI /generate_stream: token events, final event with details.
const ApiAdapter& tgi_adapter();
// Triton / TensorRT-LLM /v2/models/{model}/generate_stream: text_output events.
const ApiAdapter& triton_adapter();
// MindIE native /infer with stream: true.
const ApiAdapter& mindie_adapter();
// MindIE's OpenAI chat mode: no stream_options (it ignores them), usage on the last choice chunk.
const ApiAdapter& mindie_chat_adapter();
// Ollama /api/chat and /api/generate: NDJSON, final object with eval_count and durations.
const ApiAdapter& ollama_chat_adapter();
const ApiAdapter& ollama_generate_adapter();

}  // namespace llmprobe
