// Strict YAML decoding of llmprobe's configuration. Every problem becomes a ConfigError that
// points at the offending key or value, so a typo never silently falls back to a default.
// yaml-cpp does the tokenising; everything else (types, duplicates, unknown keys) is checked
// here because yaml-cpp 0.7 is lenient: it accepts duplicate keys and converts freely.
#include "llmprobe/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <system_error>

namespace llmprobe {

namespace {

// "file:line:column: key: problem"; parts that are unknown are left out rather than printed as
// zeros, so an unreadable file reads "file: problem".
std::string format_config_error(const std::string& file, int line, int column,
                                const std::string& key, const std::string& problem) {
  std::string message = file;
  if (line > 0) {
    message += ':' + std::to_string(line);
    if (column > 0)
      message += ':' + std::to_string(column);
  }
  message += ": ";
  if (!key.empty())
    message += key + ": ";
  message += problem;
  return message;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, int column, std::string key,
                         std::string problem)
    : std::runtime_error(format_config_error(file, line, column, key, problem)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      key_(std::move(key)),
      problem_(std::move(problem)) {}

const Workload* Config::find_workload(std::string_view name) const {
  for (const Workload& workload : workloads) {
    if (workload.name == name)
      return &workload;
  }
  return nullptr;
}

namespace {

constexpr std::size_t kMaxNameLength = 64;
constexpr long long kMaxPromptTokens = 1'000'000;

// Values are echoed in messages so the user can find them, but never at full length.
std::string quote(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "\"";
  const std::size_t shown = std::min(text.size(), kMaxShown);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < text.size())
    out += "...";
  out += '"';
  return out;
}

// Optimal string alignment distance: a transposition ("conncet") counts as one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean "x"?)" when a candidate is within two edits, else "".
std::string suggestion(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty())
    return {};
  return " (did you mean " + quote(best) + "?)";
}

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view word : words) {
    if (!out.empty())
      out += ", ";
    out += word;
  }
  return out;
}

bool is_plain(const YAML::Node& node) {
  return node.Tag() == "?";
}

// How a node looks, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return is_plain(node) ? quote(node.Scalar()) : "the quoted string " + quote(node.Scalar());
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// A node together with the key that led to it, and its path for messages.
struct Value {
  YAML::Node node;
  YAML::Node key;  // undefined for sequence elements and the root
  std::string path;
};

// The file being decoded: knows how to turn a node into a ConfigError.
class Decoder {
 public:
  Decoder(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  const std::filesystem::path& base_dir() const { return base_dir_; }

  [[noreturn]] void fail_at(const YAML::Node& node, const std::string& path,
                            std::string problem) const {
    int line = 0;
    int column = 0;
    if (node.IsDefined()) {
      const YAML::Mark mark = node.Mark();
      if (!mark.is_null() && mark.line >= 0) {
        line = mark.line + 1;  // yaml-cpp counts from 0, editors from 1
        column = mark.column + 1;
      }
    }
    throw ConfigError(file_, line, column, path, std::move(problem));
  }

  // Points at the value, except for an empty value: yaml-cpp marks a null value at the next
  // token (often the next line), so the key is the better place to point.
  [[noreturn]] void fail(const Value& value, std::string problem) const {
    if ((!value.node.IsDefined() || value.node.IsNull()) && value.key.IsDefined()) {
      fail_at(value.key, value.path, std::move(problem));
    }
    fail_at(value.node, value.path, std::move(problem));
  }

  [[noreturn]] void fail_key(const Value& value, std::string problem) const {
    fail_at(value.key.IsDefined() ? value.key : value.node, value.path, std::move(problem));
  }

 private:
  std::string file_;
  std::filesystem::path base_dir_;
};

void expect_type(const Decoder& d, const Value& v, YAML::NodeType::value type,
                 std::string_view expected) {
  if (v.node.Type() != type)
    d.fail(v, "expected " + std::string(expected) + ", got " + describe(v.node));
}

// The entries of a mapping in document order; duplicate keys are an error (yaml-cpp 0.7 keeps
// both and a lookup would silently take one of them).
std::vector<std::pair<std::string, Value>> mapping_entries(const Decoder& d, const Value& map) {
  std::vector<std::pair<std::string, Value>> entries;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node key = it->first;
    std::string name = key.IsScalar() ? key.Scalar() : std::string();
    const std::string path = map.path.empty() ? name : map.path + "." + name;
    if (!key.IsScalar()) {
      d.fail_at(key, map.path, "mapping keys must be strings, got " + describe(key));
    }
    for (const auto& [seen_name, seen] : entries) {
      if (seen_name == name) {
        d.fail_at(key, path,
                  "duplicate key " + quote(name) + " (first defined at line " +
                      std::to_string(seen.key.Mark().line + 1) + ")");
      }
    }
    entries.emplace_back(std::move(name), Value{it->second, key, path});
  }
  return entries;
}

