#include "flowgate/registry/registry_watcher.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <pqxx/pqxx>

#include "flowgate/registry/device_registry.hpp"
#include "storage/pg_support.hpp"

namespace flowgate::registry {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* notify_channel = "flowgate_registry";
constexpr milliseconds retry_after{2'000};

/// Collects the node ids of the notifications (an empty payload, a community, stands for all).
class Collector final : public pqxx::notification_receiver {
public:
    Collector(pqxx::connection_base& c, std::set<DeviceId>& ids, bool& all)
        : pqxx::notification_receiver(c, notify_channel), ids_{ids}, all_{all} {}

    void operator()(const std::string& payload, int) override {
        try {
            ids_.insert(std::stoll(payload));
        } catch (const std::exception&) {
            all_ = true;
        }
    }

private:
    std::set<DeviceId>& ids_;
    bool& all_;
};

} // namespace

struct RegistryWatcher::Impl {
    Impl(std::string u, obs::Logger l, Handler h, milliseconds s)
        : url{storage::detail::with_connect_timeout(u, std::chrono::seconds{5})}, log{std::move(l)},
          on_update{std::move(h)}, settle{s}, thread{[this] { run(); }} {}

    void run() {
        bool warned = false;
        while (!stopping) {
            try {
                pqxx::connection connection{url};
                std::set<DeviceId> ids;
                bool all = true; // whatever changed while not listening
                Collector collector{connection, ids, all};
                listening = true;
                if (warned) log.info("registry watcher reconnected to PostgreSQL: reloading every node");
                warned = false;
                std::optional<Clock::time_point> first;
                while (!stopping) {
                    connection.await_notification(0, 100'000);
                    if (reload_requested.exchange(false)) all = true;
                    if (!all && ids.empty()) continue;
                    if (!first) first = Clock::now();
                    if (Clock::now() - *first < settle) continue;
                    if (!reload(all, ids)) {
                        pause(retry_after);
                        continue;
                    }
                    all = false;
                    ids.clear();
                    first.reset();
                }
            } catch (const std::exception& e) {
                listening = false;
                if (!warned) {
                    log.warn("registry watcher cannot reach PostgreSQL: registry changes apply once it is back",
                             {{"error", obs::redact_secrets(storage::detail::pg_message(e))}});
                }
                warned = true;
                pause(retry_after);
            }
        }
    }

    /// Loads what changed and hands it over; false when it could not be loaded.
    bool reload(bool all, const std::set<DeviceId>& ids) {
        RegistryUpdate update;
        update.all = all;
        if (!all) update.changed = ids;
        try {
            update.devices = load_thingspeak_devices(url, all ? nullptr : &ids);
            update.topology = load_topology(url);
            update.rules = load_alert_rules(url);
        } catch (const RegistryError& e) {
            log.warn("cannot reload the registry; trying again", {{"error", e.what()}});
            return false;
        }
        if (!stopping) on_update(std::move(update));
        return true;
    }

    void pause(milliseconds how_long) {
        std::unique_lock lock{stop_mutex};
        stop_wake.wait_for(lock, how_long, [this] { return stopping.load(); });
    }

    const std::string url;
    obs::Logger log;
    Handler on_update;
    milliseconds settle;
    std::atomic<bool> stopping{false};
    std::atomic<bool> listening{false};
    std::atomic<bool> reload_requested{false};
    std::mutex stop_mutex;
    std::condition_variable stop_wake;
    std::jthread thread;
};

RegistryWatcher::RegistryWatcher(std::string url, obs::Logger log, Handler on_update, milliseconds settle)
    : impl_{std::make_unique<Impl>(std::move(url), std::move(log), std::move(on_update), settle)} {}

RegistryWatcher::~RegistryWatcher() { stop(); }

void RegistryWatcher::reload_all() { impl_->reload_requested = true; }

bool RegistryWatcher::listening() const { return impl_->listening.load(); }

void RegistryWatcher::stop() {
    {
        std::lock_guard lock{impl_->stop_mutex};
        impl_->stopping = true;
    }
    impl_->stop_wake.notify_all();
    // A handler running now returns first.
    if (impl_->thread.joinable()) impl_->thread.join();
}

} // namespace flowgate::registry
