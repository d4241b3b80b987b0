#pragma once

#include <chrono>
#include <string>

namespace flowgate::bus {

/// Settings of one RedisConnection; every field has a usable default except `url`.
struct RedisConnectionConfig {
    /// `redis://[[user]:password@]host[:port][/db]` (see RedisUrl). Required.
    std::string url;
    /// Names the connection in log lines and, via CLIENT SETNAME, in Redis's CLIENT LIST.
    /// Letters, digits and `-_.:` only. Default "flowgate".
    std::string client_name = "flowgate";
    /// Deadline for one connection attempt: resolving, TCP connect, AUTH/SELECT and a PING
    /// answered (a Redis still loading its data set answers -LOADING and is retried).
    /// Default 2 s.
    std::chrono::milliseconds connect_timeout{2000};
    /// A connection with commands in flight that receives no reply for this long is
    /// considered dead and reconnected. Default 10 s.
    std::chrono::milliseconds reply_timeout{10000};
    /// Delay before the first reconnect attempt, doubled after each failed one. Default 100 ms.
    std::chrono::milliseconds reconnect_initial{100};
    /// Upper bound of the reconnect delay. Default 5 s.
    std::chrono::milliseconds reconnect_max{5000};
};

} // namespace flowgate::bus