// A mapping with a fixed set of keys. Unknown keys are reported on construction, with the
// closest known key as a suggestion, so a typo cannot silently fall back to a default.
class MapReader {
 public:
  MapReader(const Decoder& d, const Value& map, std::vector<std::string_view> known)
      : decoder_(d), map_(map) {
    expect_type(d, map, YAML::NodeType::Map, "a mapping");
    entries_ = mapping_entries(d, map);
    for (const auto& [name, value] : entries_) {
      if (std::find(known.begin(), known.end(), name) != known.end())
        continue;
      std::string hint = suggestion(name, known);
      if (hint.empty())
        hint = " (known keys: " + join(known) + ")";
      d.fail_key(value, "unknown key " + quote(name) + hint);
    }
  }

  std::optional<Value> get(std::string_view name) const {
    for (const auto& [entry_name, value] : entries_) {
      if (entry_name == name)
        return value;
    }
    return std::nullopt;
  }

  Value require(std::string_view name) const {
    if (auto value = get(name))
      return *value;
    const std::string path =
        map_.path.empty() ? std::string(name) : map_.path + "." + std::string(name);
    decoder_.fail_at(map_.node, path, "required key is missing");
  }

 private:
  const Decoder& decoder_;
  Value map_;
  std::vector<std::pair<std::string, Value>> entries_;
};

// Optional sections ("global:", "timeouts:") may be left empty with every child commented out;
// that means "all defaults", not a type error.
bool is_empty_section(const Value& v) {
  return v.node.IsNull();
}

std::vector<Value> sequence_elements(const Decoder& d, const Value& seq) {
  expect_type(d, seq, YAML::NodeType::Sequence, "a sequence");
  std::vector<Value> elements;
  std::size_t index = 0;
  for (auto it = seq.node.begin(); it != seq.node.end(); ++it, ++index) {
    elements.push_back(Value{*it, YAML::Node(), seq.path + "[" + std::to_string(index) + "]"});
  }
  return elements;
}

std::string decode_string(const Decoder& d, const Value& v) {
  expect_type(d, v, YAML::NodeType::Scalar, "a string");
  return v.node.Scalar();
}

std::string decode_non_empty_string(const Decoder& d, const Value& v) {
  std::string text = decode_string(d, v);
  if (text.empty())
    d.fail(v, "must not be empty");
  return text;
}

// YAML 1.2 core schema booleans only: "yes", "on" and friends are YAML 1.1 surprises.
bool decode_bool(const Decoder& d, const Value& v) {
  if (v.node.IsScalar() && is_plain(v.node)) {
    const std::string& text = v.node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE")
      return true;
    if (text == "false" || text == "False" || text == "FALSE")
      return false;
  }
  d.fail(v, "expected true or false, got " + describe(v.node));
}

bool is_integer_text(std::string_view text) {
  if (!text.empty() && text.front() == '-')
    text.remove_prefix(1);
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

long long decode_integer(const Decoder& d, const Value& v, long long min, long long max) {
  if (!v.node.IsScalar() || !is_plain(v.node) || !is_integer_text(v.node.Scalar())) {
    d.fail(v, "expected an integer, got " + describe(v.node));
  }
  const std::string& text = v.node.Scalar();
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool out_of_range = ec != std::errc() || end != text.data() + text.size();
  if (out_of_range || value < min || value > max) {
    if (max == std::numeric_limits<long long>::max()) {
      d.fail(v, "must be at least " + std::to_string(min) + ", got " + text);
    }
    d.fail(v, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                  text);
  }
  return value;
}

// Decimal numbers as YAML 1.2 writes them: "0.05", "1e-3", "10". Not ".inf", hex or spaces.
bool is_decimal_text(std::string_view text) {
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+'))
    ++i;
  std::size_t digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
      ++i, ++digits;
  }
  if (digits == 0)
    return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+'))
      ++i;
    std::size_t exponent_digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
      ++i, ++exponent_digits;
    if (exponent_digits == 0)
      return false;
  }
  return i == text.size();
}

