#include "flowgate/bus/redis_publisher.hpp"

#include <stdexcept>
#include <vector>

#include "flowgate/bus/redis_connection.hpp"
#include "log_rate_limiter.hpp"
#include "publish_queue.hpp"
#include "replay_keys.hpp"

namespace flowgate::bus {
namespace {

// KEYS: topic state, replay stream[, dedupe record]. ARGV: topic, event, stream cap, TTL (s).
// Returns {seq, 1 when the dedupe id was already published}.
constexpr std::string_view publish_script = R"lua(
if KEYS[3] then
    local seen = redis.call('GET', KEYS[3])
    if seen then return {tonumber(seen), 1} end
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
    -- A new topic, or Redis lost the topic's state: seqs restart under a new epoch, and
    -- what the stream still holds belongs to the old one (XADD would refuse lower ids).
    local now = redis.call('TIME')
    epoch = now[1] .. string.format('%06d', tonumber(now[2]))
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
local seq = string.format('%d', redis.call('HINCRBY', KEYS[1], 'seq', 1))
local members = string.sub(ARGV[2], 2)
local message = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '"'
if string.find(members, '^%s*}') then
    message = message .. '}'
else
    message = message .. ',' .. members
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], seq .. '-0', 'm', message)
redis.call('EXPIRE', KEYS[2], ARGV[4])
if KEYS[3] then redis.call('SET', KEYS[3], seq, 'EX', ARGV[4]) end
redis.call('PUBLISH', ARGV[1], message)
return {tonumber(seq), 0}
)lua";

void check(const RedisPublisherConfig& config) {
    if (config.replay_max_messages == 0) {
        throw std::invalid_argument{"Redis publisher: replay_max_messages must be at least 1"};
    }
    if (config.replay_ttl.count() < 1) throw std::invalid_argument{"Redis publisher: replay_ttl must be at least 1 s"};
}

} // namespace

class RedisPublisher::Impl {
public:
    Impl(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger)
        : queue_{config.queue_capacity, config.max_in_flight, config.max_in_flight_bytes},
          drop_log_{config.warning_interval},
          fail_log_{config.warning_interval},
          capacity_{config.queue_capacity},
          max_messages_{std::to_string(config.replay_max_messages)},
          ttl_seconds_{std::to_string(config.replay_ttl.count())},
          logger_{logger},
          connection_{ioc, std::move(config.connection), std::move(logger)} {
        check(config);
        // The connection never calls back after its destruction, which comes first (it is
        // the last member), so `this` is safe in these handlers.
        connection_.set_ready_handler([this] { on_ready(); });
        connection_.set_lost_handler([this] { on_lost(); });
    }

    ~Impl() {
        const auto unsent = queue_.waiting() + queue_.in_flight();
        if (unsent > 0) {
            logger_.warn("Redis publisher destroyed with unsent messages",
                         {{"unsent", static_cast<std::uint64_t>(unsent)}});
        }
    }

    void publish(std::string_view topic, std::string_view dedupe_id, std::shared_ptr<const std::string> event) {
        if (!event) throw std::invalid_argument{"RedisPublisher::publish: event is null"};
        if (event->empty() || event->front() != '{') {
            throw std::invalid_argument{"RedisPublisher::publish: event is not a JSON object"};
        }
        if (const auto dropped = queue_.push(
                {std::string{topic}, std::string{dedupe_id}, std::move(event), std::chrono::steady_clock::now()});
            dropped > 0) {
            note_dropped(dropped);
        }
        do_flush();
    }

    void hold(bool held) {
        queue_.hold(held);
        if (!held) do_flush();
    }

    Stats stats() const {
        return Stats{queue_.published(), queue_.duplicates(), queue_.dropped(), queue_.failed(),
                     queue_.waiting(),   queue_.in_flight(),  latency_};
    }

    RedisConnection& connection() { return connection_; }

private:
    void on_ready() {
        // Pipelined before every EVALSHA of this connection, so they find the script even
        // where Redis lost it (a restart, SCRIPT FLUSH). Until the first reply tells its
        // SHA1, messages carry the script themselves.
        use_sha_ = !sha_.empty();
        do_load_script();
        do_flush();
    }

    void do_load_script() {
        connection_.command({"SCRIPT", "LOAD", publish_script}, [this, generation = generation_](const RedisReply* reply) {
            on_script_loaded(reply, generation);
        });
    }

    void on_script_loaded(const RedisReply* reply, std::uint64_t generation) {
        if (reply == nullptr) return;
        if (reply->is_error()) {
            // Where Redis lacks the script, a NOSCRIPT reply switches to EVAL, which still
            // works where only SCRIPT is denied; where both are, messages fail.
            logger_.warn("Redis refused SCRIPT LOAD", {{"error", reply->str()}});
            return;
        }
        sha_ = reply->str();
        if (generation == generation_) use_sha_ = true;
    }

