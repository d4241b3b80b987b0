#include "flowgate/sources/thingspeak_source.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "flowgate/bus/redis_budget.hpp"
#include "flowgate/config/config.hpp"
#include "flowgate/normalize/normalizer.hpp"
#include "flowgate/registry/registry_watcher.hpp"
#include "flowgate/resilience/jittered_backoff.hpp"
#include "flowgate/sched/poll_scheduler.hpp"
#include "flowgate/sources/thingspeak_poll.hpp"
#include "flowgate/thingspeak/http_client.hpp"

namespace flowgate::sources {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using resilience::BreakerState;

namespace {

/// What log lines, the config and Redis call a key: the host for public channels, else a
/// hash that tells keys apart without revealing them.
std::string key_id(const std::optional<std::string>& key, const std::string& host) {
    if (!key) return host;
    std::uint64_t h = 14695981039346656037u; // FNV-1a
    for (const unsigned char c : *key) h = (h ^ c) * 1099511628211u;
    char out[24];
    std::snprintf(out, sizeof out, "key-%016llx", static_cast<unsigned long long>(h));
    return out;
}

} // namespace

ThingSpeakSourceOptions ThingSpeakSourceOptions::from(const config::ThingSpeakConfig& ts, std::string host) {
    ThingSpeakSourceOptions o;
    o.host = std::move(host);
    o.max_concurrent_polls = ts.max_concurrent_polls;
    o.budget.rate = static_cast<double>(ts.budget_per_minute) / 60.0;
    o.budget.burst = static_cast<double>(ts.budget_burst);
    for (const auto& [id, budget] : ts.key_budgets) {
        o.key_budgets[id] = {.rate = static_cast<double>(budget.per_minute) / 60.0,
                             .burst = static_cast<double>(budget.burst.value_or(ts.budget_burst))};
    }
    o.breaker.failure_threshold = static_cast<unsigned>(ts.breaker_failures);
    o.breaker.cool_down = ts.breaker_cool_down;
    o.breaker.max_cool_down = ts.breaker_max_cool_down;
    o.backoff_max = ts.backoff_max;
    o.priority_step = ts.priority_step;
    o.history = ts.history;
    return o;
}

struct ThingSpeakSource::Impl : std::enable_shared_from_this<Impl> {
    struct Budget {
        std::string id;
        resilience::TokenBucket bucket;
        /// No token is there before this: the last take said so.
        SteadyClock::time_point retry_at{};
    };

    struct Device {
        Device(ThingSpeakDevice device, std::optional<Seconds> history_from, Budget& b, milliseconds backoff_max)
            : poll{std::move(device), history_from}, budget{b},
              backoff{std::chrono::duration_cast<milliseconds>(poll.device().polling_interval), backoff_max},
              priority{sched::poll_priority(poll.device().category, poll.device().priority, false)} {}

        ThingSpeakPoll poll;
        Budget& budget;
        resilience::JitteredBackoff backoff;
        int priority;
        bool waiting_for_budget = false;
        bool timed_out = false; ///< its last poll ran into the request timeout
        bool holds_timed_out_slot = false; ///< it holds a slot, counted among the timed-out ones
        std::string last_failure; ///< the failure already logged at warn while failing
        /// No longer polled (deleted, disabled, or replaced by a Device of another channel or
        /// key): dropped when it leaves the scheduler, its poll in flight completes into nothing.
        bool removed = false;
    };

    thingspeak::HttpClient& client;
    bus::RedisBudget& shared_budget;
    TelemetrySink& sink;
    obs::Logger log;
    ThingSpeakSourceOptions options;
    std::map<std::string, Budget> budgets; ///< by key, or by host for public channels
    std::vector<std::unique_ptr<Device>> devices;
    /// The Device that polls each node now, by node id.
    std::map<DeviceId, std::size_t> live;
    sched::PollScheduler scheduler;
    resilience::CircuitBreaker breaker;
    asio::steady_timer timer;
    std::optional<SteadyClock::time_point> armed_at; ///< when the pending wait of `timer` ends
    std::mt19937_64 random{std::random_device{}()};
    Stats stats;
    /// Slots held: by polls in flight and by devices waiting for the shared budget's answer.
    std::size_t slots_held = 0;
    /// Of them, by devices whose last poll timed out.
    std::size_t timed_out_slots = 0;
    bool stopped = false;
    /// Polls whose entries the storage queue could not all take, since the last warning.
    struct {
        std::uint64_t polls = 0, entries = 0;
        std::optional<SteadyClock::time_point> warned_at;
    } queue_full;

