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
#include "flowgate/core/json_text.hpp"
#include "flowgate/obs/prometheus.hpp"
#include "flowgate/realtime/hub.hpp"
#include "flowgate/realtime/topic.hpp"
#include "flowgate/realtime/ws_server.hpp"
#include "flowgate/registry/device_registry.hpp"
#include "flowgate/registry/registry_watcher.hpp"
#include "flowgate/sources/thingspeak_source.hpp"
#include "flowgate/storage/history.hpp"
#include "flowgate/storage/pg_writer.hpp"
#include "flowgate/thingspeak/http_client.hpp"
#include "ingest.hpp"
#include "redis_feed.hpp"
#include "systemd_notify.hpp"
#include "web_assets.hpp"

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

std::string metrics_text(const sources::ThingSpeakSource::Stats& poll, const storage::PgWriter::Stats& store,
                         const bus::RedisPublisher::Stats& publish, const realtime::WsServerStats& ws,
                         const obs::Histogram& delivery_latency, const Ingest::Stats& ingest,
                         const std::string& host, bool database_up) {
    obs::PrometheusText m;
    const auto n = [](auto v) { return static_cast<double>(v); };
    m.counter("flowgate_polls_total", "Polls of ThingSpeak channels, by outcome.", n(poll.polls - poll.failed_polls),
              {{"outcome", "ok"}});
    m.counter("flowgate_polls_total", "Polls of ThingSpeak channels, by outcome.", n(poll.failed_polls), {{"outcome", "failed"}});
    m.counter("flowgate_polls_delayed_by_budget_total", "Times a due device waited for its key's budget.",
              n(poll.delayed_by_budget));
    m.counter("flowgate_entries_read_total", "Channel entries read.", n(poll.entries));
    m.counter("flowgate_readings_stored_total", "Entries stored with at least one new reading.", n(store.entries_stored));
    m.counter("flowgate_errors_total", "Rows of telemetry_errors, by stage.", n(poll.errors), {{"stage", "source"}});
    m.counter("flowgate_errors_total", "Rows of telemetry_errors, by stage.", n(store.items_rejected), {{"stage", "storage"}});
    m.counter("flowgate_entries_deferred_total", "Entries not queued for storage (queue full), read again later.",
              n(ingest.rejected));
    m.counter("flowgate_alerts_opened_total", "Alerts opened.", n(ingest.alerts_opened));
    m.counter("flowgate_published_messages_total", "Messages acknowledged by Redis.", n(publish.published));
    m.counter("flowgate_publish_failures_total", "Messages Redis answered with an error.", n(publish.failed));
    m.counter("flowgate_ws_deliveries_total", "Messages written to WebSocket clients.", n(ws.messages_sent));
    m.counter("flowgate_ws_sessions_total", "WebSocket upgrades accepted.", n(ws.sessions_total));
    m.counter("flowgate_ws_refused_upgrades_total", "Stream requests refused before the upgrade.", n(ws.refused_upgrades));
    m.counter("flowgate_ws_slow_consumer_closes_total", "Sessions closed with 4008 (send queue full).",
              n(ws.slow_consumer_closes));
    m.counter("flowgate_ws_token_expiry_closes_total", "Sessions closed with 4001 (token expired).", n(ws.token_expiry_closes));
    m.counter("flowgate_ws_compressions_total", "Messages compressed (once each, for every session).", n(ws.compressions));
    m.gauge("flowgate_devices", "Devices polled.", n(poll.devices));
    m.gauge("flowgate_polls_due", "Devices due and waiting (budget, breaker or a free slot).", n(poll.polls_due));
    m.gauge("flowgate_polls_in_flight", "Polls in flight.", n(poll.polls_in_flight));
    m.gauge("flowgate_devices_backing_off", "Devices retried with back-off.", n(poll.backing_off));
    m.gauge("flowgate_breaker_state", "Circuit breaker of a ThingSpeak host: 0 closed, 1 half-open, 2 open.",
            poll.breaker == resilience::BreakerState::closed ? 0 : poll.breaker == resilience::BreakerState::half_open ? 1 : 2,
            {{"host", host}});
    for (const auto& b : poll.budgets) {
        m.gauge("flowgate_budget_tokens", "Tokens in this instance's bucket of a key (the fallback while budgets are shared).",
                b.tokens, {{"key_id", b.key_id}});
    }
    for (const auto& b : poll.budgets) {
        m.gauge("flowgate_budget_rate_per_second", "Polls a second a key's budget allows now (lower while throttled).",
                b.rate_per_second, {{"key_id", b.key_id}});
    }
    m.gauge("flowgate_budget_shared", "1 while the keys' budgets are shared through Redis.", poll.budget_shared ? 1 : 0);
    m.gauge("flowgate_storage_queue_depth", "Items waiting for PostgreSQL.", n(store.queue_depth));
    m.gauge("flowgate_database_up", "1 while PostgreSQL is reachable.", database_up ? 1 : 0);
    m.gauge("flowgate_publish_queue_depth", "Messages waiting for Redis.", n(publish.queued + publish.in_flight));
    m.gauge("flowgate_ws_sessions", "WebSocket sessions open.", n(ws.sessions_open));
    m.histogram("flowgate_poll_duration_seconds", "From sending a poll to its response, connection wait included.",
                poll.poll_duration, {{"host", host}});
    m.histogram("flowgate_poll_to_publish_seconds",
                "From a poll's response handed to the publisher to Redis acknowledging the message.", publish.latency);
    m.histogram("flowgate_publish_to_delivery_seconds",
                "From an event's arrival from Redis pub/sub to its last byte written to a client.", delivery_latency);
    return m.text();
}

