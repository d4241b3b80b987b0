#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flowgate/bus/redis_connection_config.hpp"
#include "flowgate/obs/logger.hpp"

namespace boost::asio {
class io_context;
}

namespace flowgate::bus {

/// What a topic's replay stream held at one instant (read atomically, one Lua script).
struct ReplayRead {
    /// False when Redis could not be asked (disconnected past the deadline, or an error);
    /// `error` then says why and the other fields are empty.
    bool ok = false;
    std::string error;
    /// The topic's epoch, "" when the topic has never been published to (then head_seq is 0).
    std::string epoch;
    /// The topic's last assigned seq.
    std::uint64_t head_seq = 0;
    /// The messages with seq > after_seq that the stream still holds, oldest first, exactly as
    /// published (`{"seq":…,"epoch":"…",…}`). Empty when read() was given no after_seq. When
    /// the stream was trimmed past after_seq, the first one's seq is above after_seq + 1.
    std::vector<std::string> payloads;
};

/// Reads replay streams written by RedisPublisher, over its own RedisConnection (not in
/// subscribe mode). A read asked while disconnected waits for the connection, up to
/// `wait_timeout` after it was asked, and then completes with ok = false; reads complete in
/// the order asked. A read whose connection drops before the answer is sent again after the
/// reconnect (within the same deadline). Loop thread only.
class RedisReplayReader {
public:
    using Handler = std::function<void(ReplayRead read)>;

    /// Throws std::invalid_argument for a bad URL, a zero max_messages or a wait_timeout that
    /// is not positive. Does not connect before start().
    /// `max_messages` caps one read's payloads (the stream's own cap is the publisher's
    /// replay_max_messages). Default wait_timeout 5 s.
    RedisReplayReader(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger,
                      std::size_t max_messages = 10000,
                      std::chrono::milliseconds wait_timeout = std::chrono::seconds{5});
    ~RedisReplayReader();
    RedisReplayReader(const RedisReplayReader&) = delete;
    RedisReplayReader& operator=(const RedisReplayReader&) = delete;

    void start();
    /// Disconnects; reads in progress complete with ok = false.
    void stop();

    /// Reads `topic`'s epoch and head seq and, when `after_seq` is given, the messages after
    /// it. `done` is called exactly once, on the loop, never from inside read(); not after
    /// the reader is destroyed.
    void read(const std::string& topic, std::optional<std::uint64_t> after_seq, Handler done);

    bool connected() const;

private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace flowgate::bus
