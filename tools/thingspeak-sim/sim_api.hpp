#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "channel.hpp"
#include "faults.hpp"
#include "sim_config.hpp"

namespace flowgate::sim {

using WallTime = std::chrono::system_clock::time_point;

struct SimRequest {
    std::string_view method = "GET";
    std::string_view target;          ///< path and query, as sent
    std::string_view body;
    std::string_view api_key_header;  ///< X-THINGSPEAKAPIKEY
    std::string_view if_none_match;
};

struct SimReply {
    /// What the server does with the connection.
    enum class Action { respond, reset, hang } action = Action::respond;
    unsigned status = 200;
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
    std::string etag;                    ///< set on successful reads
    std::chrono::milliseconds delay{0};  ///< wait this long before acting
};

/// Requests served, by status ("200", "400", … "reset", "hang") and by resource (the path
/// after /channels/{id}/ without ".json", numbers as N: "feeds", "feeds/last_entry_id",
/// "fields/N").
struct RequestCounts {
    std::uint64_t total = 0;
    std::map<std::string, std::uint64_t> by_status;
    std::map<std::string, std::uint64_t> by_resource;
};

/// Simulated time: follows the wall clock from a chosen start, `speed` times as fast, plus
/// whatever tests have advanced it by.
class SimClock {
public:
    SimClock(WallTime wall_origin, Seconds sim_origin, double speed)
        : wall_origin_{wall_origin}, sim_origin_{sim_origin}, speed_{speed} {}

    Seconds now(WallTime wall) const;
    void advance(std::chrono::seconds by) { advanced_ += by; }
    double speed() const { return speed_; }

private:
    WallTime wall_origin_;
    Seconds sim_origin_;
    double speed_;
    std::chrono::seconds advanced_{0};
};

/// The simulator without sockets: turns a request and the wall time into a reply.
/// Serves ThingSpeak's read API under /channels/ and the control API under /_sim/.
class SimApi {
public:
    SimApi(SimConfig config, WallTime wall_start);

    SimReply handle(const SimRequest& request, WallTime wall_now);

    Seconds sim_now(WallTime wall) const { return clock_.now(wall); }
    const RequestCounts& total_counts() const { return total_counts_; }
    std::size_t channel_count() const { return channels_.size(); }

private:
    SimReply handle_channel_api(const SimRequest& request, std::string_view path, std::string_view query,
                                Seconds now, std::optional<std::uint64_t>& channel_id);
    SimReply handle_control(const SimRequest& request, std::string_view path, WallTime wall_now);
    void count(std::optional<std::uint64_t> channel_id, std::string_view path, std::string_view status);

    SimConfig config_;
    SimClock clock_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Channel>> channels_;
    Faults faults_;
    RequestCounts total_counts_;
    std::map<std::uint64_t, RequestCounts> channel_counts_;
};

} // namespace flowgate::sim