    Impl(asio::io_context& io, thingspeak::HttpClient& c, bus::RedisBudget& b, TelemetrySink& s, obs::Logger l,
         ThingSpeakSourceOptions o)
        : client{c}, shared_budget{b}, sink{s}, log{std::move(l)}, options{std::move(o)}, scheduler{options.priority_step},
          breaker{options.breaker}, timer{io} {}

    /// Whether `device`'s mappings can be used; when not, a warning and an error row say why
    /// and what happens instead.
    bool valid(const ThingSpeakDevice& device, bool has_previous, Seconds now) {
        const auto problem = normalize::mapping_problem(device);
        if (problem.empty()) return true;
        const std::string then = has_previous ? "its previous configuration keeps running" : "it is not polled";
        log.warn("device mappings refused", {{"device_id", device.device_id},
                                             {"channel_id", device.channel_id},
                                             {"error", problem},
                                             {"then", then}});
        sink.submit_error(device_error(device, ErrorStage::schema, "mapping refused: " + problem + "; " + then, now));
        return false;
    }

    /// Polls `device` from now on, first at `due`.
    void add(ThingSpeakDevice device, SteadyClock::time_point due) {
        const auto id = device.device_id;
        auto& budget = budget_for(device.read_api_key);
        std::optional<Seconds> history_from;
        if (options.history > milliseconds{0}) {
            history_from = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now() - options.history);
        }
        devices.push_back(std::make_unique<Device>(std::move(device), history_from, budget, options.backoff_max));
        live[id] = devices.size() - 1;
        if (due != SteadyClock::time_point{}) scheduler.add(devices.size() - 1, devices.back()->priority, due);
    }

    Budget& budget_for(const std::optional<std::string>& key) {
        const auto name = key.value_or(std::string{});
        auto it = budgets.find(name);
        if (it == budgets.end()) {
            auto id = key_id(key, options.host);
            const auto& limits = limits_of(id);
            it = budgets.emplace(name, Budget{std::move(id), {limits, SteadyClock::now()}}).first;
        }
        return it->second;
    }

    /// The configured limits of the key named `id`.
    const resilience::TokenBucketOptions& limits_of(const std::string& id) const {
        const auto own = options.key_budgets.find(id);
        return own == options.key_budgets.end() ? options.budget : own->second;
    }

