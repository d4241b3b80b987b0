#include "faults.hpp"

#include "signal.hpp"

namespace flowgate::sim {

void Faults::set(std::optional<std::uint64_t> channel, FaultSpec spec) {
    if (channel) {
        per_channel_[*channel] = std::move(spec);
    } else {
        global_ = std::move(spec);
    }
}

void Faults::clear() {
    global_.reset();
    per_channel_.clear();
}

double Faults::next_unit() {
    rng_state_ = mix(rng_state_, 0x5eed);
    return unit_interval(rng_state_);
}

bool Faults::apply(FaultSpec& spec, FaultDecision& decision) {
    decision.latency += spec.latency;
    if (spec.outage) {
        decision.kind = FaultDecision::Kind::outage;
        decision.outage = *spec.outage;
        return true;
    }
    if (spec.burst_429 > 0) {
        --spec.burst_429;
        decision.kind = FaultDecision::Kind::too_many_requests;
        return true;
    }
    if (spec.error_rate > 0 && next_unit() < spec.error_rate) {
        decision.kind = FaultDecision::Kind::server_error;
        return true;
    }
    if (spec.canned) {
        decision.kind = FaultDecision::Kind::canned;
        decision.canned = *spec.canned;
        if (spec.canned->remaining > 0 && --spec.canned->remaining == 0) spec.canned.reset();
        return true;
    }
    return false;
}

FaultDecision Faults::decide(std::optional<std::uint64_t> channel) {
    FaultDecision decision;
    if (global_ && apply(*global_, decision)) return decision;
    if (channel) {
        if (auto it = per_channel_.find(*channel); it != per_channel_.end()) apply(it->second, decision);
    }
    return decision;
}

} // namespace flowgate::sim
