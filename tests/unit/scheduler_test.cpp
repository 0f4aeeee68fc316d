// The open-loop scheduler, driven by a fake clock: runs never drift, jitter stays in bounds and
// is deterministic, overlapping runs are skipped (not queued), and a stalled process resumes on
// the grid.
#include "llmprobe/scheduler.hpp"

#include <gtest/gtest.h>

namespace llmprobe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = SchedulerCore::Action::Kind;

const TimePoint kT0 = TimePoint{} + std::chrono::hours(10);

// A fake clock the test moves by hand.
class FakeClock final : public ClockSource {
 public:
  TimePoint now() const override { return now_; }
  void set(TimePoint t) { now_ = t; }

 private:
  TimePoint now_ = kT0;
};

TEST(ProbeSchedule, WithoutJitterRunKIsExactlyOnTheGrid) {
  const ProbeSchedule schedule(kT0, seconds(15), Duration::zero(), 42);
  for (std::uint64_t k : {0ull, 1ull, 7ull, 100000ull}) {
    EXPECT_EQ(schedule.due(k), kT0 + seconds(15) * static_cast<long>(k));
  }
}

TEST(ProbeSchedule, JitterIsWithinBoundsDeterministicAndVaries) {
  const ProbeSchedule a(kT0, seconds(15), seconds(2), 7);
  const ProbeSchedule b(kT0, seconds(15), seconds(2), 7);
  const ProbeSchedule other_seed(kT0, seconds(15), seconds(2), 8);
  int differing = 0;
  for (std::uint64_t k = 0; k < 1000; ++k) {
    const Duration offset = a.due(k) - (kT0 + seconds(15) * static_cast<long>(k));
    EXPECT_GE(offset, Duration::zero());
    EXPECT_LT(offset, seconds(2));
    EXPECT_EQ(a.due(k), b.due(k));
    if (a.due(k) != other_seed.due(k))
      ++differing;
    if (k > 0) {
      EXPECT_GT(a.due(k), a.due(k - 1));
    }
  }
  EXPECT_GT(differing, 990);
}

TEST(SchedulerCore, StartsEachRunOnTimeAndNeverDrifts) {
  FakeClock clock;
  SchedulerCore core;
  core.add_job(ProbeSchedule(kT0, seconds(5), Duration::zero(), 1));
  std::vector<SchedulerCore::Action> actions;
  for (int k = 0; k < 50; ++k) {
    // The timer fires a little late each time and the run takes 3 s: still on the grid.
    ASSERT_EQ(core.next_due(), kT0 + seconds(5) * k);
    clock.set(core.next_due() + milliseconds(7));
    actions.clear();
    core.poll(clock.now(), actions);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0].kind, Kind::start);
    EXPECT_EQ(actions[0].run, static_cast<std::uint64_t>(k));
    EXPECT_EQ(actions[0].scheduled, kT0 + seconds(5) * k);
    clock.set(clock.now() + seconds(3));
    core.finished(0);
  }
}

TEST(SchedulerCore, RunDueWhileInFlightIsSkippedNotQueued) {
  SchedulerCore core;
  core.add_job(ProbeSchedule(kT0, seconds(5), Duration::zero(), 1));
  std::vector<SchedulerCore::Action> actions;
  core.poll(kT0, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_TRUE(core.in_flight(0));
  actions.clear();
  core.poll(kT0 + seconds(5), actions);  // run 0 still in flight
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::skip);
  EXPECT_EQ(actions[0].run, 1u);
  core.finished(0);
  // Finishing does not start the skipped run; the next one starts on its own time.
  EXPECT_EQ(core.next_due(), kT0 + seconds(10));
  actions.clear();
  core.poll(kT0 + seconds(10), actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::start);
  EXPECT_EQ(actions[0].run, 2u);
}

TEST(SchedulerCore, AfterAStallOnlyTheLatestDueRunStarts) {
  SchedulerCore core;
  core.add_job(ProbeSchedule(kT0, seconds(5), Duration::zero(), 1));
  std::vector<SchedulerCore::Action> actions;
  core.poll(kT0 + seconds(17), actions);  // runs 0..3 are due; 0..2 are superseded
  ASSERT_EQ(actions.size(), 4u);
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(actions[k].kind, Kind::skip);
  EXPECT_EQ(actions[3].kind, Kind::start);
  EXPECT_EQ(actions[3].scheduled, kT0 + seconds(15));
  EXPECT_EQ(core.next_due(), kT0 + seconds(20));
}

TEST(SchedulerCore, JobsAreIndependent) {
  SchedulerCore core;
  core.add_job(ProbeSchedule(kT0, seconds(2), Duration::zero(), 1));
  core.add_job(ProbeSchedule(kT0 + milliseconds(500), seconds(3), Duration::zero(), 2));
  std::vector<SchedulerCore::Action> actions;
  core.poll(kT0, actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].job, 0u);
  EXPECT_EQ(core.next_due(), kT0 + milliseconds(500));
  actions.clear();
  core.poll(kT0 + milliseconds(500), actions);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].job, 1u);
  EXPECT_EQ(actions[0].kind, Kind::start);  // job 0 in flight does not block job 1
}

TEST(SchedulerCore, NoJobsMeansNothingIsEverDue) {
  SchedulerCore core;
  EXPECT_EQ(core.next_due(), TimePoint::max());
}

}  // namespace
}  // namespace llmprobe