    /// Sends every poll that is due and allowed, then sleeps until something can change.
    void pump() {
        if (stopped) return;
        const auto now = SteadyClock::now();
        // Even when nothing may be sent, so that the wake-up below is in the future.
        scheduler.promote(now);
        std::vector<sched::PollScheduler::Entry> deferred;
        std::optional<SteadyClock::time_point> budget_wake;
        const auto wait_for_budget = [&](Device& d, sched::PollScheduler::Entry entry) {
            note_waiting_for_budget(d);
            budget_wake = budget_wake ? std::min(*budget_wake, d.budget.retry_at) : d.budget.retry_at;
            deferred.push_back(entry);
        };
        while (slots_held < options.max_concurrent_polls && breaker.would_allow(now)) {
            auto entry = scheduler.pop_ready(now);
            if (!entry) break;
            auto& d = *devices[entry->device];
            if (d.removed) continue;
            // Devices whose last poll timed out may hold half the slots: a few hung channels
            // must not keep the healthy ones waiting.
            if (d.timed_out && timed_out_slots >= std::max<std::size_t>(1, options.max_concurrent_polls / 2)) {
                deferred.push_back(*entry);
                continue;
            }
            if (now < d.budget.retry_at) {
                wait_for_budget(d, *entry);
                continue;
            }
            hold_slot(d);
            const auto decision =
                shared_budget.take(d.budget.id, d.budget.bucket, [self = shared_from_this(), entry = *entry](auto answer) {
                    self->on_budget_answer(entry, answer);
                });
            if (!decision) continue; // Redis decides; the slot stays held meanwhile
            if (!decision->granted) {
                release_slot(d);
                d.budget.retry_at = decision->retry_at;
                wait_for_budget(d, *entry);
                continue;
            }
            send(entry->device, now);
        }
        for (const auto& entry : deferred) scheduler.restore(entry);

        std::optional<SteadyClock::time_point> wake = scheduler.next_due();
        const auto earliest = [&wake](SteadyClock::time_point at) { wake = wake ? std::min(*wake, at) : at; };
        if (budget_wake) earliest(*budget_wake);
        if (scheduler.ready() > 0 && breaker.state() == BreakerState::open) earliest(breaker.reopens_at());
        // With every slot busy, or the probe in flight, a completion pumps again. Re-arming
        // costs a syscall and a cancelled wait, and an earlier wake-up already pending pumps
        // and arms again anyway.
        if (!wake || (armed_at && *armed_at <= *wake)) return;
        armed_at = *wake;
        timer.expires_at(*wake);
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            self->armed_at.reset();
            self->pump();
        });
    }

    void note_waiting_for_budget(Device& d) {
        if (!d.waiting_for_budget) ++stats.delayed_by_budget;
        d.waiting_for_budget = true;
    }

    void hold_slot(Device& d) {
        ++slots_held;
        d.holds_timed_out_slot = d.timed_out;
        timed_out_slots += d.timed_out;
    }

    void release_slot(Device& d) {
        --slots_held;
        timed_out_slots -= d.holds_timed_out_slot;
        d.holds_timed_out_slot = false;
    }

    /// The shared budget answered a take.
    void on_budget_answer(sched::PollScheduler::Entry entry, bus::RedisBudget::Decision decision) {
        auto& d = *devices[entry.device];
        if (stopped) return;
        const auto now = SteadyClock::now();
        if (d.removed) {
            release_slot(d);
            pump();
            return;
        }
        if (decision.granted && breaker.would_allow(now)) {
            send(entry.device, now);
            pump();
            return;
        }
        release_slot(d);
        if (!decision.granted) {
            d.budget.retry_at = decision.retry_at;
            note_waiting_for_budget(d);
        }
        // Refused, or granted while the breaker opened (or its probe left): then the token is
        // spent, and the poll waits like the others.
        scheduler.restore(entry);
        pump();
    }

    /// Sends the poll of a device that has its slot and its token.
    void send(std::size_t index, SteadyClock::time_point now) {
        devices[index]->waiting_for_budget = false;
        const auto was = breaker.state();
        breaker.allow(now);
        if (was != breaker.state()) {
            log.info("circuit breaker half-open: sending one probe request",
                     {{"host", options.host}, {"device_id", devices[index]->poll.device().device_id}});
        }
        poll(index);
    }

    void poll(std::size_t index) {
        ++stats.polls;
        ++stats.polls_in_flight;
        client.get(devices[index]->poll.target(), [self = shared_from_this(), index,
                                                   sent = SteadyClock::now()](thingspeak::FetchResult result) {
            --self->stats.polls_in_flight;
            self->stats.poll_duration.observe(SteadyClock::now() - sent);
            self->release_slot(*self->devices[index]);
            self->devices[index]->timed_out = result.error == thingspeak::FetchErrorKind::timeout;
            if (self->stopped) return;
            if (!self->devices[index]->removed) self->on_result(index, std::move(result));
            self->pump();
        });
    }

    void on_result(std::size_t index, thingspeak::FetchResult result) {
        auto& d = *devices[index];
        const auto& dev = d.poll.device();
        const auto now = SteadyClock::now();
        update_source_state(d, result, now);

        const bool was_backfilling = d.poll.backfilling();
        auto outcome = d.poll.on_response(result, std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
        if (outcome.new_epoch) {
            log.warn("channel entry ids went backwards: it was cleared, reading it as a new epoch",
                     {{"device_id", dev.device_id}, {"channel_id", dev.channel_id}, {"epoch", d.poll.cursor().channel_epoch}});
        }
        std::size_t accepted = 0;
        for (auto& entry : outcome.entries) {
            if (!sink.submit(entry)) break;
            ++accepted;
        }
        if (accepted < outcome.entries.size()) note_queue_full(outcome.entries.size() - accepted, now);
        const auto before = d.poll.cursor();
        d.poll.commit(outcome, accepted);
        if (d.poll.cursor() != before) sink.submit_cursor(dev.device_id, d.poll.cursor());
        if (d.poll.backfilling() != was_backfilling) {
            // Ended: the gap was closed (the cursor moved past it), or will be read again.
            log.info(was_backfilling ? "backfill ended" : "backfilling: a read did not reach back to the cursor, paging back",
                     {{"device_id", dev.device_id}, {"channel_id", dev.channel_id},
                      {"cursor_entry_id", d.poll.cursor().entry_id.value_or(0)}});
        }
        stats.entries += accepted;
        report_health(dev, result, outcome);
        report_errors(d, outcome);

        // More to read now, unless the storage queue is full: then an interval later.
        auto next = outcome.read_now && accepted == outcome.entries.size() ? now : now + next_interval(dev.polling_interval);
        if (!outcome.fetched) {
            ++stats.failed_polls;
            // The device's own failures back off; the server's are the breaker's business, and
            // its devices resume their interval as soon as it closes.
            if (!result.source_failure() && result.error != thingspeak::FetchErrorKind::cancelled) {
                const auto delay = d.backoff.next(random);
                next = now + delay;
                log.info("device backing off", {{"device_id", dev.device_id},
                                                 {"channel_id", dev.channel_id},
                                                 {"failures", d.backoff.failures()},
                                                 {"retry_in_ms", delay.count()}});
            }
        } else {
            if (!d.last_failure.empty()) {
                log.info("channel answers again", {{"device_id", dev.device_id}, {"channel_id", dev.channel_id}});
            }
            d.backoff.reset();
            d.last_failure.clear();
        }
        log.debug("polled", {{"device_id", dev.device_id},
                             {"channel_id", dev.channel_id},
                             {"new_entries", accepted},
                             {"elapsed_ms", result.elapsed.count()}});
        scheduler.add(index, d.priority, next);
    }

    /// A full storage queue is one warning per 10 s with what it deferred since, not a line
    /// per poll (a catch-up of thousands of devices would bury everything else).
    void note_queue_full(std::size_t deferred, SteadyClock::time_point now) {
        ++queue_full.polls;
        queue_full.entries += deferred;
        if (queue_full.warned_at && now - *queue_full.warned_at < std::chrono::seconds{10}) return;
        queue_full.warned_at = now;
        log.warn("storage queue full: entries will be read again on a later poll",
                 {{"polls", queue_full.polls}, {"entries_deferred", queue_full.entries}});
        queue_full.polls = queue_full.entries = 0;
    }

    milliseconds next_interval(std::chrono::seconds interval) {
        const auto base = std::chrono::duration_cast<milliseconds>(interval);
        std::uniform_int_distribution<std::int64_t> pick{0, static_cast<std::int64_t>(base.count() * options.jitter)};
        return base + milliseconds{pick(random)};
    }

    /// Feeds the answer to the host's breaker and the key's budget, and logs their changes.
    void update_source_state(Device& d, const thingspeak::FetchResult& result, SteadyClock::time_point now) {
        if (result.error == thingspeak::FetchErrorKind::cancelled) {
            breaker.on_abandoned();
            return;
        }
        const auto was = breaker.state();
        if (result.source_failure()) {
            breaker.on_failure(now);
        } else {
            breaker.on_success();
        }
        if (breaker.state() != was) {
            const auto last_error = result.error == thingspeak::FetchErrorKind::none ? "HTTP " + std::to_string(result.status)
                                                                                     : std::string{to_string(result.error)};
            if (breaker.state() == BreakerState::open && was == BreakerState::closed) {
                sink.source_state(false, options.host + " fails: " + std::to_string(breaker.consecutive_failures()) +
                                             " failures in a row, the last " + last_error);
            } else if (breaker.state() == BreakerState::closed) {
                sink.source_state(true, options.host + " answers again");
            }
            if (breaker.state() == BreakerState::open) {
                log.warn("circuit breaker opened: no requests to the host until the cool-down passed",
                         {{"host", options.host},
                          {"failures", breaker.consecutive_failures()},
                          {"cool_down_ms", breaker.cool_down().count()},
                          {"last_error", last_error}});
            } else if (breaker.state() == BreakerState::closed) {
                log.info("circuit breaker closed: the host answers again", {{"host", options.host}});
            }
        }

        auto& bucket = d.budget.bucket;
        if (result.throttled()) {
            const auto rate = bucket.rate();
            bucket.on_throttled(now, result.retry_after);
            if (result.retry_after) shared_budget.pause(d.budget.id, bucket, *result.retry_after);
            // At its floor, a rate that did not change is not news.
            if (bucket.rate() != rate || result.retry_after) log.warn("budget tightened", {{"key_id", d.budget.id},
                                          {"http_status", result.status},
                                          {"requests_per_minute", bucket.rate() * 60},
                                          {"retry_after_s", result.retry_after ? result.retry_after->count() : 0}});
        } else if (result.error == thingspeak::FetchErrorKind::none && bucket.on_success()) {
            log.info("budget recovered", {{"key_id", d.budget.id}, {"requests_per_minute", bucket.rate() * 60}});
        }
    }

    /// What the poll says about the device: the verdict of its own fetch (a failure of the
    /// source is the breaker's), and whether its channel still has the labels its mappings expect.
    void report_health(const ThingSpeakDevice& dev, const thingspeak::FetchResult& result, const PollOutcome& outcome) {
        if (outcome.fetched) {
            sink.fetch_completed(dev.device_id, FetchVerdict::ok, {});
        } else if (!result.source_failure() && result.error != thingspeak::FetchErrorKind::cancelled) {
            const auto auth = std::find_if(outcome.errors.begin(), outcome.errors.end(),
                                           [](const auto& e) { return e.stage == ErrorStage::auth; });
            const auto why = auth != outcome.errors.end() ? auth
                             : outcome.errors.empty()     ? outcome.errors.end()
                                                          : outcome.errors.begin();
            sink.fetch_completed(dev.device_id, auth != outcome.errors.end() ? FetchVerdict::auth_failed : FetchVerdict::failed,
                                 why != outcome.errors.end() ? std::string_view{why->message} : "the fetch failed");
        }
        if (outcome.schema_checked) sink.schema_checked(dev.device_id, outcome.schema_problem);
    }

    void report_errors(Device& d, PollOutcome& outcome) {
        const auto& dev = d.poll.device();
        for (auto& error : outcome.errors) {
            // A channel that keeps failing the same way is logged once at warn, then at debug
            // until it recovers; every failure is still a telemetry_errors row.
            const bool repeated = !outcome.fetched && error.message == d.last_failure;
            if (!outcome.fetched) d.last_failure = error.message;
            ++stats.errors;
            if (repeated) {
                log.debug("telemetry error (repeated)", {{"device_id", dev.device_id},
                                                         {"channel_id", dev.channel_id},
                                                         {"stage", to_string(error.stage)},
                                                         {"error", error.message}});
            } else if (error.http_status) {
                log.warn("telemetry error", {{"device_id", dev.device_id},
                                              {"channel_id", dev.channel_id},
                                              {"stage", to_string(error.stage)},
                                              {"http_status", *error.http_status},
                                              {"error", error.message}});
            } else {
                log.warn("telemetry error", {{"device_id", dev.device_id},
                                              {"channel_id", dev.channel_id},
                                              {"stage", to_string(error.stage)},
                                              {"entry_id", error.entry_id.value_or(0)},
                                              {"error", error.message}});
            }
            sink.submit_error(std::move(error));
        }
    }
};

