#include "flowgate/bus/redis_budget.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <deque>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "flowgate/bus/redis_connection.hpp"
#include "log_rate_limiter.hpp"

namespace flowgate::bus {
namespace {

using resilience::TokenBucket;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// KEYS[1]: the bucket (tokens, at, paused: times in ms by Redis's clock); KEYS[2]: the
// instances using it, scored by their last take.
// ARGV: rate per second, burst, instance id, member ttl (ms), pause (ms, 0 for none),
// take (1) or only pause (0).
// Returns {granted (0 or 1), ms until a token may be there, instances using the key}.
constexpr std::string_view take_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local member_ttl, pause, take = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'paused')
local tokens = tonumber(s[1]) or burst
local at = tonumber(s[2]) or now
local paused = tonumber(s[3]) or 0
if pause > 0 and now + pause > paused then
  paused = now + pause
  tokens = 0
end
local from = math.max(at, paused)
if now > from then tokens = tokens + (now - from) * rate / 1000 end
tokens = math.min(burst, tokens)
at = math.max(at, now)
local granted, wait = 0, 0
if now >= paused and tokens >= 1 then
  if take then
    tokens = tokens - 1
    granted = 1
  end
else
  wait = math.max(0, paused - now)
  if tokens < 1 then wait = wait + math.ceil((1 - tokens) * 1000 / rate) end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%d', at),
           'paused', string.format('%d', paused))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + math.max(0, paused - now) + member_ttl)
if take then
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - member_ttl)
  redis.call('PEXPIRE', KEYS[2], member_ttl)
end
return {granted, wait, redis.call('ZCARD', KEYS[2])}
)lua";

/// Fixed with 6 decimals: enough for a rate, and never an exponent Lua would misread.
std::string number(double v) {
    char out[32];
    const auto [end, ec] = std::to_chars(out, out + sizeof out, v, std::chars_format::fixed, 6);
    return ec == std::errc{} ? std::string{out, end} : std::to_string(v);
}

} // namespace

class RedisBudget::Impl {
public:
    Impl(boost::asio::io_context& ioc, RedisBudgetOptions options, obs::Logger logger)
        : ioc_{ioc}, options_{std::move(options)}, logger_{std::move(logger)},
          connection_{ioc, options_.connection, logger_}, deadline_{ioc},
          ttl_{std::to_string(options_.member_ttl.count())} {
        if (options_.instance_id.empty()) throw std::invalid_argument{"RedisBudget needs an instance id"};
        connection_.set_ready_handler([this] { on_ready(); });
    }

    void start() {
        stopped_ = false;
        started_ = SteadyClock::now();
        connection_.start();
    }

    void stop() {
        stopped_ = true;
        deadline_.cancel();
        connection_.stop();
    }

    bool shared() const { return connection_.connected() && !stopped_; }

    std::optional<Decision> take(const std::string& key_id, TokenBucket& bucket, Handler done) {
        const auto now = SteadyClock::now();
        // A Retry-After this instance was given holds it back whatever Redis says.
        if (now < bucket.paused_until()) return Decision{false, bucket.paused_until()};
        auto t = std::make_shared<Take>(Take{key_id, &bucket, number(bucket.rate()), number(bucket.burst()),
                                             milliseconds{0}, std::move(done), now});
        if (!shared() || !send(t)) return local(bucket, now);
        waiting_.push_back(t);
        if (waiting_.size() == 1) arm_deadline();
        return std::nullopt;
    }

    void pause(const std::string& key_id, const TokenBucket& bucket, milliseconds how_long) {
        if (!shared() || how_long <= milliseconds{0}) return;
        send(std::make_shared<Take>(Take{key_id, nullptr, number(bucket.rate()), number(bucket.burst()), how_long, {},
                                         SteadyClock::now()}));
    }

private:
    /// One run of the script: a take for `taker`'s device, or only a pause when it is null.
    struct Take {
        std::string key_id;
        TokenBucket* taker;
        std::string rate, burst;
        milliseconds pause;
        Handler done;
        SteadyClock::time_point sent;
        bool decided = false;
    };

    bool send(const std::shared_ptr<Take>& t) {
        const auto bucket_key = "fg:budget:{" + t->key_id + "}";
        const auto users_key = bucket_key + ":users";
        const auto pause_ms = std::to_string(t->pause.count());
        std::vector<std::string_view> args;
        if (sha_.empty()) {
            args = {"EVAL", take_script};
        } else {
            args = {"EVALSHA", sha_};
        }
        args.insert(args.end(), {"2", bucket_key, users_key, t->rate, t->burst, options_.instance_id, ttl_, pause_ms,
                                 t->taker ? "1" : "0"});
        return connection_.command(args, [this, t](const RedisReply* reply) { on_reply(reply, t); });
    }

