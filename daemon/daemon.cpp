#include "llmprobe/daemon.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <exception>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "llmprobe/metrics.hpp"
#include "llmprobe/runner.hpp"
#include "llmprobe/scheduler.hpp"
#include "llmprobe/web_server.hpp"
#include "log_exceptions.hpp"

namespace llmprobe {

namespace asio = boost::asio;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

WebResponse handle_web_request(const WebRequest& request, const MetricsRegistry& metrics) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  const bool known =
      path == "/" || path == "/metrics" || path == "/-/healthy" || path == "/-/ready";
  if (!known)
    return {404, "text/plain; charset=utf-8", "404 page not found\n", ""};
  if (request.method != "GET" && request.method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "405 method not allowed\n", "GET, HEAD"};
  }
  if (path == "/metrics")
    return {200, kMetricsContentType, metrics.serialize(), ""};
  if (path == "/-/healthy")
    return {200, "text/plain; charset=utf-8", "llmprobe is Healthy.\n", ""};
  if (path == "/-/ready")
    return {200, "text/plain; charset=utf-8", "llmprobe is Ready.\n", ""};
  return {200, "text/html; charset=utf-8",
          "<!doctype html><html><head><title>llmprobe</title></head><body>"
          "<h1>llmprobe</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
          ""};
}

// A prefix unique to this process, so request ids from two daemons (or a restart) never collide.
std::string make_request_id_prefix() {
  std::random_device device;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "lp-%08x", static_cast<unsigned>(device()));
  return prefix;
}

}  // namespace

struct Daemon::Impl : std::enable_shared_from_this<Impl> {
  struct Job {
    const Target* target;
    const Workload* workload;
    ProbeSeries* series;
    bool last_ok = true;  // to log recoveries once
  };

  Impl(std::shared_ptr<const Config> cfg, DaemonOptions opts)
      : config(std::move(cfg)),
        options(std::move(opts)),
        metrics(*config),
        runner(io.get_executor(), SteadyClockSource::instance()),
        timer(io),
        grace_timer(io),
        request_id_prefix(make_request_id_prefix()) {
    for (const Target& target : config->targets) {
      if (target.tls.insecure_skip_verify) {
        spdlog::warn(
            "target {}: tls.insecure_skip_verify is on: its certificate is NOT verified, so "
            "anyone on the path can impersonate {}",
            target.name, target.endpoint.host);
      }
      for (const Workload& workload : config->workloads) {
        const auto& wanted = target.workloads;
        if (!wanted.empty() &&
            std::find(wanted.begin(), wanted.end(), workload.name) == wanted.end())
          continue;
        jobs.push_back({&target, &workload, &metrics.series(target.name, workload.name)});
      }
    }
    runner.prepare(config);
    WebServer::Options web_options;
    web_options.listen_address = options.listen_address;
    web = std::make_unique<WebServer>(io, web_options, [this](const WebRequest& request) {
      return handle_web_request(request, metrics);
    });
  }

  std::shared_ptr<const Config> config;
  DaemonOptions options;
  asio::io_context io{1};
  MetricsRegistry metrics;
  ProbeRunner runner;
  SchedulerCore core;
  std::vector<Job> jobs;
  asio::steady_timer timer;
  asio::steady_timer grace_timer;
  std::unique_ptr<WebServer> web;
  std::optional<asio::signal_set> signals;
  std::function<void(const ProbeResult&)> observer;
  std::string request_id_prefix;
  std::uint64_t next_request = 0;
  std::size_t in_flight = 0;
  bool stopping = false;
  bool shut_down = false;  // finish_shutdown ran: nothing may start new work
  std::vector<SchedulerCore::Action> actions;

  std::string next_request_id() { return request_id_prefix + "-" + std::to_string(next_request++); }