// strtod rather than from_chars: GCC 10 (the openEuler target) has no floating from_chars.
// The daemon never calls setlocale, so the decimal point is always '.'.
double parse_decimal(const std::string& text) {
  return std::strtod(text.c_str(), nullptr);
}

Duration decode_duration(const Decoder& d, const Value& v, bool allow_zero) {
  if (v.node.IsScalar() && is_integer_text(v.node.Scalar())) {
    d.fail(v, "durations need a unit, e.g. 15s");
  }
  expect_type(d, v, YAML::NodeType::Scalar, "a duration");
  const std::optional<Duration> duration = parse_duration(v.node.Scalar());
  if (!duration) {
    d.fail(v, "invalid duration " + quote(v.node.Scalar()) +
                  " (expected e.g. 15s, 500ms, 1m30s; units: h, m, s, ms, us, ns)");
  }
  if (!allow_zero && *duration == Duration::zero())
    d.fail(v, "must be greater than 0");
  return *duration;
}

// Names become Prometheus label values and URL path segments on the status page: keep them
// short and unsurprising.
std::string decode_name(const Decoder& d, const Value& v) {
  std::string name = decode_non_empty_string(d, v);
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
  });
  if (!valid_chars || name.size() > kMaxNameLength) {
    d.fail(v, "invalid name " + quote(name) + ": use 1 to 64 characters from A-Z a-z 0-9 _ . : -");
  }
  return name;
}

// Remembers where each name was first defined so a duplicate can point back at it.
class UniqueNames {
 public:
  explicit UniqueNames(std::string what) : what_(std::move(what)) {}
  void add(const Decoder& d, const Value& v, const std::string& name) {
    const auto [it, inserted] = lines_.emplace(name, v.node.Mark().line + 1);
    if (!inserted) {
      d.fail(v, "duplicate " + what_ + " name " + quote(name) + " (first defined at line " +
                    std::to_string(it->second) + ")");
    }
  }

 private:
  std::string what_;
  std::map<std::string, int> lines_;
};

Endpoint decode_endpoint(const Decoder& d, const Value& v, const std::string& url_text) {
  // parse_uri, not parse_absolute_uri: the latter rejects a fragment with a vague "leftover",
  // and a fragment deserves its own message. Boost's error text says little to a user, so the
  // message gives an example instead. The URL itself is never echoed: it may carry a password.
  const auto parsed = boost::urls::parse_uri(url_text);
  if (!parsed)
    d.fail(v, "not a valid URL (expected e.g. http://127.0.0.1:8000)");
  const boost::urls::url_view url = *parsed;
  Endpoint endpoint;
  if (url.scheme_id() == boost::urls::scheme::https) {
    endpoint.tls = true;
    endpoint.port = 443;
  } else if (url.scheme_id() == boost::urls::scheme::http) {
    endpoint.port = 80;
  } else {
    d.fail(v, "scheme must be http or https, got " + quote(url.scheme()) +
                  " (expected e.g. http://127.0.0.1:8000)");
  }
  if (url.has_userinfo())
    d.fail(v, "credentials do not belong in URLs: use api_key");
  if (url.has_query()) {
    d.fail(v, "base_url must not have a query (credentials do not belong in URLs: use api_key)");
  }
  if (url.has_fragment())
    d.fail(v, "base_url must not have a fragment");
  if (!url.has_authority() || url.host_address().empty())
    d.fail(v, "base_url needs a host");
  if (url.host_type() == boost::urls::host_type::ipvfuture) {
    d.fail(v, "unsupported IP literal in base_url");
  }
  endpoint.host = std::string(url.host_address());
  if (url.has_port()) {
    // port_number() wraps values above 65535, so the digits are checked here.
    const std::string port_text(url.port());
    unsigned long port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port == 0 || port > 65535) {
      d.fail(v, "invalid port " + quote(port_text) + " in base_url (expected 1 to 65535)");
    }
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  std::string path(url.encoded_path());
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  endpoint.base_path = std::move(path);
  return endpoint;
}

