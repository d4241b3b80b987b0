#include "flowgate/bus/redis_replay_reader.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <deque>
#include <limits>
#include <stdexcept>
#include <utility>

#include "flowgate/bus/redis_connection.hpp"
#include "replay_keys.hpp"

namespace flowgate::bus {
namespace {

using Clock = std::chrono::steady_clock;

// KEYS: topic state, replay stream. ARGV: first stream id to return ("" for none), count.
// Returns {epoch or "", head seq or "0", {message, ...}}.
constexpr std::string_view read_script = R"lua(
local state = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
local messages = {}
if ARGV[1] ~= '' then
    for _, entry in ipairs(redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])) do
        local fields = entry[2]
        for i = 1, #fields, 2 do
            if fields[i] == 'm' then messages[#messages + 1] = fields[i + 1] end
        end
    end
end
return {state[1] or '', state[2] or '0', messages}
)lua";

ReplayRead failure(std::string error) {
    ReplayRead read;
    read.error = std::move(error);
    return read;
}

ReplayRead parse(const RedisReply& reply) {
    if (reply.is_error()) return failure("Redis: " + std::string{reply.str()});
    if (reply.type() != RedisReply::Type::array || reply.size() != 3) {
        return failure("Redis: unexpected reply to the replay read");
    }
    ReplayRead read;
    read.epoch = reply.at(0).str();
    const auto head = reply.at(1).str();
    if (std::from_chars(head.data(), head.data() + head.size(), read.head_seq).ec != std::errc{}) {
        return failure("Redis: the topic's seq is not a number");
    }
    const auto messages = reply.at(2);
    read.payloads.reserve(messages.size());
    for (std::size_t i = 0; i < messages.size(); ++i) read.payloads.emplace_back(messages.at(i).str());
    read.ok = true;
    return read;
}

} // namespace

class RedisReplayReader::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger, std::size_t max_messages,
         std::chrono::milliseconds wait_timeout)
        : ioc_{ioc},
          max_messages_{std::to_string(max_messages)},
          wait_timeout_{wait_timeout},
          timer_{ioc},
          connection_{ioc, std::move(config), std::move(logger)} {
        if (max_messages == 0) throw std::invalid_argument{"Redis replay reader: max_messages must be at least 1"};
        if (wait_timeout.count() <= 0) throw std::invalid_argument{"Redis replay reader: wait_timeout must be positive"};
        // The connection never calls back after its destruction (it is the last member).
        connection_.set_ready_handler([this] { on_ready(); });
        connection_.set_lost_handler([this] { on_lost(); });
    }

    // The public object is going away: no handler may run any more.
    void close() {
        closed_ = true;
        reads_.clear();
        timer_.cancel();
        connection_.stop();
    }

    void stop() {
        connection_.stop();
        while (!reads_.empty()) {
            complete(reads_.front(), failure("the replay reader was stopped"));
            reads_.pop_front();
        }
        timer_.cancel();
    }

    void read(const std::string& topic, std::optional<std::uint64_t> after_seq, Handler done) {
        auto pending = std::make_shared<Read>();
        pending->topic = topic;
        // Nothing can follow the largest seq (and after_seq + 1 would wrap to the start).
        if (after_seq && *after_seq < std::numeric_limits<std::uint64_t>::max()) {
            pending->first_id = std::to_string(*after_seq + 1) + "-0";
        }
        pending->deadline = Clock::now() + wait_timeout_;
        pending->done = std::move(done);
        reads_.push_back(pending);
        if (!do_send(pending)) arm_timer();
    }

    RedisConnection& connection() { return connection_; }

private:
    struct Read {
        std::string topic;
        std::string first_id; // empty: epoch and head only
        Clock::time_point deadline;
        Handler done;
        bool sent = false;
    };

    void on_ready() {
        for (const auto& pending : reads_) {
            if (!pending->sent && !do_send(pending)) break;
        }
        arm_timer();
    }

    // The replies of the reads in flight came back as nullptr: send them again once
    // reconnected, as long as their deadlines allow (a read has no side effects).
    void on_lost() {
        for (const auto& pending : reads_) pending->sent = false;
        arm_timer();
    }

    bool do_send(const std::shared_ptr<Read>& pending) {
        if (!connection_.connected()) return false;
        const auto state_key = topic_state_key(pending->topic);
        const auto stream_key = replay_stream_key(pending->topic);
        const bool sent = connection_.command(
            {"EVAL", read_script, "2", state_key, stream_key, pending->first_id, max_messages_},
            [this, weak = std::weak_ptr<Read>{pending}](const RedisReply* reply) { on_reply(weak, reply); });
        pending->sent = sent;
        return sent;
    }

    void on_reply(const std::weak_ptr<Read>& weak, const RedisReply* reply) {
        const auto pending = weak.lock();
        if (reply == nullptr || !pending) return;
        const auto at = std::find(reads_.begin(), reads_.end(), pending);
        if (at == reads_.end()) return;
        reads_.erase(at);
        complete(pending, parse(*reply));
    }

    // A read waits for the connection until its deadline; the earliest is the first unsent
    // one, since every read gets the same wait.
    void arm_timer() {
        const auto first = std::find_if(reads_.begin(), reads_.end(), [](const auto& r) { return !r->sent; });
        if (first == reads_.end()) {
            timer_.cancel();
            return;
        }
        timer_.expires_at((*first)->deadline);
        timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            if (const auto self = weak.lock(); self && !self->closed_) self->on_timer();
        });
    }

    void on_timer() {
        const auto now = Clock::now();
        for (auto it = reads_.begin(); it != reads_.end();) {
            if ((*it)->sent || (*it)->deadline > now) {
                ++it;
                continue;
            }
            complete(*it, failure("no connection to Redis at " + connection_.url().display() + " within " +
                                  std::to_string(wait_timeout_.count()) + " ms"));
            it = reads_.erase(it);
        }
        arm_timer();
    }

    // Always posted: never from inside read() or stop(), and a handler that destroys the
    // reader or asks for another read finds no half-updated state.
    void complete(const std::shared_ptr<Read>& pending, ReplayRead result) {
        boost::asio::post(ioc_, [weak = weak_from_this(), done = std::move(pending->done),
                                 result = std::move(result)]() mutable {
            const auto self = weak.lock();
            if (!self || self->closed_ || !done) return;
            done(std::move(result));
        });
    }

    boost::asio::io_context& ioc_;
    std::string max_messages_;
    std::chrono::milliseconds wait_timeout_;
    boost::asio::steady_timer timer_;
    // In the order asked; Redis answers in order, so the sent ones come first.
    std::deque<std::shared_ptr<Read>> reads_;
    bool closed_ = false;
    RedisConnection connection_;
};

RedisReplayReader::RedisReplayReader(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger,
                                     std::size_t max_messages, std::chrono::milliseconds wait_timeout)
    : impl_{std::make_shared<Impl>(ioc, std::move(config), std::move(logger), max_messages, wait_timeout)} {}

RedisReplayReader::~RedisReplayReader() {
    impl_->close();
}

void RedisReplayReader::start() { impl_->connection().start(); }
void RedisReplayReader::stop() { impl_->stop(); }

void RedisReplayReader::read(const std::string& topic, std::optional<std::uint64_t> after_seq, Handler done) {
    impl_->read(topic, after_seq, std::move(done));
}

bool RedisReplayReader::connected() const { return impl_->connection().connected(); }

} // namespace flowgate::bus