/// The sections that differ between `before` and `after` in what applies only at start-up.
std::string needing_restart(const config::Config& before, const config::Config& after) {
    auto ts_before = before.thingspeak, ts_after = after.thingspeak;
    for (auto* ts : {&ts_before, &ts_after}) {
        // What a reload applies.
        ts->budget_per_minute = 0;
        ts->budget_burst = 0;
        ts->key_budgets.clear();
    }
    std::string out;
    const std::pair<const char*, bool> sections[] = {{"log.format", before.log.format != after.log.format},
                                                     {"database", before.database != after.database},
                                                     {"redis", before.redis != after.redis},
                                                     {"thingspeak", ts_before != ts_after},
                                                     {"http", before.http != after.http},
                                                     {"auth", before.auth != after.auth}};
    for (const auto& [name, changed] : sections) {
        if (changed) out += (out.empty() ? "" : ",") + std::string{name};
    }
    return out;
}

} // namespace

int run_daemon(const config::Config& config, const std::string& config_file, const std::string& port_file,
               const obs::Logger& log) {
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

    storage::HistoryOptions history_options;
    history_options.url = config.database.url;
    history_options.connections = config.database.history_connections;
    history_options.statement_timeout = config.database.history_timeout;
    storage::HistoryReader history{history_options, log.with_component("history")};

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
    // Registry changes in PostgreSQL reach the poller, the health tracking and the stream
    // routes on the loop, within a second or so, on every instance.
    const auto registry_log = log.with_component("registry");
    bool reload_requested = false; // by SIGHUP: the next whole reload is logged even if nothing changed
    registry::RegistryWatcher watcher{config.database.url, registry_log, [&](registry::RegistryUpdate update) {
        asio::post(ioc, [&, update = std::move(update)] {
            topology = update.topology;
            const auto applied = source.apply(update);
            for (const auto& device : applied.tracked) ingest.track(device);
            for (const auto id : applied.removed) ingest.untrack(id);
            ingest.set_rules(update.rules);
            const bool requested = std::exchange(reload_requested, reload_requested && !update.all);
            if (requested || !applied.tracked.empty() || !applied.removed.empty()) {
                registry_log.info("registry reloaded", {{"devices_changed", applied.tracked.size()},
                                                        {"devices_removed", applied.removed.size()},
                                                        {"devices", source.stats().devices}});
            }
        });
    }};
    // /healthz: the process and its loop answer. /readyz: it can do its work (the answer
    // itself shows the listener is) — 503 naming what is down. /metrics: Prometheus.
    ws.set_page("/healthz", [&] {
        return realtime::WsServer::Page{200, "application/json",
                                        R"({"status":"ok","devices":)" + std::to_string(source.stats().devices) + "}"};
    });
    // The dashboard, built into the binary: "/" is its index.html.
    for (const auto& asset : web_assets()) {
        const auto page = [&asset] {
            return realtime::WsServer::Page{200, std::string{asset.content_type}, std::string{asset.body}};
        };
        ws.set_page(asset.path == "/index.html" ? "/" : std::string{asset.path}, page);
    }
    // PostgreSQL is up while the registry watcher holds its connection and the writer is not
    // failing (it learns of an outage only when it writes).
    const auto database_up = [&] {
        const auto w = writer.stats();
        return watcher.listening() && (w.connected || w.retries == 0);
    };
    // What is not up, as a JSON array of names; empty when ready.
    const auto not_ready = [&] {
        std::string down;
        const std::pair<const char*, bool> parts[] = {{"database", database_up()},
                                                      {"redis", publisher.connected() && subscriber.connected()},
                                                      {"registry", watcher.listening()}};
        for (const auto& [name, up] : parts) {
            if (!up) down += std::string{down.empty() ? "\"" : ",\""} + name + "\"";
        }
        return down;
    };
    ws.set_page("/readyz", [&] {
        const auto down = not_ready();
        const auto up = [&](const char* name) { return down.find(name) == std::string::npos ? "true" : "false"; };
        const auto body = std::string{R"({"database":)"} + up("database") + R"(,"redis":)" + up("redis") +
                          R"(,"registry":)" + up("registry") + R"(,"down":[)" + down + R"(],"status":")" +
                          (down.empty() ? "ready" : "unavailable") + "\"}";
        return realtime::WsServer::Page{down.empty() ? 200u : 503u, "application/json", body};
    });
    ws.set_page("/metrics", [&] {
        return realtime::WsServer::Page{200, std::string{obs::PrometheusText::content_type},
                                        metrics_text(source.stats(), writer.stats(), publisher.stats(), ws.stats(),
                                                     ws.delivery_latency(), ingest.stats(), client.host(),
                                                     database_up())};
    });
    // The history API: the router has checked the token and that the client may see what it
    // asks for; the queries run on the reader's own connections.
    ws.set_api([&history](realtime::WsServer::ApiCall call, std::function<void(realtime::WsServer::Page)> respond) {
        auto done = [respond = std::move(respond)](storage::HistoryAnswer answer) {
            respond({answer.status, "application/json", std::move(answer.body)});
        };
        using Kind = realtime::WsServer::ApiCall::Kind;
        switch (call.kind) {
        case Kind::communities: history.communities(std::move(call.communities), std::move(done)); return;
        case Kind::nodes: history.nodes(call.id, std::move(done)); return;
        case Kind::readings: {
            auto query = storage::ReadingsQuery::parse(call.id, call.query, std::chrono::system_clock::now());
            if (auto* error = std::get_if<std::string>(&query)) {
                std::string body = "{\"error\":";
                append_json_string(body, *error);
                done({400, body + "}"});
                return;
            }
            history.readings(std::get<storage::ReadingsQuery>(std::move(query)), std::move(done));
            return;
        }
        }
    });
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

    // Under systemd (Type=notify): READY=1 once PostgreSQL, Redis and the registry are up
    // (the listener already is), WATCHDOG=1 from this loop, so that a stuck loop is
    // restarted, STATUS= with the progress figures, and STOPPING=1.
    const SystemdNotifier systemd;
    asio::steady_timer ready_timer{ioc};
    std::function<void()> await_ready = [&] {
        if (const auto down = not_ready(); !down.empty()) {
            ready_timer.expires_after(std::chrono::milliseconds{200});
            ready_timer.async_wait([&](const boost::system::error_code& ec) {
                if (!ec) await_ready();
            });
            return;
        }
        log.info("ready", {{"devices", source.stats().devices}, {"systemd", systemd.enabled()}});
        systemd.notify("READY=1\nSTATUS=ready, polling " + std::to_string(source.stats().devices) + " devices");
    };
    await_ready();
    asio::steady_timer watchdog{ioc};
    std::function<void()> pet_watchdog = [&] {
        systemd.notify("WATCHDOG=1");
        watchdog.expires_after(*systemd.watchdog_interval());
        watchdog.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) pet_watchdog();
        });
    };
    if (systemd.watchdog_interval()) pet_watchdog();

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
            systemd.notify("STATUS=" + std::to_string(s.devices) + " devices, " + std::to_string(s.polls) + " polls, " +
                           std::to_string(w.entries_stored) + " entries stored, " + std::to_string(c.sessions_open) +
                           " WebSocket sessions");
            report();
        });
    };
    report();

    // SIGHUP: the log level and the budgets from the file again, and the whole registry.
    // Clients, polls in flight and cursors are untouched; a file that does not load changes
    // nothing.
    asio::signal_set hangup{ioc, SIGHUP};
    config::Config current = config;
    std::function<void()> await_hangup = [&] {
        hangup.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            systemd.notify("RELOADING=1");
            try {
                auto next = config::load_config_file(config_file, config::process_environment());
                const auto restart = needing_restart(current, next);
                const auto budgets = sources::ThingSpeakSourceOptions::from(next.thingspeak, client.host());
                log.info("configuration reloaded", {{"file", config_file},
                                                   {"log_level", obs::level_name(next.log.level)},
                                                   {"budget_per_minute", next.thingspeak.budget_per_minute},
                                                   {"key_budgets", next.thingspeak.key_budgets.size()}});
                if (!restart.empty()) log.warn("changed settings apply only after a restart", {{"sections", restart}});
                log.set_level(next.log.level);
                source.set_budgets(budgets.budget, budgets.key_budgets);
                current = std::move(next);
                reload_requested = true;
                watcher.reload_all();
            } catch (const config::ConfigError& e) {
                log.error("configuration not reloaded; the running one stays", {{"file", config_file}, {"error", e.what()}});
            }
            systemd.notify("READY=1");
            await_hangup();
        });
    };
    await_hangup();

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
        systemd.notify("STOPPING=1");
        hangup.cancel();
        ready_timer.cancel();
        watchdog.cancel();
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
