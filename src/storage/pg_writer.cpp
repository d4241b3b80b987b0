#include "flowgate/storage/pg_writer.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "batch_writer.hpp"
#include "pg_support.hpp"

namespace flowgate::storage {
namespace {

using Clock = std::chrono::steady_clock;
using detail::WriterItem;

// Rejected items are logged one by one up to this many per batch, then summed up, so one bad
// device cannot flood the log.
constexpr std::size_t max_rejections_logged = 5;

std::string_view kind_name(detail::PgFailure kind) {
    switch (kind) {
    case detail::PgFailure::connection: return "connection";
    case detail::PgFailure::data: return "data";
    case detail::PgFailure::other: return "other";
    }
    return "other";
}

} // namespace

struct PgWriter::Impl {
    Impl(PgWriterOptions opts, obs::Logger log, StoredHandler handler)
        : options{std::move(opts)},
          connect_url{detail::with_connect_timeout(options.url, options.connect_timeout)},
          shown_url{obs::redact_secrets(options.url)},
          logger{std::move(log)},
          on_stored{std::move(handler)} {
        options.batch_size = std::max<std::size_t>(options.batch_size, 1);
        options.queue_capacity = std::max<std::size_t>(options.queue_capacity, 1);
        options.retry_backoff_min = std::max(options.retry_backoff_min, std::chrono::milliseconds{1});
        options.retry_backoff_max = std::max(options.retry_backoff_max, options.retry_backoff_min);
    }

    /// `headroom` items beyond queue_capacity may be taken (health changes: few, and never
    /// to be refused for the entries queued before them).
    bool push(std::vector<WriterItem> items, std::size_t headroom = 0);
    void run();
    // Waits for work and moves up to batch_size items into `batch`; false when stopped and
    // nothing is left.
    bool take_batch(std::vector<WriterItem>& batch);
    // Sleeps `backoff`, or less when stop()'s deadline comes first; false when it has passed.
    bool pause(std::chrono::milliseconds backoff);
    bool past_deadline() const;  // mutex held
    void finish_batch(const std::vector<WriterItem>& batch, detail::BatchOutcome outcome);
    void drop_everything(std::size_t in_hand);

    PgWriterOptions options;
    const std::string connect_url;
    const std::string shown_url;
    obs::Logger logger;
    StoredHandler on_stored;

    mutable std::mutex mutex;
    std::condition_variable wake;
    std::deque<WriterItem> queue;
    std::size_t in_flight = 0;  // taken by the thread, not yet written
    bool stopping = false;
    Clock::time_point give_up_at;
    Stats stats;
    std::mutex join_mutex;  // two threads calling stop() at once must not both join
    std::thread thread;
};

bool PgWriter::Impl::push(std::vector<WriterItem> items, std::size_t headroom) {
    bool notify = false;
    {
        std::lock_guard lock{mutex};
        if (stopping) return false;
        if (queue.size() + in_flight + items.size() > options.queue_capacity + headroom) {
            ++stats.queue_full_rejections;
            return false;
        }
        const std::size_t before = queue.size();
        for (auto& item : items) queue.push_back(std::move(item));
        // Only the transitions the thread waits for: work appeared, or a batch filled up.
        notify = before == 0 || (before < options.batch_size && queue.size() >= options.batch_size);
    }
    if (notify) wake.notify_one();
    return true;
}

bool PgWriter::Impl::past_deadline() const { return stopping && Clock::now() >= give_up_at; }

bool PgWriter::Impl::take_batch(std::vector<WriterItem>& batch) {
    std::unique_lock lock{mutex};
    wake.wait(lock, [&] { return !queue.empty() || stopping; });
    if (queue.empty()) return false;
    if (!stopping && queue.size() < options.batch_size) {
        wake.wait_until(lock, Clock::now() + options.batch_interval,
                        [&] { return queue.size() >= options.batch_size || stopping; });
    }
    const std::size_t count = std::min(queue.size(), options.batch_size);
    batch.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
    }
    in_flight = count;
    return true;
}

