#include "flowgate/bus/redis_connection.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reconnect_backoff.hpp"
#include "redis_asio_adapter.hpp"

namespace flowgate::bus {
namespace {

using Clock = std::chrono::steady_clock;

void check_client_name(const std::string& name) {
    const bool ok = std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
    });
    if (!ok) {
        throw std::invalid_argument{"Redis client_name '" + name + "': use only letters, digits and -_.:"};
    }
}

std::int64_t to_ms(std::chrono::milliseconds d) { return static_cast<std::int64_t>(d.count()); }

} // namespace

class RedisConnection::Impl final : public RedisAsioAdapter::Owner, public std::enable_shared_from_this<Impl> {
public:
    Impl(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger)
        : ioc_{ioc},
          config_{std::move(config)},
          url_{RedisUrl::parse(config_.url)},
          display_{url_.display()},
          logger_{std::move(logger)},
          backoff_{config_.reconnect_initial, config_.reconnect_max},
          resolver_{ioc},
          connect_timer_{ioc},
          retry_timer_{ioc},
          reply_timer_{ioc} {
        check_client_name(config_.client_name);
        if (config_.connect_timeout.count() <= 0 || config_.reply_timeout.count() <= 0) {
            throw std::invalid_argument{"Redis connect_timeout and reply_timeout must be positive"};
        }
    }

    void start() {
        if (state_ != State::stopped) return;
        backoff_.reset();
        failures_ = 0;
        do_connect();
    }

    void stop() {
        if (state_ == State::stopped) return;
        const bool was_ready = state_ == State::ready;
        end_attempt();
        state_ = State::stopped;
        if (was_ready) {
            logger_.info("disconnected from Redis", {{"conn", config_.client_name}, {"url", display_}});
            notify(lost_handler_);
        }
    }

    // The owner is going away: nothing may call back into it any more. The handlers are
    // not cleared, since one of them may be running right now.
    void shutdown() {
        closed_ = true;
        if (adapter_) adapter_->detach();
        stop();
    }

    // Not while an attempt is being torn down: its reply handlers run (with nullptr) after
    // adapter_ is gone but before the state changes, and may send again.
    bool connected() const { return state_ == State::ready && adapter_; }
    const RedisUrl& url() const { return url_; }

    bool command(std::span<const std::string_view> args, ReplyHandler handler) {
        if (!connected() || adapter_->subscribed()) return false;
        const auto attempt = attempt_;
        const bool sent = adapter_->command(args, [weak = weak_from_this(), attempt, handler = std::move(handler)](
                                                      const RedisReply* reply) {
            if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->on_command_reply();
            if (handler) handler(reply);
        });
        if (sent && ++pending_replies_ == 1) {
            last_progress_ = Clock::now();
            do_wait_reply();
        }
        return sent;
    }

    bool push_command(std::string_view verb, std::string_view channel) {
        if (!connected()) return false;
        const std::array<std::string_view, 2> args{verb, channel};
        return adapter_->push_command(args);
    }

    void on_adapter_connected(RedisAsioAdapter& adapter, bool ok, std::string_view error) override {
        if (&adapter != adapter_.get()) return;
        if (!ok) {
            // hiredis frees this context when we return.
            adapter_.reset();
            if (next_address_ < addresses_.size()) {
                last_error_ = error;
                boost::asio::post(ioc_, [weak = weak_from_this(), attempt = attempt_] {
                    if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->do_open();
                });
                return;
            }
            fail_attempt(std::string{error});
            return;
        }
        state_ = State::handshaking;
        adapter_->enable_keepalive();
        handshake_error_.clear();
        // Pipelined; only the last reply (PING) decides, after every earlier one was seen.
        if (!url_.password.empty()) {
            if (url_.user.empty()) {
                const std::array<std::string_view, 2> auth{"AUTH", url_.password};
                send_handshake(auth, "AUTH", false);
            } else {
                const std::array<std::string_view, 3> auth{"AUTH", url_.user, url_.password};
                send_handshake(auth, "AUTH", false);
            }
        }
        const auto db = std::to_string(url_.db);
        if (url_.db != 0) send_handshake(std::array<std::string_view, 2>{"SELECT", db}, "SELECT", false);
        if (!config_.client_name.empty()) {
            send_handshake(std::array<std::string_view, 3>{"CLIENT", "SETNAME", config_.client_name}, "CLIENT SETNAME",
                           false);
        }
        send_handshake(std::array<std::string_view, 1>{"PING"}, "PING", true);
    }

