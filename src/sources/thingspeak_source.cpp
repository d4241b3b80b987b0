#include "flowgate/sources/thingspeak_source.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "flowgate/sources/thingspeak_poll.hpp"
#include "flowgate/thingspeak/http_client.hpp"

namespace flowgate::sources {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

struct ThingSpeakSource::Impl : std::enable_shared_from_this<Impl> {
    struct Device {
        Device(ThingSpeakDevice device, asio::io_context& ioc) : poll{std::move(device)}, timer{ioc} {}

        ThingSpeakPoll poll;
        asio::steady_timer timer;
        SteadyClock::time_point started{};
        bool failing = false;
        std::string last_failure; ///< the failure already logged at warn while failing
    };

    asio::io_context& ioc;
    thingspeak::HttpClient& client;
    TelemetrySink& sink;
    obs::Logger log;
    std::vector<std::unique_ptr<Device>> devices;
    Stats stats;
    bool stopped = false;
    bool warned_queue_full = false;

    Impl(asio::io_context& io, thingspeak::HttpClient& c, TelemetrySink& s, obs::Logger l)
        : ioc{io}, client{c}, sink{s}, log{std::move(l)} {}

    void schedule(Device& d, SteadyClock::time_point at) {
        d.timer.expires_at(at);
        d.timer.async_wait([self = shared_from_this(), &d](const boost::system::error_code& ec) {
            if (!ec && !self->stopped) self->poll(d);
        });
    }

    void poll(Device& d) {
        d.started = SteadyClock::now();
        ++stats.polls;
        client.get(d.poll.target(), [self = shared_from_this(), &d](thingspeak::FetchResult result) {
            if (!self->stopped) self->on_result(d, std::move(result));
        });
    }

    void on_result(Device& d, thingspeak::FetchResult result) {
        const auto& dev = d.poll.device();
        const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        auto outcome = d.poll.on_response(result, now);

        if (outcome.new_epoch) {
            log.warn("channel entry ids went backwards: it was cleared, reading it as a new epoch",
                     {{"device_id", dev.device_id}, {"channel_id", dev.channel_id}, {"epoch", d.poll.cursor().channel_epoch}});
        }
        std::size_t accepted = 0;
        for (auto& entry : outcome.entries) {
            if (!sink.submit(entry)) break;
            ++accepted;
        }
        if (accepted < outcome.entries.size() && !warned_queue_full) {
            warned_queue_full = true;
            log.warn("storage queue full: entries will be read again on the next poll",
                     {{"device_id", dev.device_id}, {"channel_id", dev.channel_id}});
        } else if (accepted == outcome.entries.size()) {
            warned_queue_full = false;
        }
        const auto before = d.poll.cursor();
        d.poll.commit(outcome, accepted);
        if (d.poll.cursor() != before) sink.submit_cursor(dev.device_id, d.poll.cursor());
        stats.entries += accepted;

        for (auto& error : outcome.errors) {
            // A channel that keeps failing the same way is logged once at warn, then at debug
            // until it recovers; every failure is still a telemetry_errors row.
            const bool repeated = !outcome.fetched && d.failing && error.message == d.last_failure;
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
        if (!outcome.fetched) {
            ++stats.failed_polls;
            d.failing = true;
        } else {
            if (d.failing) log.info("channel answers again", {{"device_id", dev.device_id}, {"channel_id", dev.channel_id}});
            d.failing = false;
        }
        log.debug("polled", {{"device_id", dev.device_id},
                             {"channel_id", dev.channel_id},
                             {"new_entries", accepted},
                             {"elapsed_ms", result.elapsed.count()}});

        // The next poll is one interval after this one started, not after it ended.
        const auto next = std::max(d.started + dev.polling_interval, SteadyClock::now());
        schedule(d, next);
    }
};

ThingSpeakSource::ThingSpeakSource(asio::io_context& ioc, thingspeak::HttpClient& client, TelemetrySink& sink,
                                   obs::Logger log, std::vector<ThingSpeakDevice> devices)
    : impl_{std::make_shared<Impl>(ioc, client, sink, std::move(log))} {
    for (auto& device : devices) {
        impl_->devices.push_back(std::make_unique<Impl::Device>(std::move(device), ioc));
    }
}

ThingSpeakSource::~ThingSpeakSource() { stop(); }

void ThingSpeakSource::start() {
    const auto now = SteadyClock::now();
    const auto n = std::max<std::size_t>(1, impl_->devices.size());
    for (std::size_t i = 0; i < impl_->devices.size(); ++i) {
        impl_->schedule(*impl_->devices[i], now + std::chrono::milliseconds{static_cast<std::int64_t>(1000 * i / n)});
    }
    impl_->log.info("polling ThingSpeak devices", {{"devices", impl_->devices.size()}});
}

void ThingSpeakSource::stop() {
    impl_->stopped = true;
    for (auto& d : impl_->devices) d->timer.cancel();
}

ThingSpeakSource::Stats ThingSpeakSource::stats() const { return impl_->stats; }

} // namespace flowgate::sources