bool PgWriter::Impl::pause(std::chrono::milliseconds backoff) {
    std::unique_lock lock{mutex};
    const auto wake_at = Clock::now() + backoff;
    // Submissions and stop() wake the condition variable; recompute, since stop() may have
    // brought the deadline forward.
    for (;;) {
        const auto until = stopping ? std::min(wake_at, give_up_at) : wake_at;
        if (Clock::now() >= until) break;
        wake.wait_until(lock, until);
    }
    return !past_deadline();
}

void PgWriter::Impl::drop_everything(std::size_t in_hand) {
    std::size_t dropped = 0;
    {
        std::lock_guard lock{mutex};
        dropped = in_hand + queue.size();
        queue.clear();
        in_flight = 0;
        stats.items_dropped += dropped;
    }
    if (dropped > 0) {
        logger.error("stopping with items not written to PostgreSQL",
                     {{"dropped", dropped}, {"url", std::string_view{shown_url}}});
    }
}

void PgWriter::Impl::finish_batch(const std::vector<WriterItem>& batch, detail::BatchOutcome outcome) {
    {
        std::lock_guard lock{mutex};
        stats.entries_stored += outcome.stored.size();
        stats.entries_duplicate += outcome.duplicates;
        stats.errors_stored += outcome.errors_stored;
        stats.cursors_stored += outcome.cursors_stored;
        stats.health_stored += outcome.health_stored;
        stats.items_rejected += outcome.rejected.size();
        ++stats.batches;
        stats.connected = true;
        in_flight = 0;
    }
    for (std::size_t i = 0; i < outcome.rejected.size() && i < max_rejections_logged; ++i) {
        const auto& rejected = outcome.rejected[i];
        const WriterItem& item = batch[rejected.index];
        std::int64_t device = 0;
        std::string_view kind = "error record";
        if (const auto* entry = std::get_if<TelemetryEntry>(&item)) {
            device = entry->device_id;
            kind = "entry";
        } else if (const auto* cursor = std::get_if<detail::CursorUpdate>(&item)) {
            device = cursor->device_id;
            kind = "cursor";
        } else if (const auto* status = std::get_if<StatusChange>(&item)) {
            device = status->device_id;
            kind = "status";
        } else if (const auto* alert = std::get_if<AlertChange>(&item)) {
            device = alert->device_id.value_or(0);
            kind = "alert";
        } else {
            device = std::get<TelemetryErrorRecord>(item).device_id.value_or(0);
        }
        logger.warn("PostgreSQL refused an item; dropped it and recorded a storage error",
                    {{"item", kind}, {"device_id", device}, {"reason", std::string_view{rejected.reason}}});
    }
    if (outcome.rejected.size() > max_rejections_logged) {
        logger.warn("PostgreSQL refused more items of the same batch",
                    {{"more", outcome.rejected.size() - max_rejections_logged}});
    }
    if (on_stored && !outcome.stored.empty()) {
        try {
            on_stored(std::move(outcome.stored));
        } catch (const std::exception& e) {
            logger.error("stored-entries handler threw", {{"error", std::string_view{e.what()}}});
        }
    }
}

