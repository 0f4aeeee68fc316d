// Prometheus-style duration strings ("15s", "500ms", "1m30s"). Kept apart from config.cpp
// because it is pure text -> number and is tested on its own.
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "llmprobe/config.hpp"

namespace llmprobe {

namespace {

struct DurationUnit {
  std::string_view name;
  std::int64_t nanoseconds;
  int rank;  // units must appear in strictly increasing rank: "1m30s", never "30s1m"
};

// Both micro signs are accepted (U+00B5 and U+03BC): people paste either, as Go allows.
constexpr DurationUnit kUnits[] = {
    {"h", 3'600'000'000'000, 0},
    {"m", 60'000'000'000, 1},
    {"s", 1'000'000'000, 2},
    {"ms", 1'000'000, 3},
    {"us", 1'000, 4},
    {"\xC2\xB5s", 1'000, 4},
    {"\xCE\xBCs", 1'000, 4},
    {"ns", 1, 5},
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (text.empty())
    return std::nullopt;
  std::int64_t total = 0;
  int last_rank = -1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    // A group is <digits><unit>: no sign, no decimal point, no spaces.
    if (!is_digit(text[pos]))
      return std::nullopt;
    std::int64_t value = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      const int digit = text[pos] - '0';
      if (value > (kMax - digit) / 10)
        return std::nullopt;
      value = value * 10 + digit;
      ++pos;
    }
    const std::size_t unit_start = pos;
    while (pos < text.size() && !is_digit(text[pos]))
      ++pos;
    const std::string_view unit_text = text.substr(unit_start, pos - unit_start);
    const DurationUnit* unit = nullptr;
    for (const DurationUnit& candidate : kUnits) {
      if (candidate.name == unit_text)
        unit = &candidate;
    }
    if (unit == nullptr || unit->rank <= last_rank)
      return std::nullopt;
    last_rank = unit->rank;
    if (value > kMax / unit->nanoseconds)
      return std::nullopt;
    const std::int64_t group = value * unit->nanoseconds;
    if (total > kMax - group)
      return std::nullopt;
    total += group;
  }
  return Duration(total);
}

}  // namespace llmprobe