    void on_adapter_disconnected(RedisAsioAdapter& adapter, std::string_view error) override {
        if (&adapter != adapter_.get()) return;
        adapter_.reset(); // hiredis frees the context when we return
        if (state_ == State::ready) {
            end_attempt();
            connection_lost(error);
        } else {
            fail_attempt(std::string{error});
        }
    }

    void on_adapter_push(RedisAsioAdapter& adapter, const RedisReply& reply) override {
        if (closed_ || &adapter != adapter_.get() || !push_handler_) return;
        // Held for the call: the handler may destroy the RedisConnection.
        const auto self = shared_from_this();
        push_handler_(reply);
    }

    std::function<void()> ready_handler_;
    std::function<void()> lost_handler_;
    std::function<void(const RedisReply&)> push_handler_;

private:
    enum class State { stopped, resolving, connecting, handshaking, ready, waiting };

    void do_connect() {
        ++attempt_;
        state_ = State::resolving;
        connect_timer_.expires_after(config_.connect_timeout);
        connect_timer_.async_wait([weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec) {
            if (ec) return;
            if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->on_connect_timeout();
        });
        boost::system::error_code ec;
        const auto address = boost::asio::ip::make_address(url_.host, ec);
        if (!ec) {
            addresses_ = {address.to_string()};
            next_address_ = 0;
            do_open();
            return;
        }
        // Asio resolves on its own internal thread; the completion comes back to the loop,
        // which never blocks on DNS.
        resolver_.async_resolve(
            url_.host, std::to_string(url_.port),
            [weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec,
                                                        const boost::asio::ip::tcp::resolver::results_type& results) {
                if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->on_resolve(ec, results);
            });
    }

    void on_resolve(const boost::system::error_code& ec, const boost::asio::ip::tcp::resolver::results_type& results) {
        if (state_ != State::resolving) return;
        if (ec) {
            fail_attempt("cannot resolve " + url_.host + ": " + ec.message());
            return;
        }
        addresses_.clear();
        for (const auto& entry : results) {
            auto ip = entry.endpoint().address().to_string();
            if (std::find(addresses_.begin(), addresses_.end(), ip) == addresses_.end()) addresses_.push_back(std::move(ip));
        }
        next_address_ = 0;
        do_open();
    }

    // Tries the resolved addresses in order ("localhost" may be ::1 first while Redis
    // listens on 127.0.0.1 only).
    void do_open() {
        state_ = State::connecting;
        std::string error = last_error_;
        while (next_address_ < addresses_.size()) {
            adapter_ = RedisAsioAdapter::connect(ioc_, addresses_[next_address_++], url_.port, weak_from_this(), error);
            if (adapter_) return;
        }
        fail_attempt(error.empty() ? "no address to connect to" : error);
    }

    template <std::size_t N>
    void send_handshake(const std::array<std::string_view, N>& args, const char* step, bool last) {
        const bool sent = adapter_->command(args, [weak = weak_from_this(), attempt = attempt_, step,
                                                   last](const RedisReply* reply) {
            if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->on_handshake_reply(reply, step, last);
        });
        if (!sent && handshake_error_.empty()) handshake_error_ = std::string{step} + ": not sent";
    }

    void on_handshake_reply(const RedisReply* reply, const char* step, bool last) {
        // nullptr: the context is going away; its disconnect (or our own close) decides.
        if (reply == nullptr || state_ != State::handshaking) return;
        // Server errors quote the command name, never its arguments, so they are safe to log.
        if (reply->is_error() && handshake_error_.empty()) handshake_error_ = std::string{step} + ": " + std::string{reply->str()};
        if (!last) return;
        if (!handshake_error_.empty()) {
            fail_attempt(handshake_error_);
            return;
        }
        connect_timer_.cancel();
        state_ = State::ready;
        pending_replies_ = 0;
        logger_.info("connected to Redis", {{"conn", config_.client_name},
                                            {"url", display_},
                                            {"failed_attempts", static_cast<std::uint64_t>(failures_)}});
        failures_ = 0;
        backoff_.reset();
        last_error_.clear();
        notify(ready_handler_);
    }

    void on_connect_timeout() {
        if (state_ == State::ready || state_ == State::stopped || state_ == State::waiting) return;
        fail_attempt("no answer within " + std::to_string(config_.connect_timeout.count()) + " ms");
    }

    void do_wait_reply() {
        reply_timer_.expires_at(last_progress_ + config_.reply_timeout);
        reply_timer_.async_wait([weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec) {
            if (ec) return;
            if (const auto self = weak.lock(); self && self->attempt_ == attempt) self->on_reply_timer();
        });
    }

    void on_command_reply() {
        if (pending_replies_ == 0) return;
        last_progress_ = Clock::now();
        if (--pending_replies_ == 0) reply_timer_.cancel();
    }

