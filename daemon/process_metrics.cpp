#include "process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

namespace llmprobe {
namespace {

// The fields of /proc/self/stat that the collector needs (proc(5) numbering in comments).
struct ProcStat {
  double utime_ticks = 0;      // (14)
  double stime_ticks = 0;      // (15)
  double starttime_ticks = 0;  // (22) since boot
  double vsize_bytes = 0;      // (23)
  double rss_pages = 0;        // (24)
};

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return text;
}

std::optional<ProcStat> read_proc_stat() {
  auto text = read_file("/proc/self/stat");
  if (!text)
    return std::nullopt;
  // comm (2) is in parentheses and may itself contain spaces and ')': the fields we want start
  // after the last ')'.
  auto close = text->rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream fields(text->substr(close + 1));
  ProcStat stat;
  std::string field;
  for (int number = 3; fields >> field; ++number) {
    double value = std::strtod(field.c_str(), nullptr);
    switch (number) {
      case 14:
        stat.utime_ticks = value;
        break;
      case 15:
        stat.stime_ticks = value;
        break;
      case 22:
        stat.starttime_ticks = value;
        break;
      case 23:
        stat.vsize_bytes = value;
        break;
      case 24:
        stat.rss_pages = value;
        return stat;
      default:
        break;
    }
  }
  return std::nullopt;
}

// Boot time in unix seconds, the "btime" line of /proc/stat (what the Go client uses too).
std::optional<double> boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double value = 0;
      if (in >> value)
        return value;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec)
    return std::nullopt;
  double count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec)
      return std::nullopt;
    ++count;
  }
  // The iterator's own descriptor is counted, as in the Go client.
  return count;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily result;
  result.name = name;
  result.help = help;
  result.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  result.metric.push_back(std::move(metric));
  return result;
}

}  // namespace

ProcessCollector::ProcessCollector()
    : page_size_(::sysconf(_SC_PAGESIZE)), clock_ticks_per_second_(::sysconf(_SC_CLK_TCK)) {
  if (page_size_ <= 0)
    page_size_ = 4096;
  if (clock_ticks_per_second_ <= 0)
    clock_ticks_per_second_ = 100;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const auto ticks = static_cast<double>(clock_ticks_per_second_);
  if (auto stat = read_proc_stat()) {
    families.push_back(
        family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               MetricType::Counter, (stat->utime_ticks + stat->stime_ticks) / ticks));
    families.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                              MetricType::Gauge,
                              stat->rss_pages * static_cast<double>(page_size_)));
    families.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              MetricType::Gauge, stat->vsize_bytes));
    if (auto boot = boot_time_seconds()) {
      families.push_back(family("process_start_time_seconds",
                                "Start time of the process since unix epoch in seconds.",
                                MetricType::Gauge, *boot + stat->starttime_ticks / ticks));
    }
  }
  if (auto fds = open_fds()) {
    families.push_back(
        family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *fds));
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    // RLIM_INFINITY is exported as the huge number it is, like the Go client does.
    families.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                              MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace llmprobe
