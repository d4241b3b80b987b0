#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace flowgate::sim {

/// How an outage looks to a client.
enum class OutageMode {
    http_503, ///< every request answered 503
    reset,    ///< the connection is reset (TCP RST) instead of an answer
    hang,     ///< the request is read and never answered
};

/// A response served verbatim instead of the real one: malformed or hostile bodies.
struct CannedResponse {
    unsigned status = 200;
    std::string content_type = "application/json; charset=utf-8";
    std::string body;
    /// How many requests get it; 0 means until the faults are cleared.
    std::uint64_t remaining = 0;
};

/// Faults injected into one scope (every request, or one channel's).
struct FaultSpec {
    std::optional<OutageMode> outage;
    std::chrono::milliseconds latency{0};
    double error_rate = 0;         ///< share of requests answered 500
    std::uint64_t burst_429 = 0;   ///< the next this many requests are answered 429
    std::optional<CannedResponse> canned;
};

/// What the faults decide for one request.
struct FaultDecision {
    enum class Kind { none, outage, too_many_requests, server_error, canned } kind = Kind::none;
    OutageMode outage = OutageMode::http_503;
    CannedResponse canned;
    std::chrono::milliseconds latency{0};
};

/// Global and per-channel faults. Decisions draw from a seeded generator, so a test that
/// sets an error rate sees the same sequence every run.
class Faults {
public:
    explicit Faults(std::uint64_t seed) : rng_state_{seed} {}

    /// Replaces the faults of a scope: `channel` unset means every request.
    void set(std::optional<std::uint64_t> channel, FaultSpec spec);
    void clear();

    /// Decides the fate of one request to `channel` (unset when it names no channel).
    /// Global faults come first; counters (bursts, canned responses) are used up here.
    FaultDecision decide(std::optional<std::uint64_t> channel);

private:
    bool apply(FaultSpec& spec, FaultDecision& decision);
    double next_unit();

    std::optional<FaultSpec> global_;
    std::map<std::uint64_t, FaultSpec> per_channel_;
    std::uint64_t rng_state_;
};

} // namespace flowgate::sim