ThingSpeakSource::ThingSpeakSource(asio::io_context& ioc, thingspeak::HttpClient& client, bus::RedisBudget& shared_budget,
                                   TelemetrySink& sink, obs::Logger log, std::vector<ThingSpeakDevice> devices,
                                   ThingSpeakSourceOptions options)
    : impl_{std::make_shared<Impl>(ioc, client, shared_budget, sink, std::move(log), std::move(options))} {
    const auto wall = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    for (auto& device : devices) {
        if (impl_->valid(device, false, wall)) impl_->add(std::move(device), {}); // scheduled by start()
    }
}

std::vector<ThingSpeakDevice> ThingSpeakSource::devices() const {
    std::vector<ThingSpeakDevice> out;
    for (const auto& [id, index] : impl_->live) out.push_back(impl_->devices[index]->poll.device());
    return out;
}

ThingSpeakSource::Applied ThingSpeakSource::apply(const registry::RegistryUpdate& update) {
    auto& m = *impl_;
    Applied applied;
    std::map<DeviceId, const ThingSpeakDevice*> rows;
    for (const auto& d : update.devices) rows[d.device_id] = &d;
    std::set<DeviceId> ids = update.changed;
    if (update.all) {
        for (const auto& [id, index] : m.live) ids.insert(id);
        for (const auto& [id, row] : rows) ids.insert(id);
    }
    const auto now = SteadyClock::now();
    const auto wall = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    for (const auto id : ids) {
        const auto row = rows.find(id);
        const auto current = m.live.find(id);
        Impl::Device* d = current == m.live.end() ? nullptr : m.devices[current->second].get();
        if (row == rows.end()) {
            if (!d) continue;
            d->removed = true;
            m.live.erase(current);
            applied.removed.push_back(id);
            m.log.info("device no longer polled: deleted, disabled or without a channel", {{"device_id", id}});
            continue;
        }
        auto next = *row->second;
        if (!m.valid(next, d != nullptr, wall)) continue;
        if (!d) {
            m.log.info("device added", {{"device_id", id}, {"channel_id", next.channel_id}});
            applied.tracked.push_back(next);
            m.add(std::move(next), now);
            continue;
        }
        const auto& was = d->poll.device();
        next.cursor = was.cursor;
        if (next == was) continue;
        applied.tracked.push_back(next);
        if (next.channel_id == was.channel_id && next.read_api_key == was.read_api_key) {
            m.log.info("device reconfigured", {{"device_id", id}, {"channel_id", next.channel_id}});
            d->priority = sched::poll_priority(next.category, next.priority, false);
            d->backoff = resilience::JitteredBackoff{std::chrono::duration_cast<milliseconds>(next.polling_interval),
                                                     m.options.backoff_max};
            d->poll.reconfigure(std::move(next));
            continue;
        }
        // Another channel starts from scratch; another key (and its budget) keeps the cursor.
        m.log.info("device moved to another channel or key", {{"device_id", id}, {"channel_id", next.channel_id}});
        if (next.channel_id != was.channel_id) next.cursor = {};
        d->removed = true;
        m.add(std::move(next), now);
    }
    m.pump();
    return applied;
}