bool is_token_char(char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool has_control_char(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::pair<std::string, std::string>> decode_headers(const Decoder& d, const Value& v) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (is_empty_section(v))
    return headers;
  expect_type(d, v, YAML::NodeType::Map, "a mapping");
  for (const auto& [name, value] : mapping_entries(d, v)) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
      d.fail_key(value, "invalid header name " + quote(name) +
                            " (use letters, digits and !#$%&'*+-.^_`|~)");
    }
    if (iequals(name, "Authorization")) {
      d.fail_key(value, "\"Authorization\" does not belong in headers: use api_key");
    }
    for (const auto& [seen, unused] : headers) {
      if (iequals(seen, name)) {
        d.fail_key(value, "header " + quote(name) + " is set twice (header names ignore case)");
      }
    }
    // Header values may be credentials too, so they are never echoed.
    std::string text = decode_string(d, value);
    if (has_control_char(text)) {
      d.fail(value, "header value must not contain control characters such as CR or LF");
    }
    headers.emplace_back(name, std::move(text));
  }
  return headers;
}

bool is_env_name(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Reads a whole file; on failure returns nullopt and a reason without the content.
std::optional<std::string> read_whole_file(const std::filesystem::path& path, std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = "is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  return std::move(content).str();
}

// Resolves the key now, so a missing secret fails at start-up or reload instead of at the
// first probe. No message here may contain the secret itself.
void decode_api_key(const Decoder& d, const Value& v, Target& target) {
  if (!v.node.IsMap()) {
    // Never describe() the value: an inline key would be printed.
    d.fail(v,
           "expected a mapping {file: PATH}, {env: NAME} or {credential: NAME}; the key itself "
           "does not belong in the configuration file");
  }
  MapReader m(d, v, {"file", "env", "credential"});
  std::optional<Value> file = m.get("file");
  const std::optional<Value> env = m.get("env");
  const std::optional<Value> credential = m.get("credential");
  if (file.has_value() + env.has_value() + credential.has_value() != 1) {
    d.fail(v, "exactly one of \"file\", \"env\" or \"credential\" is required");
  }
  std::optional<std::filesystem::path> credential_path;
  if (credential) {
    // systemd's LoadCredential=NAME:PATH puts the secret at $CREDENTIALS_DIRECTORY/NAME.
    const std::string name = decode_non_empty_string(d, *credential);
    if (name.find('/') != std::string::npos || name == "." || name == "..")
      d.fail(*credential, "a credential name is a file name, not a path");
    const char* directory = std::getenv("CREDENTIALS_DIRECTORY");
    if (directory == nullptr || *directory == '\0') {
      d.fail(*credential, "credential " + quote(name) +
                              ": $CREDENTIALS_DIRECTORY is not set (run under systemd with "
                              "LoadCredential=" +
                              name + ":PATH)");
    }
    credential_path = std::filesystem::path(directory) / name;
    file = credential;
  }
  std::string secret;
  std::string origin;
  if (env) {
    const std::string name = decode_non_empty_string(d, *env);
    if (!is_env_name(name)) {
      // Not echoed: a malformed name is most likely the key pasted in by mistake.
      d.fail(*env, "not a valid environment variable name (use A-Z, a-z, 0-9 and _)");
    }
    const char* value = std::getenv(name.c_str());
    if (value == nullptr)
      d.fail(*env, "environment variable " + quote(name) + " is not set");
    secret = value;
    if (secret.empty())
      d.fail(*env, "environment variable " + quote(name) + " is empty");
    origin = "environment variable " + quote(name);
    target.api_key_source = {SecretSource::Kind::env, name};
  } else {
    // Relative paths are relative to the configuration file, as in Prometheus.
    const std::filesystem::path path =
        credential_path ? *credential_path : d.base_dir() / decode_non_empty_string(d, *file);
    std::string error;
    std::optional<std::string> content = read_whole_file(path, error);
    if (!content)
      d.fail(*file, "cannot read " + quote(path.string()) + ": " + error);
    secret = std::move(*content);
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
      secret.pop_back();
    }
    if (secret.empty())
      d.fail(*file, "file " + quote(path.string()) + " is empty");
    origin = "file " + quote(path.string());
    target.api_key_source = {
        credential_path ? SecretSource::Kind::credential : SecretSource::Kind::file,
        credential_path ? credential->node.Scalar() : path.string()};
  }
  // The key goes into an HTTP header: a stray line break would split the request.
  if (has_control_char(secret)) {
    d.fail(env ? *env : *file, "the key from " + origin + " contains control characters");
  }
  target.api_key = Secret(std::move(secret));
}

