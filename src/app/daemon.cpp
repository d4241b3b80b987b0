#include "daemon.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "flowgate/auth/token.hpp"
#include "flowgate/bus/redis_budget.hpp"
#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/bus/redis_replay_reader.hpp"
#include "flowgate/bus/redis_subscriber.hpp"
#include "flowgate/realtime/hub.hpp"
#include "flowgate/realtime/topic.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "flowgate/registry/registry_watcher.hpp"
#include "flowgate/sources/thingspeak_source.hpp"
#include "flowgate/storage/pg_writer.hpp"
#include "flowgate/thingspeak/http_client.hpp"
#include "ingest.hpp"
#include "redis_feed.hpp"

namespace flowgate::app {
namespace {

namespace asio = boost::asio;
using realtime::TopicKind;

void write_port_file(const std::string& path, std::uint16_t port) {
    // Whole or not at all, so that a reader never sees half a number.
    const auto tmp = path + ".tmp";
    std::ofstream{tmp} << port << '\n';
    std::filesystem::rename(tmp, path);
}

/// Names this process among the instances sharing Redis: host, pid and a random part, so a
/// restarted process (same pid in a new container) is a new instance.
std::string instance_id() {
    char host[256] = "host";
    ::gethostname(host, sizeof host - 1);
    return std::string{host} + ":" + std::to_string(::getpid()) + ":" + std::to_string(std::random_device{}() % 1'000'000);
}

} // namespace

int run_daemon(const config::Config& config, const std::string& port_file, const obs::Logger& log) {
    auto ws_options = realtime::WsServerOptions::from(config.http);
    try {
        if (config.auth.mode == config::AuthMode::token) {
            ws_options.access.tokens = std::make_shared<auth::TokenAuthority>(config::load_token_secrets(config.auth));
        } else {
            log.warn("auth.mode is \"none\": anyone who reaches the port can follow every stream, private channels included");
        }
    } catch (const std::exception& e) {
        log.error("cannot start: stream tokens are not configured", {{"error", e.what()}});
        return 1;
    }

    std::vector<ThingSpeakDevice> devices;
    registry::Topology topology;
    std::vector<registry::OpenAlert> open_alerts;
    std::vector<sched::AlertRule> rules;
    try {
        devices = registry::load_thingspeak_devices(config.database.url);
        topology = registry::load_topology(config.database.url);
        open_alerts = registry::load_open_alerts(config.database.url);
        rules = registry::load_alert_rules(config.database.url);
    } catch (const std::exception& e) {
        log.error("cannot load devices from PostgreSQL; is it running and migrated (flowgate migrate)?",
                  {{"error", e.what()}});
        return 1;
    }

    asio::io_context ioc{1};

    bus::RedisConnectionConfig redis;
    redis.url = config.redis.url;
    redis.connect_timeout = config.redis.connect_timeout;
    const auto redis_named = [&redis](const char* name) {
        auto named = redis;
        named.client_name = name;
        return named;
    };
    bus::RedisPublisherConfig publisher_config;
    publisher_config.connection = redis_named("flowgate-pub");
    publisher_config.replay_max_messages = config.redis.replay_max_messages;
    publisher_config.replay_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.redis.replay_ttl);
    bus::RedisPublisher publisher{ioc, publisher_config, log.with_component("redis-pub")};
    bus::RedisSubscriber subscriber{ioc, redis_named("flowgate-sub"), log.with_component("redis-sub")};
    bus::RedisReplayReader replay_reader{ioc, redis_named("flowgate-replay"), log.with_component("redis-replay"),
                                         config.redis.replay_max_messages};
    RedisFeed feed{ioc, subscriber, replay_reader, publisher, log.with_component("redis-feed"), std::chrono::seconds{5}};
    realtime::Hub hub{feed};
    feed.attach(hub);

    storage::PgWriterOptions writer_options;
    writer_options.url = config.database.url;
    writer_options.queue_capacity = config.database.writer_queue;
    writer_options.batch_size = config.database.batch_size;
    writer_options.batch_interval = config.database.batch_interval;
    storage::PgWriter writer{writer_options, log.with_component("pg-writer"), {}};
    SystemClock clock;
    Ingest ingest{writer, publisher, clock, log.with_component("health")};

    thingspeak::HttpClientOptions client_options;
    client_options.base_url = config.thingspeak.base_url;
    client_options.request_timeout = config.thingspeak.request_timeout;
    client_options.max_body_bytes = config.thingspeak.max_body_bytes;
    client_options.max_connections = config.thingspeak.max_concurrent_polls;
    thingspeak::HttpClient client{ioc, client_options, log.with_component("thingspeak")};

    realtime::WsServer ws{ioc, hub,
                          [&topology](TopicKind kind, std::int64_t id) -> std::optional<std::int64_t> {
                              if (kind == TopicKind::node) return topology.community_of(id);
                              if (topology.has_community(id)) return id;
                              return std::nullopt;
                          },
                          log.with_component("ws"), std::move(ws_options)};
    std::uint16_t port = 0;
    try {
        port = ws.listen(config.http.listen.host, config.http.listen.port);
    } catch (const std::exception& e) {
        log.error("cannot listen", {{"listen", config.http.listen.to_string()}, {"error", e.what()}});
        return 1;
    }

