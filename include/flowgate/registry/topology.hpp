#pragma once

#include <map>
#include <optional>
#include <set>

#include "flowgate/core/telemetry.hpp"

namespace flowgate::registry {

/// Which communities and nodes exist, and which community each node belongs to: what the
/// WebSocket server checks before accepting a subscription. Every node counts, whatever its
/// source and whether or not it is enabled (a disabled node still has its history).
struct Topology {
    std::set<CommunityId> communities;
    std::map<DeviceId, CommunityId> nodes;  ///< node → its community

    bool has_community(CommunityId community) const { return communities.contains(community); }

    /// The community of `node`; nullopt when there is no such node.
    std::optional<CommunityId> community_of(DeviceId node) const {
        const auto found = nodes.find(node);
        if (found == nodes.end()) return std::nullopt;
        return found->second;
    }

    friend bool operator==(const Topology&, const Topology&) = default;
};

} // namespace flowgate::registry