ThingSpeakSource::~ThingSpeakSource() { stop(); }

void ThingSpeakSource::start() {
    const auto now = SteadyClock::now();
    const auto n = impl_->devices.size();
    for (std::size_t i = 0; i < n; ++i) {
        const auto& d = *impl_->devices[i];
        const auto interval = std::chrono::duration_cast<milliseconds>(d.poll.device().polling_interval);
        impl_->scheduler.add(i, d.priority, sched::PollScheduler::spread(now, interval, i, n));
    }
    // Which id stands for which devices' key: what thingspeak.key_budgets is written with.
    std::map<std::string, std::string> devices_of;
    for (const auto& d : impl_->devices) {
        auto& list = devices_of[d->budget.id];
        list += (list.empty() ? "" : ",") + std::to_string(d->poll.device().device_id);
    }
    for (const auto& [key, budget] : impl_->budgets) {
        impl_->log.info("API key budget", {{"key_id", budget.id},
                                           {"device_ids", devices_of[budget.id]},
                                           {"requests_per_minute", budget.bucket.rate() * 60},
                                           {"burst", budget.bucket.burst()}});
    }
    for (const auto& [id, limits] : impl_->options.key_budgets) {
        const bool used = std::any_of(impl_->budgets.begin(), impl_->budgets.end(),
                                      [&id](const auto& b) { return b.second.id == id; });
        if (!used) {
            impl_->log.warn("thingspeak.key_budgets names a key no device uses: check the key id in the log lines",
                            {{"key_id", id}});
        }
    }
    impl_->log.info("polling ThingSpeak devices", {{"devices", n},
                                                   {"api_keys", impl_->budgets.size()},
                                                   {"max_concurrent_polls", impl_->options.max_concurrent_polls},
                                                   {"budget_per_minute", impl_->options.budget.rate * 60}});
    impl_->pump();
}