    bus::RedisBudgetOptions budget_options;
    budget_options.connection = redis_named("flowgate-budget");
    budget_options.instance_id = instance_id();
    bus::RedisBudget budget{ioc, budget_options, log.with_component("budget")};
    sources::ThingSpeakSource source{ioc, client, budget, ingest, log.with_component("poller"), devices,
                                     sources::ThingSpeakSourceOptions::from(config.thingspeak, client.host())};
    for (const auto& device : source.devices()) ingest.track(device);
    ingest.set_rules(std::move(rules));
    ingest.restore(open_alerts);
    ws.set_health_body([&] {
        return std::string{R"({"status":"ok","devices":)"} + std::to_string(source.stats().devices) +
               R"(,"redis":)" + (publisher.connected() ? "true" : "false") + R"(,"database":)" +
               (writer.stats().connected ? "true" : "false") + "}";
    });
    // Registry changes in PostgreSQL reach the poller, the health tracking and the stream
    // routes on the loop, within a second or so, on every instance.
    const auto registry_log = log.with_component("registry");
    registry::RegistryWatcher watcher{config.database.url, registry_log, [&](registry::RegistryUpdate update) {
        asio::post(ioc, [&, update = std::move(update)] {
            topology = update.topology;
            const auto applied = source.apply(update);
            for (const auto& device : applied.tracked) ingest.track(device);
            for (const auto id : applied.removed) ingest.untrack(id);
            ingest.set_rules(update.rules);
            if (!applied.tracked.empty() || !applied.removed.empty()) {
                registry_log.info("registry reloaded", {{"devices_changed", applied.tracked.size()},
                                                        {"devices_removed", applied.removed.size()},
                                                        {"devices", source.stats().devices}});
            }
        });
    }};
    publisher.start();
    budget.start();
    subscriber.start();
    replay_reader.start();
    ws.start();
    source.start();
    if (!port_file.empty()) write_port_file(port_file, port);
    log.info("flowgate running", {{"listen", config.http.listen.host},
                                   {"port", port},
                                   {"devices", source.stats().devices},
                                   {"communities", topology.communities.size()},
                                   {"thingspeak", config.thingspeak.base_url}});

    // Devices with nothing new go stale, then offline, as time passes.
    asio::steady_timer health_timer{ioc};
    std::function<void()> check_health = [&] {
        health_timer.expires_after(std::chrono::seconds{1});
        health_timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            ingest.tick();
            check_health();
        });
    };
    check_health();

    // A line a minute, so an operator tailing the log sees progress without debug logging.
    asio::steady_timer progress{ioc};
    std::function<void()> report = [&] {
        progress.expires_after(std::chrono::minutes{1});
        progress.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            const auto s = source.stats();
            const auto w = writer.stats();
            const auto p = publisher.stats();
            const auto c = ws.stats();
            log.info("progress", {{"polls", s.polls},
                                  {"failed_polls", s.failed_polls},
                                  {"polls_due", s.polls_due},
                                  {"polls_delayed_by_budget", s.delayed_by_budget},
                                  {"devices_backing_off", s.backing_off},
                                  {"breaker", to_string(s.breaker)},
                                  {"budget", s.budget_shared ? "shared" : "local"},
                                  {"entries_stored", w.entries_stored},
                                  {"entries_deferred", ingest.stats().rejected},
                                  {"errors", s.errors},
                                  {"alerts_opened", ingest.stats().alerts_opened},
                                  {"queue_depth", w.queue_depth},
                                  {"published", p.published},
                                  {"publish_duplicates", p.duplicates},
                                  {"publish_queue", static_cast<std::uint64_t>(p.queued + p.in_flight)},
                                  {"ws_sessions", c.sessions_open},
                                  {"ws_deliveries", c.messages_sent},
                                  {"ws_slow_consumer_closes", c.slow_consumer_closes},
                                  {"ws_recovered", c.recovered},
                                  {"ws_not_recovered", c.not_recovered}});
            report();
        });
    };
    report();

    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    asio::steady_timer drain{ioc};
    std::chrono::steady_clock::time_point drain_deadline;
    // Once Redis has acknowledged everything published (or a few seconds have passed), the
    // WebSocket clients get their close frames, and the loop ends when they are closed.
    std::function<void()> finish = [&] {
        const auto p = publisher.stats();
        if (p.queued + p.in_flight > 0 && std::chrono::steady_clock::now() < drain_deadline) {
            drain.expires_after(std::chrono::milliseconds{20});
            drain.async_wait([&](const boost::system::error_code&) { finish(); });
            return;
        }
        if (p.queued + p.in_flight > 0) log.warn("stopping with messages not yet published", {{"messages", p.queued + p.in_flight}});
        ws.stop([&] {
            signals.cancel();
            publisher.stop();
            budget.stop();
            subscriber.stop();
            replay_reader.stop();
            ioc.stop();
        });
    };
    // Flushing the writer can take seconds (PostgreSQL down): it runs off the loop, which keeps
    // serving meanwhile, and a second signal ends the process at once.
    std::jthread flusher;
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        log.info("stopping", {{"signal", signal}});
        watcher.stop();
        progress.cancel();
        health_timer.cancel();
        source.stop();
        client.stop();
        signals.async_wait([&](const boost::system::error_code& again, int) {
            if (again) return;
            log.warn("second signal: exiting without flushing", {{"queue_depth", writer.stats().queue_depth}});
            std::_Exit(1);
        });
        // Everything queued is written, and everything read is published, before Redis closes.
        flusher = std::jthread{[&] {
            writer.stop();
            asio::post(ioc, [&] {
                drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds{3};
                finish();
            });
        }};
    });
    ioc.run();
    log.info("stopped", {{"entries_stored", writer.stats().entries_stored}});
    return 0;
}

} // namespace flowgate::app