    // Re-armed from the last reply rather than on every reply, which would cost a timer
    // cancellation per message.
    void on_reply_timer() {
        if (state_ != State::ready || pending_replies_ == 0) return;
        if (Clock::now() < last_progress_ + config_.reply_timeout) {
            do_wait_reply();
            return;
        }
        const auto pending = pending_replies_;
        end_attempt();
        connection_lost("no reply to " + std::to_string(pending) + " command(s) within " +
                        std::to_string(config_.reply_timeout.count()) + " ms");
    }

    // Leaves the current attempt or connection: timers, resolver and context.
    void end_attempt() {
        ++attempt_;
        connect_timer_.cancel();
        retry_timer_.cancel();
        reply_timer_.cancel();
        resolver_.cancel();
        pending_replies_ = 0;
        if (adapter_) std::exchange(adapter_, nullptr)->close();
    }

    void connection_lost(std::string_view error) {
        // The drop counts as the outage's first failure: its retries log at debug.
        failures_ = 1;
        logger_.warn("lost connection to Redis; reconnecting",
                     {{"conn", config_.client_name}, {"url", display_}, {"error", error}});
        schedule_retry();
        notify(lost_handler_);
    }

    void fail_attempt(const std::string& error) {
        end_attempt();
        ++failures_;
        const auto delay = schedule_retry();
        const obs::LogFields fields{{"conn", config_.client_name},
                                    {"url", display_},
                                    {"error", error},
                                    {"attempt", static_cast<std::uint64_t>(failures_)},
                                    {"retry_in_ms", to_ms(delay)}};
        if (failures_ == 1) {
            logger_.warn("cannot connect to Redis; retrying", fields);
        } else {
            logger_.debug("cannot connect to Redis; retrying", fields);
        }
    }

    void notify(const std::function<void()>& handler) {
        if (closed_ || !handler) return;
        // Held for the call: the handler may destroy the RedisConnection.
        const auto self = shared_from_this();
        handler();
    }

    std::chrono::milliseconds schedule_retry() {
        state_ = State::waiting;
        const auto delay = backoff_.next();
        retry_timer_.expires_after(delay);
        retry_timer_.async_wait([weak = weak_from_this(), attempt = attempt_](const boost::system::error_code& ec) {
            if (ec) return;
            if (const auto self = weak.lock(); self && self->attempt_ == attempt && self->state_ == State::waiting) {
                self->do_connect();
            }
        });
        return delay;
    }

    boost::asio::io_context& ioc_;
    RedisConnectionConfig config_;
    RedisUrl url_;
    std::string display_;
    obs::Logger logger_;
    ReconnectBackoff backoff_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer reply_timer_;
    std::shared_ptr<RedisAsioAdapter> adapter_;
    State state_ = State::stopped;
    bool closed_ = false;
    // Identifies the current attempt; completions of an earlier one are ignored.
    std::uint64_t attempt_ = 0;
    std::vector<std::string> addresses_;
    std::size_t next_address_ = 0;
    std::string last_error_;
    std::string handshake_error_;
    unsigned failures_ = 0;
    std::size_t pending_replies_ = 0;
    Clock::time_point last_progress_{};
};

RedisConnection::RedisConnection(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger)
    : impl_{std::make_shared<Impl>(ioc, std::move(config), std::move(logger))} {}

RedisConnection::~RedisConnection() {
    impl_->shutdown();
}

void RedisConnection::start() { impl_->start(); }
void RedisConnection::stop() { impl_->stop(); }
bool RedisConnection::connected() const { return impl_->connected(); }
const RedisUrl& RedisConnection::url() const { return impl_->url(); }

void RedisConnection::set_ready_handler(std::function<void()> handler) { impl_->ready_handler_ = std::move(handler); }
void RedisConnection::set_lost_handler(std::function<void()> handler) { impl_->lost_handler_ = std::move(handler); }
void RedisConnection::set_push_handler(std::function<void(const RedisReply& reply)> handler) {
    impl_->push_handler_ = std::move(handler);
}

bool RedisConnection::command(std::span<const std::string_view> args, ReplyHandler handler) {
    return impl_->command(args, std::move(handler));
}

bool RedisConnection::command(std::initializer_list<std::string_view> args, ReplyHandler handler) {
    return impl_->command(std::span<const std::string_view>{args.begin(), args.size()}, std::move(handler));
}

bool RedisConnection::subscribe(std::string_view channel) { return impl_->push_command("SUBSCRIBE", channel); }
bool RedisConnection::unsubscribe(std::string_view channel) { return impl_->push_command("UNSUBSCRIBE", channel); }

} // namespace flowgate::bus
