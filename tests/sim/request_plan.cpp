// Turning a request into a Plan: delays, faults, token counts. No I/O here, so every rule the
// simulator follows can be read (and tested) in one place.
#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <string>

#include "sim_internal.hpp"

namespace llmprobe::sim {

namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// "name(a,b)" -> the text between the parentheses, when text starts with name.
std::optional<std::string_view> call_arguments(std::string_view text, std::string_view name) {
  if (!text.starts_with(name)) {
    return std::nullopt;
  }
  auto rest = trim(text.substr(name.size()));
  if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')') {
    return std::nullopt;
  }
  return rest.substr(1, rest.size() - 2);
}

std::optional<std::pair<std::chrono::nanoseconds, std::chrono::nanoseconds>> two_durations(
    std::string_view arguments) {
  const auto comma = arguments.find(',');
  if (comma == std::string_view::npos) {
    return std::nullopt;
  }
  auto first = detail::parse_duration(arguments.substr(0, comma));
  auto second = detail::parse_duration(arguments.substr(comma + 1));
  if (!first || !second) {
    return std::nullopt;
  }
  return std::pair{*first, *second};
}

}  // namespace

std::optional<DelaySpec> DelaySpec::parse(const std::string& input) {
  const auto text = trim(input);
  if (auto arguments = call_arguments(text, "uniform")) {
    auto bounds = two_durations(*arguments);
    if (!bounds || bounds->first > bounds->second) {
      return std::nullopt;
    }
    return DelaySpec{Kind::uniform, bounds->first, bounds->second};
  }
  if (auto arguments = call_arguments(text, "normal")) {
    auto mean_stddev = two_durations(*arguments);
    if (!mean_stddev) {
      return std::nullopt;
    }
    return DelaySpec{Kind::normal, mean_stddev->first, mean_stddev->second};
  }
  if (auto arguments = call_arguments(text, "exp")) {
    auto mean = detail::parse_duration(*arguments);
    if (!mean) {
      return std::nullopt;
    }
    return DelaySpec{Kind::exponential, *mean, {}};
  }
  auto fixed = detail::parse_duration(text);
  if (!fixed) {
    return std::nullopt;
  }
  return DelaySpec{Kind::fixed, *fixed, {}};
}

namespace detail {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  text = trim(text);
  const auto unit_at = text.find_first_not_of("0123456789.");
  if (unit_at == 0 || unit_at == std::string_view::npos) {
    return std::nullopt;  // a unit is required: "200" is ambiguous
  }
  double value = 0;
  const auto number = text.substr(0, unit_at);
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  const auto unit = text.substr(unit_at);
  double scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "s") {
    scale = 1e9;
  } else {
    return std::nullopt;
  }
  const double nanoseconds = value * scale;
  if (nanoseconds > 1e15) {  // ~11 days: anything longer is a typo
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(nanoseconds)));
}

std::chrono::nanoseconds draw_delay(const DelaySpec& spec, std::mt19937_64& rng) {
  using std::chrono::nanoseconds;
  switch (spec.kind) {
    case DelaySpec::Kind::fixed:
      return spec.a;
    case DelaySpec::Kind::uniform:
      return nanoseconds(
          std::uniform_int_distribution<std::int64_t>(spec.a.count(), spec.b.count())(rng));
    case DelaySpec::Kind::normal: {
      const double drawn = std::normal_distribution<double>(
          static_cast<double>(spec.a.count()), static_cast<double>(spec.b.count()))(rng);
      return nanoseconds(static_cast<std::int64_t>(std::max(0.0, drawn)));
    }
    case DelaySpec::Kind::exponential:
      if (spec.a.count() <= 0) {
        return nanoseconds(0);
      }
      return nanoseconds(static_cast<std::int64_t>(
          std::exponential_distribution<double>(1.0 / static_cast<double>(spec.a.count()))(rng)));
  }
  return spec.a;
}