    void on_reply(const RedisReply* reply, const std::shared_ptr<Take>& t) {
        if (t->decided) return; // decided locally when Redis was too slow
        const auto now = SteadyClock::now();
        if (reply && reply->is_error() && reply->str().starts_with("NOSCRIPT") && !stopped_) {
            // Redis lost the script (a restart, SCRIPT FLUSH): this one carries it, and it is
            // loaded again for the next ones.
            sha_.clear();
            load_script();
            if (send(t)) return;
        }
        const bool answered = reply && !reply->is_error() && reply->size() == 3;
        if (reply && !answered) {
            if (const auto n = errors_.on_events(1, now); n > 0) {
                logger_.warn("Redis refused the budget script: budgets are local meanwhile",
                             {{"error", reply->is_error() ? std::string{reply->str()} : "unexpected reply"},
                              {"failures", n}});
            }
        }
        t->decided = true;
        while (!waiting_.empty() && waiting_.front()->decided) waiting_.pop_front();
        if (!t->taker) return;
        if (!answered) {
            // The connection is going away (nullptr) while it runs this handler: what `done`
            // does next (take again) must wait until it is gone.
            boost::asio::post(ioc_, [done = t->done, decision = local(*t->taker, now)] { done(decision); });
            return;
        }
        if (fell_back_) {
            fell_back_ = false;
            logger_.info("budgets are shared through Redis again");
        }
        t->taker->set_share(1.0 / static_cast<double>(std::max<long long>(1, reply->at(2).integer())));
        const bool granted = reply->at(0).integer() == 1;
        t->done(Decision{granted, granted ? now : now + milliseconds{reply->at(1).integer()}});
    }

    /// Takes Redis has not answered within take_timeout are decided by the local share.
    void arm_deadline() {
        while (!waiting_.empty() && waiting_.front()->decided) waiting_.pop_front();
        if (waiting_.empty()) return;
        deadline_.expires_at(waiting_.front()->sent + options_.take_timeout);
        deadline_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            const auto now = SteadyClock::now();
            while (!waiting_.empty() && (waiting_.front()->decided || waiting_.front()->sent + options_.take_timeout <= now)) {
                const auto t = waiting_.front();
                waiting_.pop_front();
                if (t->decided) continue;
                t->decided = true;
                t->done(local(*t->taker, now));
            }
            arm_deadline();
        });
    }

    Decision local(TokenBucket& bucket, SteadyClock::time_point now) {
        // Until the first connection had its chance, going local is start-up, not news.
        if (!fell_back_ && !stopped_ && (ever_ready_ || now >= started_ + options_.connection.connect_timeout)) {
            fell_back_ = true;
            logger_.warn("Redis out of reach: each API key's budget is this instance's share of it until Redis is back",
                         {{"redis", connection_.url().display()}});
        }
        const bool granted = bucket.try_take(now);
        return Decision{granted, granted ? now : bucket.next_token_at(now)};
    }

    void on_ready() {
        ever_ready_ = true;
        load_script();
    }

    void load_script() {
        connection_.command({"SCRIPT", "LOAD", take_script}, [this](const RedisReply* reply) {
            // Where SCRIPT is denied, every take carries the script (EVAL).
            if (reply && !reply->is_error()) sha_ = reply->str();
        });
    }

    boost::asio::io_context& ioc_;
    RedisBudgetOptions options_;
    obs::Logger logger_;
    RedisConnection connection_;
    boost::asio::steady_timer deadline_;
    std::deque<std::shared_ptr<Take>> waiting_; ///< takes sent, oldest first
    std::string ttl_;
    std::string sha_;
    LogRateLimiter errors_{std::chrono::seconds{10}};
    SteadyClock::time_point started_{};
    bool ever_ready_ = false;
    bool fell_back_ = false;
    bool stopped_ = false;
};

RedisBudget::RedisBudget(boost::asio::io_context& ioc, RedisBudgetOptions options, obs::Logger logger)
    : impl_{std::make_shared<Impl>(ioc, std::move(options), std::move(logger))} {}

RedisBudget::~RedisBudget() { impl_->stop(); }

void RedisBudget::start() { impl_->start(); }
void RedisBudget::stop() { impl_->stop(); }
bool RedisBudget::shared() const { return impl_->shared(); }

std::optional<RedisBudget::Decision> RedisBudget::take(const std::string& key_id, resilience::TokenBucket& bucket,
                                                       Handler done) {
    return impl_->take(key_id, bucket, std::move(done));
}

void RedisBudget::pause(const std::string& key_id, const resilience::TokenBucket& bucket,
                        std::chrono::milliseconds how_long) {
    impl_->pause(key_id, bucket, how_long);
}

} // namespace flowgate::bus