// A file the daemon will read at start-up: resolved against the config file and checked now, so
// a typo fails `--config.check` instead of the first probe.
std::string decode_readable_file(const Decoder& d, const Value& v) {
  const std::filesystem::path path = d.base_dir() / decode_non_empty_string(d, v);
  std::string error;
  if (!read_whole_file(path, error))
    d.fail(v, "cannot read " + quote(path.string()) + ": " + error);
  return path.string();
}

TlsSettings decode_tls(const Decoder& d, const Value& v, const Endpoint& endpoint) {
  TlsSettings tls;
  if (is_empty_section(v))
    return tls;
  if (!endpoint.tls)
    d.fail(v, "TLS settings need an https:// base_url");
  MapReader m(
      d, v,
      {"ca_file", "cert_file", "key_file", "server_name", "min_version", "insecure_skip_verify"});
  if (auto x = m.get("ca_file"))
    tls.ca_file = decode_readable_file(d, *x);
  const std::optional<Value> cert = m.get("cert_file");
  const std::optional<Value> key = m.get("key_file");
  if (cert.has_value() != key.has_value())
    d.fail(cert ? *cert : *key, "cert_file and key_file go together (mutual TLS needs both)");
  if (cert) {
    tls.cert_file = decode_readable_file(d, *cert);
    tls.key_file = decode_readable_file(d, *key);
  }
  if (auto x = m.get("server_name")) {
    tls.server_name = decode_non_empty_string(d, *x);
    if (has_control_char(tls.server_name) || tls.server_name.find(' ') != std::string::npos)
      d.fail(*x, "not a host name");
  }
  if (auto x = m.get("min_version")) {
    const std::string text = decode_non_empty_string(d, *x);
    if (text == "1.2")
      tls.min_version = 12;
    else if (text == "1.3")
      tls.min_version = 13;
    else
      d.fail(*x, "unsupported TLS version " + quote(text) + " (supported: \"1.2\", \"1.3\")");
  }
  if (auto x = m.get("insecure_skip_verify"))
    tls.insecure_skip_verify = decode_bool(d, *x);
  return tls;
}

Timeouts decode_timeouts(const Decoder& d, const Value& v) {
  Timeouts timeouts;
  if (is_empty_section(v))
    return timeouts;
  MapReader m(d, v, {"connect", "first_token", "idle", "total"});
  if (auto x = m.get("connect"))
    timeouts.connect = decode_duration(d, *x, false);
  if (auto x = m.get("first_token"))
    timeouts.first_token = decode_duration(d, *x, false);
  if (auto x = m.get("idle"))
    timeouts.idle = decode_duration(d, *x, false);
  if (auto x = m.get("total"))
    timeouts.total = decode_duration(d, *x, false);
  return timeouts;
}

std::vector<std::string> decode_target_workloads(const Decoder& d, const Value& v,
                                                 const std::vector<Workload>& workloads) {
  std::vector<std::string_view> known;
  for (const Workload& workload : workloads)
    known.push_back(workload.name);
  std::vector<std::string> names;
  std::vector<int> lines;
  const std::vector<Value> elements = sequence_elements(d, v);
  if (elements.empty())
    d.fail(v, "must not be empty (omit the key to run every workload)");
  for (const Value& element : elements) {
    std::string name = decode_non_empty_string(d, element);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string hint = suggestion(name, known);
      if (hint.empty())
        hint = " (defined workloads: " + join(known) + ")";
      d.fail(element, "unknown workload " + quote(name) + hint);
    }
    const auto seen = std::find(names.begin(), names.end(), name);
    if (seen != names.end()) {
      d.fail(element, "workload " + quote(name) + " is listed twice (first at line " +
                          std::to_string(lines[static_cast<std::size_t>(seen - names.begin())]) +
                          ")");
    }
    names.push_back(std::move(name));
    lines.push_back(element.node.Mark().line + 1);
  }
  return names;
}