std::optional<Fault> parse_fault(std::string_view text) {
  text = trim(text);
  if (text.empty()) {
    return Fault{};
  }
  if (text.starts_with("status:")) {
    unsigned code = 0;
    const auto digits = text.substr(7);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), code);
    // Only error statuses: a "fault" of 200 with an error body would be a contradiction.
    if (ec != std::errc{} || end != digits.data() + digits.size() || code < 400 || code > 599) {
      return std::nullopt;
    }
    return Fault{FaultKind::status, code};
  }
  static constexpr std::pair<std::string_view, FaultKind> kNamed[] = {
      {"stall_before_first", FaultKind::stall_before_first},
      {"stall_after_first", FaultKind::stall_after_first},
      {"close_mid_stream", FaultKind::close_mid_stream},
      {"malformed_event", FaultKind::malformed_event},
      {"error_event", FaultKind::error_event},
      {"long_line", FaultKind::long_line},
      {"no_usage", FaultKind::no_usage},
      {"no_done", FaultKind::no_done},
      {"usage_on_last_choice", FaultKind::usage_on_last_choice},
      {"echo_auth", FaultKind::echo_auth},
  };
  for (const auto& [name, kind] : kNamed) {
    if (text == name) {
      return Fault{kind, 0};
    }
  }
  return std::nullopt;
}

int count_words(std::string_view text) {
  int words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) {
      ++words;
    }
    in_word = !space;
  }
  return words;
}

int Plan::tokens_in_event(int index) const {
  const int before = index * tokens_per_event;
  return std::min(tokens_per_event, output_tokens - before);
}

const char* Plan::finish_reason() const {
  if (hit_max_tokens) {
    return "length";
  }
  return is_tgi_shaped(endpoint) ? "eos_token" : "stop";
}

std::string Plan::flavor() const {
  switch (endpoint) {
    case Endpoint::completions:
      return mindie_style ? "mindie-completions" : "openai-completions";
    case Endpoint::chat:
      return mindie_style ? "mindie-chat" : "openai-chat";
    case Endpoint::tgi:
      return "tgi";
    case Endpoint::triton:
      return "triton";
    case Endpoint::mindie:
      return "mindie";
    case Endpoint::ollama_chat:
      return "ollama";
    case Endpoint::ollama_generate:
      return "ollama-generate";
  }
  return "unknown";
}

std::string error_body(std::string_view message, std::string_view type, unsigned code) {
  boost::json::object error;
  error["message"] = message;
  error["type"] = type;
  error["code"] = code;
  boost::json::object body;
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

std::string flavor_error_body(Endpoint endpoint, std::string_view message, std::string_view type,
                              unsigned code) {
  if (is_openai(endpoint)) {
    return error_body(message, type, code);
  }
  boost::json::object body;
  body["error"] = message;
  if (is_tgi_shaped(endpoint)) {
    body["error_type"] = type;
  }
  return boost::json::serialize(body);
}

namespace {

namespace json = boost::json;

// Prompt words of a completions `prompt`: a string, an array of strings, or token ids.
std::optional<int> completion_prompt_tokens(const json::value& prompt) {
  if (prompt.is_string()) {
    return count_words(prompt.get_string());
  }
  if (!prompt.is_array()) {
    return std::nullopt;
  }
  int tokens = 0;
  for (const auto& item : prompt.get_array()) {
    if (item.is_string()) {
      tokens += count_words(item.get_string());
    } else if (item.is_int64() || item.is_uint64()) {
      ++tokens;  // already token ids
    } else {
      return std::nullopt;
    }
  }
  return tokens;
}

// Words of every message's content: a string, or OpenAI content parts with "text".
std::optional<int> chat_prompt_tokens(const json::value& messages) {
  if (!messages.is_array() || messages.get_array().empty()) {
    return std::nullopt;
  }
  int tokens = 0;
  for (const auto& message : messages.get_array()) {
    if (!message.is_object()) {
      return std::nullopt;
    }
    const auto* content = message.get_object().if_contains("content");
    if (content == nullptr || content->is_null()) {
      continue;  // assistant tool-call messages have no content
    }
    if (content->is_string()) {
      tokens += count_words(content->get_string());
    } else if (content->is_array()) {
      for (const auto& part : content->get_array()) {
        const auto* text = part.is_object() ? part.get_object().if_contains("text") : nullptr;
        if (text != nullptr && text->is_string()) {
          tokens += count_words(text->get_string());
        }
      }
    } else {
      return std::nullopt;
    }
  }
  return tokens;
}

std::optional<int> positive_int(const json::value& value) {
  if (value.is_int64() && value.get_int64() > 0 && value.get_int64() <= 1'000'000'000) {
    return static_cast<int>(value.get_int64());
  }
  if (value.is_uint64() && value.get_uint64() > 0 && value.get_uint64() <= 1'000'000'000) {
    return static_cast<int>(value.get_uint64());
  }
  return std::nullopt;
}

std::optional<int> positive_int(std::string_view text) {
  int value = 0;
  text = trim(text);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0) {
    return std::nullopt;
  }
  return value;
}

PlanError bad_request(std::string message) {
  return PlanError{400, std::move(message)};
}

}  // namespace

