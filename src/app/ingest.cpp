#include "ingest.hpp"

#include <memory>
#include <string>

#include "flowgate/bus/redis_publisher.hpp"
#include "flowgate/core/telemetry_message.hpp"
#include "flowgate/realtime/topic.hpp"
#include "flowgate/storage/pg_writer.hpp"

namespace flowgate::app {

bool Ingest::submit(TelemetryEntry entry) {
    ++stats_.entries;
    // Serialized once, shared by both topics' messages.
    const auto event = std::make_shared<const std::string>(telemetry_update_json(entry));
    const auto dedupe_id = std::to_string(entry.device_id) + ":" + std::to_string(entry.channel_epoch) + ":" +
                           std::to_string(entry.entry_id);
    publisher_.publish(realtime::topic_name(realtime::TopicKind::node, entry.device_id), dedupe_id, event);
    publisher_.publish(realtime::topic_name(realtime::TopicKind::community, entry.community_id), dedupe_id, event);
    if (writer_.submit(std::move(entry))) return true;
    ++stats_.rejected;
    return false;
}

bool Ingest::submit_error(TelemetryErrorRecord error) { return writer_.submit_error(std::move(error)); }

void Ingest::submit_cursor(DeviceId device, DeviceCursor cursor) { writer_.submit_cursor(device, cursor); }

} // namespace flowgate::app