Target decode_target(const Decoder& d, const Value& v, const std::vector<Workload>& workloads,
                     UniqueNames& names) {
  MapReader m(d, v,
              {"name", "base_url", "api", "model", "headers", "api_key", "timeouts",
               "max_response_bytes", "workloads", "tls", "max_idle_connections", "max_idle_time"});
  Target target;
  const Value name = m.require("name");
  target.name = decode_name(d, name);
  names.add(d, name, target.name);

  const Value base_url = m.require("base_url");
  target.base_url = decode_non_empty_string(d, base_url);
  target.endpoint = decode_endpoint(d, base_url, target.base_url);

  const Value api = m.require("api");
  const std::string api_text = decode_non_empty_string(d, api);
  const std::optional<ApiFlavor> flavor = parse_api_flavor(api_text);
  if (!flavor) {
    const std::vector<std::string_view> flavors = api_flavor_names();
    std::string hint = suggestion(api_text, flavors);
    if (hint.empty())
      hint = " (supported: " + join(flavors) + ")";
    d.fail(api, "unknown api " + quote(api_text) + hint);
  }
  target.api = *flavor;

  target.model = decode_non_empty_string(d, m.require("model"));
  if (auto x = m.get("headers"))
    target.headers = decode_headers(d, *x);
  if (auto x = m.get("api_key"))
    decode_api_key(d, *x, target);
  if (auto x = m.get("timeouts"))
    target.timeouts = decode_timeouts(d, *x);
  if (auto x = m.get("max_response_bytes")) {
    target.max_response_bytes =
        static_cast<std::size_t>(decode_integer(d, *x, 1, std::numeric_limits<long long>::max()));
  }
  if (auto x = m.get("tls"))
    target.tls = decode_tls(d, *x, target.endpoint);
  if (auto x = m.get("max_idle_connections"))
    target.max_idle_connections = static_cast<std::size_t>(decode_integer(d, *x, 1, 64));
  if (auto x = m.get("max_idle_time"))
    target.max_idle_time = decode_duration(d, *x, false);
  if (auto x = m.get("workloads")) {
    target.workloads = decode_target_workloads(d, *x, workloads);
  } else {
    for (const Workload& workload : workloads)
      target.workloads.push_back(workload.name);
  }
  return target;
}