    // Sends what the in-flight window allows; the rest waits for replies (or the reconnect).
    void do_flush() {
        while (connection_.connected()) {
            const auto* message = queue_.next();
            if (message == nullptr) return;
            if (!do_send(*message)) return;
            queue_.mark_sent();
        }
    }

    bool do_send(const PublishQueue::Message& message) {
        const auto state_key = topic_state_key(message.topic);
        const auto stream_key = replay_stream_key(message.topic);
        const auto seen_key = message.dedupe_id.empty() ? std::string{} : dedupe_key(message.topic, message.dedupe_id);
        std::vector<std::string_view> args;
        args.reserve(10);
        if (use_sha_) {
            args.insert(args.end(), {"EVALSHA", sha_});
        } else {
            args.insert(args.end(), {"EVAL", publish_script});
        }
        args.insert(args.end(), {seen_key.empty() ? "2" : "3", state_key, stream_key});
        if (!seen_key.empty()) args.push_back(seen_key);
        args.insert(args.end(), {message.topic, *message.event, max_messages_, ttl_seconds_});
        return connection_.command(args, [this, generation = generation_](const RedisReply* reply) {
            on_reply(reply, generation);
        });
    }

    void on_reply(const RedisReply* reply, std::uint64_t generation) {
        // nullptr: the connection went away; on_lost() puts the message back in the queue.
        // An older generation: requeued after a NOSCRIPT, sent again since.
        if (reply == nullptr || generation != generation_) return;
        if (reply->is_error() && reply->str().starts_with("NOSCRIPT")) {
            on_script_missing();
            return;
        }
        if (reply->is_error()) {
            note_failed(reply->str());
            queue_.on_reply(PublishQueue::Outcome::failed);
        } else {
            const bool duplicate = reply->size() == 2 && reply->at(1).integer() == 1;
            const auto queued_at =
                queue_.on_reply(duplicate ? PublishQueue::Outcome::duplicate : PublishQueue::Outcome::published);
            latency_.observe(std::chrono::steady_clock::now() - queued_at);
        }
        do_flush();
    }

    // Redis lost the script while connected (SCRIPT FLUSH). Every unanswered message went
    // with EVALSHA (use_sha_ turns true only once per generation), so none of them ran: send
    // them all again, carrying the script until the reload is answered. Should another
    // client reload the script meanwhile, some did run; their dedupe ids make the second run
    // a no-op.
    void on_script_missing() {
        ++generation_;
        use_sha_ = false;
        if (const auto dropped = queue_.requeue_unanswered(); dropped > 0) note_dropped(dropped);
        logger_.warn("Redis lost the publish script; loading it again");
        do_load_script();
        do_flush();
    }

    void on_lost() {
        ++generation_;
        use_sha_ = false;
        if (const auto dropped = queue_.requeue_unanswered(); dropped > 0) note_dropped(dropped);
    }

    void note_dropped(std::size_t n) {
        if (const auto count = drop_log_.on_events(n, std::chrono::steady_clock::now()); count > 0) {
            logger_.warn("Redis publish queue full; dropped the oldest messages",
                         {{"dropped", count},
                          {"dropped_total", queue_.dropped()},
                          {"capacity", static_cast<std::uint64_t>(capacity_)}});
        }
    }

    void note_failed(std::string_view error) {
        if (const auto count = fail_log_.on_events(1, std::chrono::steady_clock::now()); count > 0) {
            logger_.warn("Redis rejected a publish", {{"failed", count}, {"error", error}});
        }
    }

    PublishQueue queue_;
    obs::Histogram latency_;
    LogRateLimiter drop_log_;
    LogRateLimiter fail_log_;
    std::size_t capacity_;
    std::string max_messages_;
    std::string ttl_seconds_;
    obs::Logger logger_;
    // The publish script's SHA1, from Redis's first SCRIPT LOAD reply; the same ever after.
    std::string sha_;
    bool use_sha_ = false;
    // Bumped whenever the unanswered messages are requeued; older replies are stale.
    std::uint64_t generation_ = 0;
    RedisConnection connection_;
};

RedisPublisher::RedisPublisher(boost::asio::io_context& ioc, RedisPublisherConfig config, obs::Logger logger)
    : impl_{std::make_unique<Impl>(ioc, std::move(config), std::move(logger))} {}

RedisPublisher::~RedisPublisher() = default;

void RedisPublisher::start() { impl_->connection().start(); }
void RedisPublisher::stop() { impl_->connection().stop(); }

void RedisPublisher::publish(std::string_view topic, std::string_view dedupe_id, std::shared_ptr<const std::string> event) {
    impl_->publish(topic, dedupe_id, std::move(event));
}

void RedisPublisher::hold(bool held) { impl_->hold(held); }
bool RedisPublisher::connected() const { return impl_->connection().connected(); }
RedisPublisher::Stats RedisPublisher::stats() const { return impl_->stats(); }

} // namespace flowgate::bus
