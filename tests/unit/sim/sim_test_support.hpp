#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "sim_api.hpp"
#include "sim_config.hpp"

namespace flowgate::sim::test {

using namespace std::chrono_literals;

/// 2026-03-01T00:00:00Z: every test's wall clock starts here.
inline const WallTime t0 = WallTime{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}};

/// A small network: a public tank, a private sump, a one-field-per-post node.
inline constexpr const char* small_network = R"toml(
seed = 11
start = "2026-03-01T00:00:00Z"
history = "2d"

[[channels]]
id = 101
name = "OHT-1"
description = "overhead tank"
latitude = "12.93"
longitude = "77.58"
interval = "15s"
metadata = "{\"site\":\"ward 7\"}"
statuses = ["ok"]
status_every = 10
  [[channels.fields]]
  n = 1
  label = "Water Level (cm)"
  signal = "tank_level"
  min = 20
  max = 300
  decimals = 1
  [[channels.fields]]
  n = 2
  label = "Temperature (C)"
  signal = "temperature"
  mean = 26
  amplitude = 3
  [[channels.fields]]
  n = 4
  label = "Unused"
  signal = "tds"
  mean = 300
  enabled = false

[[channels]]
id = 202
name = "Sump-1"
read_key = "SECRETKEY202"
interval = "60s"
  [[channels.fields]]
  n = 1
  label = "Sump Level (cm)"
  signal = "sump_level"

[[channels]]
id = 303
name = "Single-field node"
interval = "20s"
quirks = { one_field_per_post = true }
  [[channels.fields]]
  n = 1
  label = "Level"
  signal = "tank_level"
  [[channels.fields]]
  n = 2
  label = "Pump"
  signal = "pump"
  decimals = 0
  [[channels.fields]]
  n = 3
  label = "Flow"
  signal = "flow_rate"
  mean = 100
)toml";

struct Got {
    unsigned status;
    std::string body;
    nlohmann::json json;
    SimReply reply;
};

/// Sends one GET (or another method) and parses the body when it is JSON.
inline Got request(SimApi& api, std::string target, WallTime now = t0, std::string method = "GET",
                   std::string body = {}) {
    SimRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    auto reply = api.handle(req, now);
    auto parsed = nlohmann::json::parse(reply.body, nullptr, false);
    return Got{reply.status, reply.body, parsed, std::move(reply)};
}

inline Got control(SimApi& api, std::string target, std::string body = "{}", WallTime now = t0) {
    return request(api, std::move(target), now, "POST", std::move(body));
}

} // namespace flowgate::sim::test
