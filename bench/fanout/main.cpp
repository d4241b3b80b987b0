// flowgate-bench-fanout: N WebSocket clients on /ws/community/{1..topics}/updates and a
// publisher at stepped rates, in one single-threaded process (so the latency clock is one
// clock). Prints one Markdown table row per step; see run.sh, which starts the server.

#include <arpa/inet.h>
#include <sys/resource.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_publisher.hpp"
#include "http_probe.hpp"
#include "server_probe.hpp"
#include "syscall_counter.hpp"
#include "ws_client_pool.hpp"

namespace fb = flowgate::bench;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* usage =
    "usage: flowgate-bench-fanout --port PORT --rates R1,R2,... [options]\n"
    "       flowgate-bench-fanout --header\n"
    "  --host ADDR          server address, IPv4 (default 127.0.0.1)\n"
    "  --port PORT          server port (required)\n"
    "  --redis URL          Redis for the publisher (default $FLOWGATE_REDIS_URL or redis://127.0.0.1:56379)\n"
    "  --clients N          WebSocket clients, spread round-robin over the topics (default 1000)\n"
    "  --topics N           topics community:{1..N}:updates (default 10)\n"
    "  --rates LIST         offered deliveries/s of each step, e.g. 100000,200000\n"
    "  --step-seconds S     publishing time of one step (default 3)\n"
    "  --message-bytes B    size of a delivered message (default 200)\n"
    "  --server-pid PID     measure the server: CPU, RSS and (with perf) syscalls\n"
    "  --no-perf            do not count syscalls\n"
    "  --idle-seconds S     wait before reading the idle RSS (default 2)\n"
    "  --connect-batch N    clients connecting at once (default 200)\n"
    "  --stalled N          N more clients on the first topic that never read (default 0)\n"
    "  --deflate            clients offer permessage-deflate\n"
    "  --keep-going         run every step, not only up to the first failing one\n"
    "  --header             print the table header and exit\n";

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string redis_url;
    std::size_t clients = 1000;
    std::size_t topics = 10;
    std::vector<double> rates;
    double step_seconds = 3;
    std::size_t message_bytes = 200;
    pid_t server_pid = 0;
    bool perf = true;
    double idle_seconds = 2;
    std::size_t connect_batch = 200;
    std::size_t stalled = 0;
    bool deflate = false;
    bool keep_going = false;
};

double number(std::string_view flag, std::string_view text) {
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < 0) {
        throw std::invalid_argument{std::string{flag} + ": not a non-negative number: '" + std::string{text} + "'"};
    }
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    if (const char* url = std::getenv("FLOWGATE_REDIS_URL"); url != nullptr && *url != '\0') o.redis_url = url;
    if (o.redis_url.empty()) o.redis_url = "redis://127.0.0.1:56379";
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag{argv[i]};
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) throw std::invalid_argument{std::string{flag} + " needs a value"};
            return argv[++i];
        };
        if (flag == "--host") o.host = value();
        else if (flag == "--port") o.port = static_cast<int>(number(flag, value()));
        else if (flag == "--redis") o.redis_url = value();
        else if (flag == "--clients") o.clients = static_cast<std::size_t>(number(flag, value()));
        else if (flag == "--topics") o.topics = static_cast<std::size_t>(number(flag, value()));
        else if (flag == "--step-seconds") o.step_seconds = number(flag, value());
        else if (flag == "--message-bytes") o.message_bytes = static_cast<std::size_t>(number(flag, value()));
        else if (flag == "--server-pid") o.server_pid = static_cast<pid_t>(number(flag, value()));
        else if (flag == "--no-perf") o.perf = false;
        else if (flag == "--idle-seconds") o.idle_seconds = number(flag, value());
        else if (flag == "--connect-batch") o.connect_batch = static_cast<std::size_t>(number(flag, value()));
        else if (flag == "--stalled") o.stalled = static_cast<std::size_t>(number(flag, value()));
        else if (flag == "--keep-going") o.keep_going = true;
        else if (flag == "--deflate") o.deflate = true;
        else if (flag == "--rates") {
            const auto list = value();
            for (std::size_t at = 0; at <= list.size();) {
                auto comma = list.find(',', at);
                if (comma == std::string_view::npos) comma = list.size();
                o.rates.push_back(number(flag, list.substr(at, comma - at)));
                at = comma + 1;
            }
        } else {
            throw std::invalid_argument{"unknown argument '" + std::string{flag} + "'"};
        }
    }
    if (o.port <= 0 || o.port > 65535) throw std::invalid_argument{"--port is required (1..65535)"};
    if (o.rates.empty()) throw std::invalid_argument{"--rates is required"};
    if (o.topics == 0 || o.clients < o.topics) throw std::invalid_argument{"--clients must be at least --topics (and both > 0)"};
    if (o.connect_batch == 0) throw std::invalid_argument{"--connect-batch must be at least 1"};
    return o;
}