boost::json::value to_json(const Decoder& d, const Value& v) {
  switch (v.node.Type()) {
    case YAML::NodeType::Map: {
      boost::json::object object;
      for (const auto& [key, value] : mapping_entries(d, v))
        object[key] = to_json(d, value);
      return object;
    }
    case YAML::NodeType::Sequence: {
      boost::json::array array;
      for (const Value& element : sequence_elements(d, v))
        array.push_back(to_json(d, element));
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = v.node.Scalar();
      // Quoted or explicitly tagged scalars stay strings: quoting is how YAML says "string".
      if (!is_plain(v.node))
        return boost::json::string(text);
      if (text == "true")
        return true;
      if (text == "false")
        return false;
      if (is_integer_text(text)) {
        std::int64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size())
          return value;
      }
      if (is_decimal_text(text)) {
        const double value = parse_decimal(text);
        if (std::isfinite(value))
          return value;
      }
      return boost::json::string(text);
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return nullptr;
}

boost::json::object decode_extra_body(const Decoder& d, const Value& v) {
  if (is_empty_section(v))
    return {};
  expect_type(d, v, YAML::NodeType::Map, "a mapping");
  for (const auto& [name, value] : mapping_entries(d, v)) {
    for (std::string_view owned :
         {"stream", "stream_options", "model", "prompt", "messages", "max_tokens", "ignore_eos"}) {
      if (name == owned) {
        d.fail_key(value, quote(name) + " is set by llmprobe and cannot be overridden");
      }
    }
  }
  return to_json(d, v).as_object();
}

std::vector<double> decode_bucket_edges(const Decoder& d, const Value& v) {
  const std::vector<Value> elements = sequence_elements(d, v);
  if (elements.empty())
    d.fail(v, "must not be empty (omit the key for the default buckets)");
  std::vector<double> edges;
  std::string previous_text;
  for (const Value& element : elements) {
    const YAML::Node& node = element.node;
    const std::string text = node.IsScalar() ? node.Scalar() : std::string();
    if (node.IsScalar() && is_plain(node) && (text == ".inf" || text == ".Inf" || text == ".INF")) {
      d.fail(element, "bucket edges must be finite (the +Inf bucket is added automatically)");
    }
    if (!node.IsScalar() || !is_plain(node) || !is_decimal_text(text)) {
      d.fail(element, "expected a number, got " + describe(node));
    }
    const double edge = parse_decimal(text);
    if (!std::isfinite(edge))
      d.fail(element, "bucket edges must be finite, got " + text);
    if (edge <= 0)
      d.fail(element, "bucket edges must be positive, got " + text);
    if (!edges.empty() && edge <= edges.back()) {
      d.fail(element, "bucket edges must be strictly increasing: " + text +
                          " is not greater than the previous edge " + previous_text);
    }
    edges.push_back(edge);
    previous_text = text;
  }
  return edges;
}

BucketOverrides decode_buckets(const Decoder& d, const Value& v) {
  BucketOverrides buckets;
  if (is_empty_section(v))
    return buckets;
  MapReader m(d, v,
              {"time_to_first_token", "inter_token_latency", "time_per_output_token",
               "request_duration", "schedule_lag"});
  if (auto x = m.get("time_to_first_token"))
    buckets.time_to_first_token = decode_bucket_edges(d, *x);
  if (auto x = m.get("inter_token_latency"))
    buckets.inter_token_latency = decode_bucket_edges(d, *x);
  if (auto x = m.get("time_per_output_token")) {
    buckets.time_per_output_token = decode_bucket_edges(d, *x);
  }
  if (auto x = m.get("request_duration"))
    buckets.request_duration = decode_bucket_edges(d, *x);
  if (auto x = m.get("schedule_lag"))
    buckets.schedule_lag = decode_bucket_edges(d, *x);
  return buckets;
}

Workload decode_workload(const Decoder& d, const Value& v, UniqueNames& names) {
  MapReader m(d, v,
              {"name", "kind", "interval", "jitter", "prompt_tokens", "cache_busting_prefix",
               "max_tokens", "ignore_eos", "extra_body", "buckets", "connection"});
  Workload workload;
  const Value name = m.require("name");
  workload.name = decode_name(d, name);
  names.add(d, name, workload.name);

  const Value kind = m.require("kind");
  const std::string kind_text = decode_non_empty_string(d, kind);
  if (kind_text != "probe") {
    d.fail(kind, "unknown kind " + quote(kind_text) + " (supported: probe)");
  }
  workload.kind = WorkloadKind::probe;

  const Value interval = m.require("interval");
  workload.interval = decode_duration(d, interval, false);
  if (auto x = m.get("jitter")) {
    workload.jitter = decode_duration(d, *x, true);
    if (workload.jitter >= workload.interval) {
      d.fail(*x, "jitter " + x->node.Scalar() + " must be less than the interval " +
                     interval.node.Scalar());
    }
  }
  if (auto x = m.get("connection")) {
    const std::string text = decode_non_empty_string(d, *x);
    if (text == "fresh")
      workload.connection = ConnectionPolicy::fresh;
    else if (text == "keep_alive")
      workload.connection = ConnectionPolicy::keep_alive;
    else
      d.fail(*x, "unknown connection policy " + quote(text) + " (supported: fresh, keep_alive)");
  }
  if (auto x = m.get("prompt_tokens")) {
    workload.prompt_tokens = static_cast<int>(decode_integer(d, *x, 1, kMaxPromptTokens));
  }
  if (auto x = m.get("cache_busting_prefix"))
    workload.cache_busting_prefix = decode_bool(d, *x);
  if (auto x = m.get("max_tokens")) {
    workload.max_tokens =
        static_cast<int>(decode_integer(d, *x, 1, std::numeric_limits<int>::max()));
  }
  if (auto x = m.get("ignore_eos"))
    workload.ignore_eos = decode_bool(d, *x);
  if (auto x = m.get("extra_body"))
    workload.extra_body = decode_extra_body(d, *x);
  if (auto x = m.get("buckets"))
    workload.buckets = decode_buckets(d, *x);
  return workload;
}

GlobalSettings decode_global(const Decoder& d, const Value& v) {
  GlobalSettings global;
  if (is_empty_section(v))
    return global;
  MapReader m(d, v, {"shutdown_grace"});
  if (auto x = m.get("shutdown_grace"))
    global.shutdown_grace = decode_duration(d, *x, true);
  return global;
}

Config decode_root(const Decoder& d, const YAML::Node& root, std::string source) {
  const Value root_value{root, YAML::Node(), ""};
  if (!root.IsMap()) {
    d.fail_at(root, "<root>",
              "expected a mapping with \"targets\" and \"workloads\", got " + describe(root));
  }
  MapReader m(d, root_value, {"global", "targets", "workloads"});
  Config config;
  config.source = std::move(source);
  if (auto x = m.get("global"))
    config.global = decode_global(d, *x);

  // Workloads first: targets refer to them by name.
  const Value workloads = m.require("workloads");
  UniqueNames workload_names("workload");
  for (const Value& element : sequence_elements(d, workloads)) {
    config.workloads.push_back(decode_workload(d, element, workload_names));
  }
  if (config.workloads.empty())
    d.fail(workloads, "must not be empty");

  const Value targets = m.require("targets");
  UniqueNames target_names("target");
  for (const Value& element : sequence_elements(d, targets)) {
    config.targets.push_back(decode_target(d, element, config.workloads, target_names));
  }
  if (config.targets.empty())
    d.fail(targets, "must not be empty");
  return config;
}

constexpr std::string_view kEmbeddedDemoConfig =
    R"yaml(# Built-in demo: probes the bundled simulator (llmprobe-sim) on 127.0.0.1:8000.
targets:
  - name: demo
    base_url: http://127.0.0.1:8000
    api: openai-chat
    model: llmprobe-sim
workloads:
  - name: probe
    kind: probe
    interval: 5s
    jitter: 1s
    prompt_tokens: 32
    max_tokens: 32
    ignore_eos: true
)yaml";

}  // namespace