void ThingSpeakSource::stop() {
    impl_->stopped = true;
    impl_->timer.cancel();
}

void ThingSpeakSource::set_budgets(resilience::TokenBucketOptions budget,
                                   std::map<std::string, resilience::TokenBucketOptions> key_budgets) {
    auto& impl = *impl_;
    impl.options.budget = budget;
    impl.options.key_budgets = std::move(key_budgets);
    const auto now = SteadyClock::now();
    for (auto& [name, b] : impl.budgets) {
        const auto& limits = impl.limits_of(b.id);
        if (limits.rate == b.bucket.configured_rate() && limits.burst == b.bucket.burst()) continue;
        b.bucket.set_limits(limits, now);
        b.retry_at = {};
        impl.log.info("budget changed", {{"key_id", b.id}, {"per_minute", limits.rate * 60}, {"burst", limits.burst}});
    }
    // Devices waiting for a token may get one sooner now.
    impl.pump();
}

ThingSpeakSource::Stats ThingSpeakSource::stats() const {
    auto s = impl_->stats;
    s.polls_due = impl_->scheduler.ready();
    s.backing_off = static_cast<std::size_t>(std::count_if(impl_->devices.begin(), impl_->devices.end(), [](const auto& d) {
        return !d->removed && d->backoff.failures() > 0;
    }));
    s.devices = impl_->live.size();
    s.breaker = impl_->breaker.state();
    s.budget_shared = impl_->shared_budget.shared();
    const auto now = SteadyClock::now();
    for (const auto& [name, b] : impl_->budgets) s.budgets.push_back({b.id, b.bucket.tokens(now), b.bucket.rate()});
    return s;
}

} // namespace flowgate::sources