  void spawn(asio::awaitable<void> task, const char* what) {
    asio::co_spawn(io, std::move(task), [what](std::exception_ptr error) {
      if (!error)
        return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::error("{} failed: {}", what, e.what());
      }
    });
  }

  asio::awaitable<void> schedule_loop() {
    auto self = shared_from_this();
    const TimePoint t0 = SteadyClock::now();
    for (const Job& job : jobs) {
      const std::uint64_t seed =
          std::hash<std::string>{}(job.target->name + "\n" + job.workload->name);
      core.add_job(ProbeSchedule(t0, job.workload->interval, job.workload->jitter, seed));
    }
    while (!stopping) {
      timer.expires_at(core.next_due());
      co_await timer.async_wait(kNoThrow);
      if (stopping)
        break;
      actions.clear();
      core.poll(SteadyClock::now(), actions);
      for (const SchedulerCore::Action& action : actions) {
        Job& job = jobs[action.job];
        if (action.kind == SchedulerCore::Action::Kind::skip) {
          job.series->run_skipped();
          spdlog::debug("run skipped: target={} workload={} run={} (previous run still in flight)",
                        job.target->name, job.workload->name, action.run);
          continue;
        }
        spawn(run_probe(action.job, action.scheduled), "probe");
      }
    }
  }

  asio::awaitable<void> run_probe(std::size_t index, TimePoint scheduled) {
    auto self = shared_from_this();
    Job& job = jobs[index];
    ProbeSpec spec{config, job.target, job.workload, next_request_id(), scheduled};
    ++in_flight;
    job.series->request_started();
    StreamRecord record;
    try {
      record = co_await runner.run(spec);
    } catch (const std::exception& e) {
      // Only resource exhaustion gets here; still count the run so nothing is lost silently.
      record.error = ErrorReason::protocol;
      record.error_detail = std::string("internal error: ") + e.what();
    }
    const Measurement measurement = measure(record);
    job.series->observe(measurement, std::chrono::system_clock::now());
    job.series->request_finished();
    --in_flight;
    core.finished(index);
    log_result(job, spec.request_id, record, measurement);
    if (observer) {
      observer(
          ProbeResult{job.target->name, job.workload->name, spec.request_id, record, measurement});
    }
    if (stopping && in_flight == 0)
      finish_shutdown();
  }

  void log_result(Job& job, const std::string& request_id, const StreamRecord& record,
                  const Measurement& m) {
    if (m.error) {
      spdlog::warn(
          "probe failed: target={} workload={} reason={} request_id={} detail=\"{}\"",
          job.target->name, job.workload->name, to_string(*m.error), request_id,
          record.error_detail.empty() ? std::string(to_string(*m.error)) : record.error_detail);
      job.last_ok = false;
      return;
    }
    if (!job.last_ok) {
      spdlog::info("probe recovered: target={} workload={}", job.target->name, job.workload->name);
      job.last_ok = true;
    }
    spdlog::debug(
        "probe ok: target={} workload={} request_id={} ttft={:.6f}s e2e={:.6f}s tokens={}{}",
        job.target->name, job.workload->name, request_id, to_seconds(*m.ttft), to_seconds(*m.e2e),
        m.output_tokens, m.output_tokens_estimated ? " (estimated)" : "");
  }

  // The first SIGINT/SIGTERM starts a graceful stop; a second one aborts in-flight requests at
  // once.
  void wait_for_signal() {
    signals->async_wait([weak = weak_from_this()](boost::system::error_code ec, int signal) {
      auto self = weak.lock();
      if (ec || !self)
        return;
      spdlog::info("received signal {}", signal);
      if (self->stopping) {
        spdlog::warn("second signal: aborting {} request(s) now", self->in_flight);
        self->runner.abort_all();
      } else {
        self->begin_shutdown();
      }
      // Once shut down, a pending wait would keep io.run() from ever returning.
      if (!self->shut_down)
        self->wait_for_signal();
    });
  }

  void begin_shutdown() {
    if (stopping)
      return;
    stopping = true;
    spdlog::info("stopping: {} request(s) in flight, grace {}s", in_flight,
                 to_seconds(config->global.shutdown_grace));
    timer.cancel();
    if (in_flight == 0) {
      finish_shutdown();
      return;
    }
    grace_timer.expires_after(config->global.shutdown_grace);
    grace_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec)
        return;
      spdlog::warn("shutdown grace over: aborting {} request(s)", self->in_flight);
      self->runner.abort_all();
    });
  }

  void finish_shutdown() {
    shut_down = true;
    grace_timer.cancel();
    if (signals) {
      boost::system::error_code ignored;
      signals->clear(ignored);   // back to the default action: a late signal ends the process
      signals->cancel(ignored);  // the pending wait would keep io.run() from returning
    }
    web->stop();
  }
};

Daemon::Daemon(std::shared_ptr<const Config> config, DaemonOptions options)
    : impl_(std::make_shared<Impl>(std::move(config), std::move(options))) {}

Daemon::~Daemon() = default;

void Daemon::set_result_observer(std::function<void(const ProbeResult&)> observer) {
  impl_->observer = std::move(observer);
}

int Daemon::run() {
  Impl& impl = *impl_;
  if (impl.options.handle_signals) {
    impl.signals.emplace(impl.io, SIGINT, SIGTERM);
    impl.wait_for_signal();
  }
  spdlog::info("llmprobe {} listening on {} (port {}), probing {} target(s) x workload(s) from {}",
               build_info().version, impl.options.listen_address, impl.web->port(),
               impl.jobs.size(), impl.config->source);
  impl.spawn(impl.schedule_loop(), "scheduler");
  impl.io.run();
  spdlog::info("stopped");
  return 0;
}

void Daemon::stop() {
  // A weak reference: a handler that never runs (stop() after run() returned) must not keep the
  // Impl, which owns the io_context holding the handler, alive forever.
  asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_)] {
    if (auto self = weak.lock())
      self->begin_shutdown();
  });
}

std::uint16_t Daemon::web_port() const {
  return impl_->web->port();
}

std::string Daemon::metrics_text() const {
  return impl_->metrics.serialize();
}

}  // namespace llmprobe
