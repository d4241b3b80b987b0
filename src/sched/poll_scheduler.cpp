#include "flowgate/sched/poll_scheduler.hpp"

#include <algorithm>
#include <stdexcept>

namespace flowgate::sched {
namespace {

using Entry = PollScheduler::Entry;

// std::*_heap keep the greatest first; these put the earliest first, ties by device index
// so that the order is deterministic.
bool later_due(const Entry& a, const Entry& b) { return a.due != b.due ? a.due > b.due : a.device > b.device; }
bool later_rank(const Entry& a, const Entry& b) { return a.rank != b.rank ? a.rank > b.rank : a.device > b.device; }

} // namespace

int poll_priority(std::string_view category, int configured_priority, bool in_alert) {
    int p = configured_priority;
    if (p == 5) {
        if (category == "PumpHouse" || category == "FlowMeter") p = 3;
        if (category == "Borewell" || category == "GovtBorewell") p = 7;
    }
    if (in_alert) p -= 2;
    return std::clamp(p, 1, 9);
}

PollScheduler::PollScheduler(std::chrono::milliseconds priority_step) : priority_step_{priority_step} {}

void PollScheduler::add(std::size_t device, int priority, Time due) {
    if (scheduled(device)) throw std::logic_error{"device scheduled twice"};
    if (device >= scheduled_.size()) scheduled_.resize(device + 1);
    scheduled_[device] = true;
    waiting_.push_back({device, priority, due, due + priority_step_ * std::max(0, priority - 1)});
    std::push_heap(waiting_.begin(), waiting_.end(), later_due);
}

void PollScheduler::promote(Time now) {
    while (!waiting_.empty() && waiting_.front().due <= now) {
        std::pop_heap(waiting_.begin(), waiting_.end(), later_due);
        ready_.push_back(waiting_.back());
        waiting_.pop_back();
        std::push_heap(ready_.begin(), ready_.end(), later_rank);
    }
}

std::optional<Entry> PollScheduler::pop_ready(Time now) {
    promote(now);
    if (ready_.empty()) return std::nullopt;
    std::pop_heap(ready_.begin(), ready_.end(), later_rank);
    auto entry = ready_.back();
    ready_.pop_back();
    scheduled_[entry.device] = false;
    return entry;
}

void PollScheduler::restore(Entry entry) {
    if (scheduled(entry.device)) throw std::logic_error{"device scheduled twice"};
    scheduled_[entry.device] = true;
    ready_.push_back(entry);
    std::push_heap(ready_.begin(), ready_.end(), later_rank);
}

std::optional<PollScheduler::Time> PollScheduler::next_due() const {
    if (waiting_.empty()) return std::nullopt;
    return waiting_.front().due;
}

bool PollScheduler::scheduled(std::size_t device) const {
    return device < scheduled_.size() && scheduled_[device];
}

PollScheduler::Time PollScheduler::spread(Time now, std::chrono::milliseconds interval, std::size_t index,
                                          std::size_t count) {
    if (count == 0) return now;
    return now + interval * static_cast<std::int64_t>(index) / static_cast<std::int64_t>(count);
}

} // namespace flowgate::sched