Config parse_config(std::string_view yaml_text, std::string_view source_name) {
  const std::string source(source_name);
  const Decoder decoder(source, std::filesystem::path(source).parent_path());
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw ConfigError(source, e.mark.is_null() ? 0 : e.mark.line + 1,
                      e.mark.is_null() ? 0 : e.mark.column + 1, "<yaml>", e.msg);
  }
  // A second document would be ignored silently by YAML::Load; say so instead.
  if (documents.size() > 1) {
    decoder.fail_at(documents[1], "<yaml>", "only one YAML document is allowed");
  }
  if (documents.empty() || documents[0].IsNull()) {
    throw ConfigError(source, 0, 0, "",
                      "the configuration is empty (expected a mapping with \"targets\" and "
                      "\"workloads\")");
  }
  try {
    return decode_root(decoder, documents[0], source);
  } catch (const YAML::Exception& e) {
    // Not expected (decoding never converts through yaml-cpp), but never let one escape as
    // something other than a ConfigError.
    throw ConfigError(source, e.mark.is_null() ? 0 : e.mark.line + 1,
                      e.mark.is_null() ? 0 : e.mark.column + 1, "<yaml>", e.msg);
  }
}

Config load_config_file(const std::string& path) {
  std::string error;
  std::optional<std::string> text = read_whole_file(path, error);
  if (!text)
    throw ConfigError(path, 0, 0, "", "cannot read the configuration file: " + error);
  return parse_config(*text, path);
}

std::string_view embedded_demo_config() {
  return kEmbeddedDemoConfig;
}

}  // namespace llmprobe