void raise_nofile(std::size_t needed) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const auto want = static_cast<rlim_t>(needed);
    if (limit.rlim_cur >= want) return;
    limit.rlim_cur = limit.rlim_max >= want ? want : limit.rlim_max;
    if (limit.rlim_max < want) {
        rlimit raised{want, want}; // only root may raise the hard limit
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
    }
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < want) {
        std::cerr << "warning: RLIMIT_NOFILE is " << limit.rlim_cur << ", below the " << needed << " needed\n";
    }
}

double cpu_seconds_self() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string fixed(double v, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return text;
}

std::string grouped(double v) {
    auto digits = std::to_string(static_cast<long long>(v + 0.5));
    for (auto at = static_cast<long>(digits.size()) - 3; at > 0; at -= 3) digits.insert(static_cast<std::size_t>(at), ",");
    return digits;
}

void print_header() {
    std::cout << "| clients | offered del/s | msgs/s | deliveries/s | p50 ms | p99 ms | max ms | missing | dup | closed "
                 "| pass | server CPU % | server µs/del | syscalls/del | bench CPU % | /healthz p50 / p99 ms |\n"
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: |\n";
}

int run(const Options& o) {
    raise_nofile(o.clients + o.stalled + 1024);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(static_cast<std::uint16_t>(o.port));
    if (::inet_pton(AF_INET, o.host.c_str(), &server.sin_addr) != 1) {
        throw std::invalid_argument{"--host: not an IPv4 address: " + o.host};
    }

    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    fb::BenchPublisher publisher{ioc, o.redis_url, o.topics, o.message_bytes,
                                 flowgate::obs::make_stderr_logger(flowgate::obs::LogLevel::warn,
                                                                   flowgate::obs::LogFormat::text, "bench-publisher")};
    fb::WsClientPool pool{server, o.host + ":" + std::to_string(o.port), o.deflate};
    std::optional<fb::ServerProbe> probe;
    if (o.server_pid > 0) probe.emplace(o.server_pid);
    fb::HttpProbe http{server, o.host + ":" + std::to_string(o.port), 10ms};

    // The one loop: client sockets, the HTTP probe, then the publisher's Redis connection.
    auto turn = [&](int timeout_ms) {
        pool.poll(timeout_ms);
        http.poll(Clock::now());
        ioc.poll();
    };
    auto run_until = [&](Clock::duration timeout, const std::function<bool()>& done) {
        const auto deadline = Clock::now() + timeout;
        while (!done()) {
            if (Clock::now() >= deadline) return false;
            turn(1);
        }
        return true;
    };

    publisher.start();
    if (!run_until(5s, [&] { return publisher.connected(); })) {
        std::cerr << "error: the publisher cannot reach Redis at " << o.redis_url << "\n";
        return 1;
    }

    const std::uint64_t rss_before = probe ? probe->rss_kib().value_or(0) : 0;
    const auto connect_start = Clock::now();
    for (std::size_t started = 0; started < o.clients;) {
        const auto batch = std::min(o.connect_batch, o.clients - started);
        for (std::size_t i = 0; i < batch; ++i, ++started) {
            const auto topic = started % o.topics;
            pool.connect("/ws/community/" + std::to_string(topic + 1) + "/updates", topic);
        }
        run_until(10s, [&] { return pool.pending() == 0; });
    }
    for (std::size_t i = 0; i < o.stalled; ++i) pool.connect("/ws/community/1/updates", 0, true);
    run_until(10s, [&] { return pool.pending() == 0; });
    std::cerr << "connected " << pool.open() << " of " << o.clients << " clients";
    if (o.stalled > 0) std::cerr << " and " << pool.stalled() << " of " << o.stalled << " that never read";
    std::cerr << " in "
              << fixed(std::chrono::duration<double>(Clock::now() - connect_start).count(), 1) << " s\n";
    if (pool.failed() > 0 || pool.pending() > 0) {
        std::cerr << "error: " << pool.failed() << " failed, " << pool.pending()
                  << " still pending; first failure: " << pool.first_failure() << "\n";
        if (pool.open() == 0) return 1;
    }
    run_until(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.idle_seconds)),
              [] { return false; });
    if (probe) {
        const auto rss_after = probe->rss_kib().value_or(0);
        if (rss_before > 0 && rss_after > 0) {
            const auto delta = static_cast<double>(rss_after) - static_cast<double>(rss_before);
            const auto connections = pool.open() + pool.stalled();
            std::cout << "#idle | " << connections << " | " << rss_before << " | " << rss_after << " | "
                      << fixed(delta * 1024 / static_cast<double>(connections), 0) << " |\n";
        }
    }

    // Warm-up: one message per topic until a round reaches every client, which proves the
    // server has subscribed to each topic (and gives every connection its first seq).
    bool warm = false;
    for (int round = 0; round < 20 && !warm; ++round) {
        pool.begin_step(Clock::now());
        publisher.publish_round();
        warm = run_until(1s, [&] { return pool.step().delivered >= pool.open(); });
    }
    if (!warm) {
        std::cerr << "error: warm-up messages did not reach every client (" << pool.step().delivered << " of "
                  << pool.open() << ")\n";
        return 1;
    }

    const auto ticks = static_cast<double>(fb::ServerProbe::ticks_per_second());
    for (const auto offered : o.rates) {
        const auto open_per_topic = pool.open_per_topic(o.topics);
        const auto open = std::accumulate(open_per_topic.begin(), open_per_topic.end(), std::size_t{0});
        if (open == 0) {
            std::cerr << "error: no client left open\n";
            return 1;
        }
        const double per_second = offered * static_cast<double>(o.topics) / static_cast<double>(open);

        std::optional<fb::SyscallCounter> syscalls;
        if (probe && o.perf) {
            syscalls.emplace(o.server_pid);
            if (syscalls->start()) {
                run_until(300ms, [] { return false; }); // perf attaching
            } else {
                std::cerr << "warning: no syscall count: " << syscalls->error() << "\n";
                syscalls.reset();
            }
        }
        const auto cpu_before = probe ? probe->cpu_ticks() : std::nullopt;
        const auto self_before = cpu_seconds_self();
        const auto start = Clock::now();
        pool.begin_step(start);
        http.begin_step();
        publisher.begin(per_second, start);
        const auto publish_end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.step_seconds));
        while (Clock::now() < publish_end) {
            turn(1);
            publisher.pump(Clock::now());
        }
        publisher.end();

        std::uint64_t expected = 0;
        for (std::size_t i = 0; i < o.topics; ++i) expected += publisher.sent_per_topic()[i] * open_per_topic[i];
        // Drain: until everything arrived, or nothing more arrives for 1 s, or 10 s.
        auto last_count = pool.step().delivered;
        auto last_progress = Clock::now();
        run_until(10s, [&] {
            const auto now = Clock::now();
            if (pool.step().delivered != last_count) {
                last_count = pool.step().delivered;
                last_progress = now;
            }
            if (!publisher.idle()) return false;
            return pool.step().delivered >= expected || now - last_progress > 1s;
        });
        const auto end = Clock::now();
        const auto cpu_after = probe ? probe->cpu_ticks() : std::nullopt;
        const auto self_cpu = cpu_seconds_self() - self_before;
        const auto syscall_count = syscalls ? syscalls->stop() : std::nullopt;
        if (syscalls && !syscall_count) std::cerr << "warning: no syscall count: " << syscalls->error() << "\n";

        const auto& s = pool.step();
        const auto delivered = s.delivered;
        const auto missing = expected > delivered ? expected - delivered : 0;
        const auto wall = std::chrono::duration<double>(end - start).count();
        const auto active = std::chrono::duration<double>(std::max(s.last_delivery, publish_end) - start).count();
        const auto p50 = static_cast<double>(s.latency.percentile(0.50)) / 1e6;
        const auto p99 = static_cast<double>(s.latency.percentile(0.99)) / 1e6;
        const bool pass = p99 < 100.0 && missing == 0 && delivered > 0;
        std::string cpu_pct = "–", cpu_per = "–", sys_per = "–";
        if (cpu_before && cpu_after && delivered > 0) {
            const auto seconds = static_cast<double>(*cpu_after - *cpu_before) / ticks;
            cpu_pct = fixed(100 * seconds / wall, 0);
            cpu_per = fixed(seconds * 1e6 / static_cast<double>(delivered), 2);
        }
        if (syscall_count && delivered > 0) sys_per = fixed(static_cast<double>(*syscall_count) / static_cast<double>(delivered), 3);
        std::cout << "| " << open << " | " << grouped(offered) << " | " << grouped(per_second) << " | "
                  << grouped(static_cast<double>(delivered) / active) << " | " << fixed(p50, 2) << " | " << fixed(p99, 2)
                  << " | " << fixed(static_cast<double>(s.latency.max()) / 1e6, 1) << " | " << missing << " | "
                  << s.duplicates << " | " << s.closed << " | " << (pass ? "yes" : "**no**") << " | " << cpu_pct << " | "
                  << cpu_per << " | " << sys_per << " | " << fixed(100 * self_cpu / wall, 0) << " | "
                  << fixed(static_cast<double>(http.latency().percentile(0.50)) / 1e6, 2) << " / "
                  << fixed(static_cast<double>(http.latency().percentile(0.99)) / 1e6, 2) << " |" << std::endl;

        const auto ps = publisher.stats();
        if (s.gaps > 0 || s.late > 0 || s.foreign > 0 || s.epoch_changes > 0 || ps.dropped > 0 || ps.failed > 0) {
            std::cerr << "  note: gaps " << s.gaps << ", late " << s.late << ", foreign " << s.foreign
                      << ", epoch changes " << s.epoch_changes << ", publisher dropped " << ps.dropped << " failed "
                      << ps.failed << "\n";
        }
        if (!http.error().empty()) std::cerr << "  note: the /healthz probe stopped: " << http.error() << "\n";
        for (const auto& [code, count] : pool.close_codes()) std::cerr << "  note: close code " << code << " × " << count << "\n";
        if (!pass && !o.keep_going) break;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        if (argc == 2 && std::string_view{argv[1]} == "--header") {
            print_header();
            return 0;
        }
        if (argc == 2 && (std::string_view{argv[1]} == "--help" || std::string_view{argv[1]} == "-h")) {
            std::cout << usage;
            return 0;
        }
        return run(parse(argc, argv));
    } catch (const std::invalid_argument& e) {
        std::cerr << "flowgate-bench-fanout: " << e.what() << "\n" << usage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "flowgate-bench-fanout: " << e.what() << "\n";
        return 1;
    }
}
