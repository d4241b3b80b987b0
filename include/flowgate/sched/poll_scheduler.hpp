#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace flowgate::sched {

/// Poll priority of a node, 1 (first) .. 9 (last): from its category (pump houses and flow
/// meters 3, overhead tanks and sumps 5, borewells 7) unless nodes.priority says otherwise
/// (anything but its default 5); a node in alert is raised by 2.
int poll_priority(std::string_view category, int configured_priority, bool in_alert);

/// Which device to poll next (no I/O, time passed in). Devices wait in a heap by due time;
/// once due they are ready, and ready devices leave in order of their due time plus
/// `priority_step` per priority level below 1. So when the budget cannot poll everything
/// that is due, higher priorities go first, and a lower priority is delayed by at most
/// (priority - 1) * priority_step behind anything due at the same time: it ages, it is
/// never starved. A device is in the scheduler at most once, so it is never polled twice at
/// once: the caller takes it out with pop_ready() and adds it back when its poll completed.
class PollScheduler {
public:
    using Time = std::chrono::steady_clock::time_point;

    struct Entry {
        std::size_t device = 0;
        int priority = 5;
        Time due{};
        Time rank{}; ///< due + (priority - 1) * priority_step: the order among ready devices
    };

    explicit PollScheduler(std::chrono::milliseconds priority_step);

    /// Schedules `device` (an index chosen by the caller) at `due`. Throws std::logic_error
    /// when it is scheduled already.
    void add(std::size_t device, int priority, Time due);
    /// Moves every device due at `now` to the ready ones (pop_ready() does it too).
    void promote(Time now);
    /// The best ready device at `now`, taken out of the scheduler.
    std::optional<Entry> pop_ready(Time now);
    /// Puts back an entry from pop_ready() that could not be polled yet, in its place.
    void restore(Entry entry);

    /// When the next waiting device becomes due (after the last promote()); nullopt when none waits.
    std::optional<Time> next_due() const;
    /// Devices due at the last pop_ready() and not yet taken.
    std::size_t ready() const { return ready_.size(); }
    std::size_t waiting() const { return waiting_.size(); }
    bool scheduled(std::size_t device) const;

    /// Due times spread evenly over the first interval, so `count` devices started together
    /// don't fire at once: the index-th of them is due at now + interval * index / count.
    static Time spread(Time now, std::chrono::milliseconds interval, std::size_t index, std::size_t count);

private:
    std::chrono::milliseconds priority_step_;
    std::vector<Entry> waiting_; ///< min-heap by due
    std::vector<Entry> ready_;   ///< min-heap by rank
    std::vector<bool> scheduled_;
};

} // namespace flowgate::sched
