#include <gtest/gtest.h>

#include "sim_config.hpp"
#include "sim_test_support.hpp"

using namespace flowgate::sim;

namespace {

std::string error_of(const std::string& toml) {
    try {
        parse_sim_config(toml, "sim.toml");
    } catch (const SimConfigError& e) {
        return e.what();
    }
    return "no error";
}

const std::string channel = R"(
[[channels]]
id = 1
  [[channels.fields]]
  n = 1
  signal = "tds"
)";

} // namespace

TEST(SimConfig, TheDemoNetworkLoads) {
    const auto config = load_sim_config(std::string{FLOWGATE_SOURCE_DIR} + "/config/sim-demo.toml");
    EXPECT_EQ(config.channels.size(), 8u);
    int private_channels = 0;
    for (const auto& c : config.channels) private_channels += c.read_key ? 1 : 0;
    EXPECT_GT(private_channels, 0);
    EXPECT_LT(private_channels, 8);
}

TEST(SimConfig, DefaultsApply) {
    const auto config = parse_sim_config(channel, "sim.toml");
    EXPECT_EQ(config.seed, 1u);
    EXPECT_EQ(config.speed, 1.0);
    EXPECT_EQ(config.history, std::chrono::hours{24});
    EXPECT_EQ(config.channels[0].interval, std::chrono::seconds{60});
    EXPECT_EQ(config.channels[0].fields[0].label, "Field Label 1"); // ThingSpeak's default label
    EXPECT_FALSE(config.channels[0].fields[1].enabled);
}

TEST(SimConfig, ErrorsNameTheKeyAndLine) {
    EXPECT_EQ(error_of("colour = 1\n" + channel), "sim.toml:1:1: colour: unknown key");
    EXPECT_NE(error_of(channel + "  speling = 2\n").find("channels[0].fields[0].speling: unknown key"), std::string::npos);
    EXPECT_NE(error_of(channel + "  decimals = \"two\"\n").find("decimals: must be an integer"), std::string::npos);
    EXPECT_NE(error_of("history = \"forever\"\n" + channel).find("history: must be a whole number"), std::string::npos);
    EXPECT_NE(error_of("speed = 0\n" + channel).find("speed"), std::string::npos);
    EXPECT_NE(error_of("seed = 1\n").find("no [[channels]]"), std::string::npos);
    EXPECT_NE(error_of(channel + channel).find("defined twice"), std::string::npos);
    EXPECT_NE(error_of("[[channels]]\nid = 2\n[[channels.fields]]\nn = 9\nsignal = \"tds\"\n").find("n = 1..8"), std::string::npos);
    EXPECT_NE(error_of("[[channels]]\nid = 2\n[[channels.fields]]\nn = 1\nsignal = \"magic\"\n").find("unknown signal 'magic'"),
              std::string::npos);
    EXPECT_NE(error_of("seed = [\n").find("sim.toml:"), std::string::npos);
}
