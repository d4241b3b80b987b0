#include "flowgate/realtime/topic.hpp"

namespace flowgate::realtime {

std::string_view to_string(TopicKind kind) {
    switch (kind) {
    case TopicKind::community: return "community";
    case TopicKind::node: return "node";
    }
    return "unknown";
}

std::string topic_name(TopicKind kind, std::int64_t id) {
    switch (kind) {
    case TopicKind::community: return "community:" + std::to_string(id) + ":updates";
    case TopicKind::node: return "node:" + std::to_string(id) + ":telemetry";
    }
    return {};
}

} // namespace flowgate::realtime
