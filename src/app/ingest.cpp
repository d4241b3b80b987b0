#include "ingest.hpp"

#include <memory>
#include <set>
#include <string>

#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/core/telemetry_message.hpp"
#include "flowgate/realtime/topic.hpp"
#include "flowgate/storage/pg_writer.hpp"

namespace flowgate::app {

using realtime::TopicKind;
using realtime::topic_name;

Ingest::Ingest(storage::PgWriter& writer, bus::RedisPublisher& publisher, const Clock& clock, obs::Logger log)
    : writer_{writer}, publisher_{publisher}, log_{std::move(log)}, clock_{clock}, health_{clock} {}

void Ingest::track(const ThingSpeakDevice& device) {
    health_.add(device.device_id,
                sched::HealthOptions::for_interval(device.polling_interval, device.stale_after, device.offline_after));
    community_of_[device.device_id] = device.community_id;
    rules_.set_category(device.device_id, device.category);
}

void Ingest::set_rules(std::vector<sched::AlertRule> rules) {
    if (rules == rules_.rules()) return;
    log_.info("alert rules loaded", {{"rules", rules.size()}});
    sched::DeviceHealth::Changes changes;
    changes.alerts = rules_.set_rules(std::move(rules), std::chrono::floor<std::chrono::seconds>(clock_.wall_now()));
    apply(std::move(changes));
}

void Ingest::untrack(DeviceId device) {
    auto changes = health_.remove(device);
    for (auto& a : rules_.remove(device, std::chrono::floor<std::chrono::seconds>(clock_.wall_now()))) {
        changes.alerts.push_back(std::move(a));
    }
    apply(std::move(changes));
    community_of_.erase(device);
}

void Ingest::restore(const std::vector<registry::OpenAlert>& alerts) {
    for (const auto& a : alerts) {
        if (const auto kind = parse_alert_kind(a.kind)) {
            health_.restore_open(a.device_id, *kind);
        } else if (a.device_id) {
            rules_.restore_open(*a.device_id, a.kind); // unknown kinds are left to whoever raised them
        }
    }
}

void Ingest::tick() {
    while (!unstored_.empty() && writer_.submit_health(unstored_.front())) unstored_.pop_front();
    apply(health_.tick());
}

bool Ingest::submit(TelemetryEntry entry) {
    ++stats_.entries;
    // Serialized once, shared by both topics' messages.
    const auto event = std::make_shared<const std::string>(telemetry_update_json(entry));
    const auto dedupe_id = std::to_string(entry.device_id) + ":" + std::to_string(entry.channel_epoch) + ":" +
                           std::to_string(entry.entry_id);
    publisher_.publish(topic_name(TopicKind::node, entry.device_id), dedupe_id, event);
    publisher_.publish(topic_name(TopicKind::community, entry.community_id), dedupe_id, event);
    // After the entry's own update, so a dashboard sees the reading that brought it online first.
    apply(health_.on_entry(entry.device_id, entry.created_at.utc));
    if (clock_.wall_now() - entry.created_at.utc <= std::chrono::hours{1} && !rules_.rules().empty()) {
        sched::DeviceHealth::Changes changes;
        changes.alerts = rules_.on_entry(entry);
        apply(std::move(changes));
    }
    if (writer_.submit(std::move(entry))) return true;
    ++stats_.rejected;
    return false;
}

bool Ingest::submit_error(TelemetryErrorRecord error) { return writer_.submit_error(std::move(error)); }

void Ingest::submit_cursor(DeviceId device, DeviceCursor cursor) { writer_.submit_cursor(device, cursor); }

void Ingest::fetch_completed(DeviceId device, FetchVerdict verdict, std::string_view error) {
    apply(health_.on_fetch(device, verdict, error));
}

void Ingest::schema_checked(DeviceId device, std::optional<std::string> problem) {
    apply(health_.on_schema(device, std::move(problem)));
}

void Ingest::source_state(bool available, std::string_view why) { apply(health_.on_source(available, why)); }

void Ingest::apply(sched::DeviceHealth::Changes changes) {
    for (auto& s : changes.status) {
        log_.info("device status changed", {{"device_id", s.device_id},
                                            {"status", to_string(s.to)},
                                            {"previous", to_string(s.from)},
                                            {"reason", std::string_view{s.reason}}});
        const auto community = community_of_.at(s.device_id);
        publish_to(community, s.device_id,
                   "status:" + std::to_string(s.device_id) + ":" + std::string{to_string(s.to)} + ":" +
                       std::to_string(s.at.time_since_epoch().count()),
                   node_status_json(s, community));
        store(std::move(s));
    }
    for (auto& a : changes.alerts) {
        const std::string device = a.device_id ? std::to_string(*a.device_id) : "source";
        const obs::LogFields fields{{"alert", kind_of(a)},
                                 {"device_id", a.device_id.value_or(0)},
                                 {"severity", severity_of(a)},
                                 {"message", std::string_view{a.message}}};
        if (a.open) {
            ++stats_.alerts_opened;
            log_.warn("alert opened", fields);
        } else {
            log_.info("alert resolved", fields);
        }
        const auto dedupe_id = "alert:" + std::string{kind_of(a)} + ":" + device + ":" + (a.open ? "open:" : "resolved:") +
                               std::to_string(a.at.time_since_epoch().count());
        if (a.device_id) {
            publish_to(community_of_.at(*a.device_id), a.device_id, dedupe_id, alert_json(a, community_of_.at(*a.device_id)));
        } else {
            // A whole source: every community with a device on it.
            std::set<CommunityId> communities;
            for (const auto& [id, community] : community_of_) communities.insert(community);
            for (const auto community : communities) publish_to(community, std::nullopt, dedupe_id, alert_json(a, community));
        }
        store(std::move(a));
    }
}

void Ingest::store(std::variant<StatusChange, AlertChange> change) {
    // Behind the ones waiting already, so that an alert's opening is never stored after its
    // resolution.
    if (unstored_.empty() && writer_.submit_health(change)) return;
    unstored_.push_back(std::move(change));
}

void Ingest::publish_to(CommunityId community, std::optional<DeviceId> node, const std::string& dedupe_id,
                        std::string event) {
    const auto shared = std::make_shared<const std::string>(std::move(event));
    if (node) publisher_.publish(topic_name(TopicKind::node, *node), dedupe_id, shared);
    publisher_.publish(topic_name(TopicKind::community, community), dedupe_id, shared);
}

} // namespace flowgate::app