void PgWriter::Impl::run() {
    std::unique_ptr<detail::BatchWriter> writer;
    std::vector<WriterItem> batch;
    auto backoff = options.retry_backoff_min;
    bool failing = false;
    Clock::time_point failing_since;
    std::uint64_t failed_attempts = 0;
    // Set when a COMMIT's outcome is unknown: the retry then finds the batch's readings already
    // there and would not report them, so it reports every entry instead (at least once).
    bool maybe_committed = false;

    for (;;) {
        bool give_up = false;
        {
            std::lock_guard lock{mutex};
            give_up = past_deadline();
        }
        if (give_up) {
            drop_everything(batch.size());
            return;
        }
        if (batch.empty() && !take_batch(batch)) return;
        try {
            if (!writer) writer = std::make_unique<detail::BatchWriter>(connect_url, logger);
            detail::BatchOutcome outcome = writer->write(batch, maybe_committed);
            maybe_committed = false;
            finish_batch(batch, std::move(outcome));
            batch.clear();
            backoff = options.retry_backoff_min;
            if (failing) {
                const auto down_ms =
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - failing_since).count();
                logger.info("PostgreSQL writes resumed",
                            {{"url", std::string_view{shown_url}}, {"failed_attempts", failed_attempts}, {"down_ms", down_ms}});
                failing = false;
            }
        } catch (const std::exception& e) {
            if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) maybe_committed = true;
            // A fresh connection costs milliseconds and leaves no half-done session state
            // (aborted transaction, COPY in progress, lost temp table) behind.
            writer.reset();
            const std::string message = obs::redact_secrets(detail::pg_message(e));
            {
                std::lock_guard lock{mutex};
                ++stats.retries;
                stats.connected = false;
            }
            ++failed_attempts;
            if (!failing) {
                failing = true;
                failing_since = Clock::now();
                failed_attempts = 1;
                logger.warn("cannot write to PostgreSQL; keeping the batch and retrying",
                            {{"url", std::string_view{shown_url}},
                             {"error", std::string_view{message}},
                             {"kind", kind_name(detail::classify(e))},
                             {"batch_items", batch.size()}});
            } else {
                logger.debug("PostgreSQL write retry failed",
                             {{"error", std::string_view{message}}, {"attempt", failed_attempts}});
            }
            if (!pause(backoff)) {
                drop_everything(batch.size());
                return;
            }
            backoff = std::min(backoff * 2, options.retry_backoff_max);
        }
    }
}

PgWriter::PgWriter(PgWriterOptions options, obs::Logger logger, StoredHandler on_stored)
    : impl_{std::make_unique<Impl>(std::move(options), std::move(logger), std::move(on_stored))} {
    impl_->thread = std::thread{[impl = impl_.get()] { impl->run(); }};
}

PgWriter::~PgWriter() { stop(); }

bool PgWriter::submit(TelemetryEntry entry) {
    std::vector<WriterItem> items;
    items.emplace_back(std::move(entry));
    return impl_->push(std::move(items));
}

bool PgWriter::submit_error(TelemetryErrorRecord error) {
    std::vector<WriterItem> items;
    items.emplace_back(std::move(error));
    return impl_->push(std::move(items));
}

bool PgWriter::submit_cursor(DeviceId device, DeviceCursor cursor) {
    std::vector<WriterItem> items;
    items.emplace_back(detail::CursorUpdate{device, cursor});
    return impl_->push(std::move(items));
}

bool PgWriter::submit_health(std::variant<StatusChange, AlertChange> change) {
    std::vector<WriterItem> items;
    std::visit([&items](auto& c) { items.emplace_back(std::move(c)); }, change);
    return impl_->push(std::move(items), std::max<std::size_t>(100, impl_->options.queue_capacity / 10));
}

void PgWriter::stop() {
    {
        std::lock_guard lock{impl_->mutex};
        if (!impl_->stopping) {
            impl_->stopping = true;
            impl_->give_up_at = Clock::now() + impl_->options.shutdown_timeout;
        }
    }
    impl_->wake.notify_all();
    // From the StoredHandler (the writer thread itself) stopping is only requested: a thread
    // cannot join itself; the destructor, called elsewhere, joins.
    if (std::this_thread::get_id() == impl_->thread.get_id()) return;
    std::lock_guard join_lock{impl_->join_mutex};
    if (impl_->thread.joinable()) impl_->thread.join();
}

PgWriter::Stats PgWriter::stats() const {
    std::lock_guard lock{impl_->mutex};
    Stats copy = impl_->stats;
    copy.queue_depth = impl_->queue.size() + impl_->in_flight;
    return copy;
}

} // namespace flowgate::storage