std::variant<Plan, PlanError> make_plan(Endpoint endpoint, std::string_view body,
                                        const SimHeaders& headers, const Options& options,
                                        std::string_view path_model) {
  Plan plan;
  plan.endpoint = endpoint;
  plan.ttft = options.ttft;
  plan.itl = options.itl;
  plan.tokens_per_event = options.tokens_per_event;
  plan.fault_text = options.fault;
  int natural_tokens = options.natural_output_tokens;

  // Headers first: a bad control header is the test author's mistake and should say so.
  if (!headers.ttft.empty()) {
    auto spec = DelaySpec::parse(std::string(headers.ttft));
    if (!spec) {
      return bad_request("invalid x-sim-ttft: '" + std::string(headers.ttft) + "'");
    }
    plan.ttft = *spec;
  }
  if (!headers.itl.empty()) {
    auto spec = DelaySpec::parse(std::string(headers.itl));
    if (!spec) {
      return bad_request("invalid x-sim-itl: '" + std::string(headers.itl) + "'");
    }
    plan.itl = *spec;
  }
  if (!headers.tokens_per_event.empty()) {
    auto value = positive_int(headers.tokens_per_event);
    if (!value) {
      return bad_request("invalid x-sim-tokens-per-event: '" +
                         std::string(headers.tokens_per_event) + "'");
    }
    plan.tokens_per_event = *value;
  }
  if (!headers.output_tokens.empty()) {
    auto value = positive_int(headers.output_tokens);
    if (!value) {
      return bad_request("invalid x-sim-output-tokens: '" + std::string(headers.output_tokens) +
                         "'");
    }
    natural_tokens = *value;
  }
  if (!headers.fault.empty()) {
    plan.fault_text = std::string(trim(headers.fault));
  }
  if (!headers.style.empty()) {
    if (trim(headers.style) != "mindie") {
      return bad_request("invalid x-sim-style: '" + std::string(headers.style) +
                         "' (known: mindie)");
    }
    plan.mindie_style = true;
  }
  auto fault = parse_fault(plan.fault_text);
  if (!fault) {
    return bad_request("unknown fault '" + plan.fault_text + "'");
  }
  plan.fault = *fault;

  boost::system::error_code ec;
  const auto parsed = json::parse(body, ec);
  if (ec) {
    return bad_request("request body is not valid JSON: " + ec.message());
  }
  if (!parsed.is_object()) {
    return bad_request("request body must be a JSON object");
  }
  const auto& request = parsed.get_object();

  if (endpoint == Endpoint::triton) {
    plan.model = std::string(path_model);
  } else if (const auto* model = request.if_contains("model"); model != nullptr) {
    if (!model->is_string()) {
      return bad_request("'model' must be a string");
    }
    plan.model = std::string(model->get_string());
  } else {
    plan.model = "llmprobe-sim";
  }
  plan.model_json = json::serialize(json::string(plan.model));

  // The prompt, by flavor.
  std::optional<int> prompt_tokens;
  const auto string_field = [&](const char* key) -> std::variant<int, PlanError> {
    const auto* value = request.if_contains(key);
    if (value == nullptr) {
      return bad_request(std::string("missing field '") + key + "'");
    }
    if (!value->is_string()) {
      return bad_request(std::string("'") + key + "' must be a string");
    }
    return count_words(value->get_string());
  };
  switch (endpoint) {
    case Endpoint::completions: {
      const auto* prompt = request.if_contains("prompt");
      if (prompt == nullptr) {
        return bad_request("missing field 'prompt'");
      }
      prompt_tokens = completion_prompt_tokens(*prompt);
      if (!prompt_tokens) {
        return bad_request("'prompt' must be a string or an array of strings or token ids");
      }
      break;
    }
    case Endpoint::chat:
    case Endpoint::ollama_chat: {
      const auto* messages = request.if_contains("messages");
      if (messages == nullptr) {
        return bad_request("missing field 'messages'");
      }
      prompt_tokens = chat_prompt_tokens(*messages);
      if (!prompt_tokens) {
        return bad_request("'messages' must be a non-empty array of {role, content} objects");
      }
      break;
    }
    case Endpoint::tgi:
    case Endpoint::mindie:
    case Endpoint::triton:
    case Endpoint::ollama_generate: {
      const char* key = endpoint == Endpoint::triton            ? "text_input"
                        : endpoint == Endpoint::ollama_generate ? "prompt"
                                                                : "inputs";
      auto words = string_field(key);
      if (auto* error = std::get_if<PlanError>(&words)) {
        return *error;
      }
      prompt_tokens = std::get<int>(words);
      break;
    }
  }
  plan.prompt_tokens = *prompt_tokens;

  // Where stream / ignore_eos / the length cap live, by flavor.
  const json::object* parameters = &request;
  if (is_tgi_shaped(endpoint) || is_ollama(endpoint)) {
    static const json::object empty;
    parameters = &empty;
    const char* key = is_ollama(endpoint) ? "options" : "parameters";
    if (const auto* value = request.if_contains(key); value != nullptr && !value->is_null()) {
      if (!value->is_object()) {
        return bad_request(std::string("'") + key + "' must be an object");
      }
      parameters = &value->get_object();
    }
  }

  // Streaming: OpenAI and MindIE /infer default to false, Ollama to true; TGI's and Triton's
  // generate_stream always stream.
  plan.stream = is_ollama(endpoint) || endpoint == Endpoint::tgi || endpoint == Endpoint::triton;
  if (const auto* stream = request.if_contains("stream"); stream != nullptr && !stream->is_null()) {
    if (!stream->is_bool()) {
      return bad_request("'stream' must be a boolean");
    }
    if (endpoint != Endpoint::tgi && endpoint != Endpoint::triton) {
      plan.stream = stream->get_bool();
    }
  }
  if (const auto* stream_options = request.if_contains("stream_options");
      is_openai(endpoint) && !plan.mindie_style && stream_options != nullptr &&
      stream_options->is_object()) {
    const auto* include_usage = stream_options->get_object().if_contains("include_usage");
    plan.include_usage =
        include_usage != nullptr && include_usage->is_bool() && include_usage->get_bool();
  }
  bool ignore_eos = false;
  if (const auto* value = parameters->if_contains("ignore_eos");
      value != nullptr && endpoint != Endpoint::tgi && !is_ollama(endpoint)) {
    if (!value->is_bool()) {
      return bad_request("'ignore_eos' must be a boolean");
    }
    ignore_eos = value->get_bool();
  }
  if (endpoint == Endpoint::mindie) {
    if (const auto* value = parameters->if_contains("details"); value != nullptr) {
      if (!value->is_bool()) {
        return bad_request("'details' must be a boolean");
      }
      plan.details = value->get_bool();
    }
  }
  std::optional<int> max_tokens;
  std::array<const char*, 2> cap_keys{"max_tokens", "max_completion_tokens"};
  if (is_tgi_shaped(endpoint)) {
    cap_keys = {"max_new_tokens", nullptr};
  } else if (is_ollama(endpoint)) {
    cap_keys = {"num_predict", nullptr};
  }
  for (const char* key : cap_keys) {
    if (key == nullptr) {
      break;
    }
    if (const auto* value = parameters->if_contains(key); value != nullptr && !value->is_null()) {
      if (is_ollama(endpoint) && value->is_int64() && value->get_int64() <= 0) {
        break;  // Ollama: -1 (no limit) and -2 (fill the context) mean no cap
      }
      max_tokens = positive_int(*value);
      if (!max_tokens) {
        return bad_request(std::string("'") + key + "' must be a positive integer");
      }
      break;
    }
  }
  // TGI and MindIE /infer send one token per event, whatever tokens_per_event says.
  if (is_tgi_shaped(endpoint)) {
    plan.tokens_per_event = 1;
  }

  if (ignore_eos && max_tokens) {
    plan.output_tokens = *max_tokens;
    plan.hit_max_tokens = true;
  } else if (max_tokens && *max_tokens <= natural_tokens) {
    plan.output_tokens = *max_tokens;
    plan.hit_max_tokens = true;
  } else {
    plan.output_tokens = natural_tokens;  // no cap given: stops at its natural end ("stop")
  }
  return plan;
}

}  // namespace detail
}  // namespace llmprobe::sim
