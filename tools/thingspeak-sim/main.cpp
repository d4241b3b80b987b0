// flowgate-sim: a ThingSpeak-compatible read API with a control API for tests.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "flowgate/core/time_format.hpp"
#include "http_server.hpp"
#include "sim_api.hpp"
#include "sim_config.hpp"

namespace {

constexpr std::string_view usage = R"(usage: flowgate-sim --config FILE [options]

  --config FILE        channels and signals (see config/sim-demo.toml)
  --listen HOST:PORT   where to serve (default 127.0.0.1:8090; port 0 picks a free one)
  --port-file FILE     write the bound port there once listening
  --seed N             override the config's seed
  --speed X            override the config's speed (simulated seconds per second)
  --log-level LEVEL    trace, debug, info (default), warn, error
  --log-format FORMAT  text (default) or json
)";

struct Options {
    std::string config;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8090;
    std::string port_file;
    std::optional<std::uint64_t> seed;
    std::optional<double> speed;
    flowgate::obs::LogLevel level = flowgate::obs::LogLevel::info;
    flowgate::obs::LogFormat format = flowgate::obs::LogFormat::text;
};

[[noreturn]] void usage_error(std::string_view message) {
    std::cerr << "flowgate-sim: " << message << "\n\n" << usage;
    std::exit(2);
}

template <typename T>
T number_arg(std::string_view flag, std::string_view value) {
    T v{};
    const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc{} || p != value.data() + value.size()) {
        usage_error(std::string{flag} + ": '" + std::string{value} + "' is not a valid number");
    }
    return v;
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::cout << usage;
            std::exit(0);
        }
        if (i + 1 >= argc) usage_error(std::string{flag} + " needs a value");
        const std::string_view value = argv[++i];
        if (flag == "--config") {
            o.config = value;
        } else if (flag == "--listen") {
            const auto colon = value.rfind(':');
            if (colon == std::string_view::npos || colon == 0) usage_error("--listen must be HOST:PORT");
            o.host = value.substr(0, colon);
            o.port = number_arg<std::uint16_t>("--listen", value.substr(colon + 1));
        } else if (flag == "--port-file") {
            o.port_file = value;
        } else if (flag == "--seed") {
            o.seed = number_arg<std::uint64_t>(flag, value);
        } else if (flag == "--speed") {
            o.speed = number_arg<double>(flag, value);
        } else if (flag == "--log-level") {
            if (!flowgate::obs::parse_log_level(value, o.level)) usage_error("--log-level: unknown level");
        } else if (flag == "--log-format") {
            if (!flowgate::obs::parse_log_format(value, o.format)) usage_error("--log-format: text or json");
        } else {
            usage_error("unknown option " + std::string{flag});
        }
    }
    if (o.config.empty()) usage_error("--config is required");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    const auto options = parse_args(argc, argv);
    auto log = flowgate::obs::make_stderr_logger(options.level, options.format, "sim");
    try {
        auto config = flowgate::sim::load_sim_config(options.config);
        if (options.seed) config.seed = *options.seed;
        if (options.speed) {
            if (!(*options.speed > 0)) usage_error("--speed must be above 0");
            config.speed = *options.speed;
        }
        boost::asio::io_context ioc{1};
        flowgate::sim::SimApi api{std::move(config), std::chrono::system_clock::now()};
        flowgate::sim::HttpServer server{ioc, api, log};
        const auto port = server.listen(options.host, options.port);
        server.start();
        if (!options.port_file.empty()) {
            // Written whole to a temporary name first, so a reader never sees a partial port.
            const auto tmp = options.port_file + ".tmp";
            std::ofstream{tmp} << port << '\n';
            std::filesystem::rename(tmp, options.port_file);
        }
        log.info("listening", {{"host", options.host},
                               {"port", port},
                               {"channels", api.channel_count()},
                               {"sim_time", flowgate::format_iso8601(api.sim_now(std::chrono::system_clock::now()))}});

        boost::asio::signal_set signals{ioc, SIGINT, SIGTERM};
        signals.async_wait([&](const boost::system::error_code&, int signal) {
            log.info("stopping", {{"signal", signal}, {"requests_served", api.total_counts().total}});
            server.stop();
            ioc.stop();
        });
        ioc.run();
        return 0;
    } catch (const flowgate::sim::SimConfigError& e) {
        log.error("bad configuration", {{"error", e.what()}});
        return 2;
    } catch (const std::exception& e) {
        log.error("cannot start", {{"error", e.what()}});
        return 1;
    }
}
