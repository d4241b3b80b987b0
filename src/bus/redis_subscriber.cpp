#include "flowgate/bus/redis_subscriber.hpp"

#include <set>
#include <vector>

#include "flowgate/bus/redis_connection.hpp"
#include "topic_ref_counts.hpp"

namespace flowgate::bus {

class RedisSubscriber::Impl : public std::enable_shared_from_this<Impl> {
public:
    Impl(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger)
        : logger_{logger}, connection_{ioc, std::move(config), std::move(logger)} {
        // The connection never calls back after its destruction (it is the last member);
        // on_push() keeps this object alive while the user's handler runs.
        connection_.set_ready_handler([this] { on_ready(); });
        connection_.set_lost_handler([this] { on_lost(); });
        connection_.set_push_handler([this](const RedisReply& reply) { on_push(reply); });
    }

    // The public object is going away, maybe from inside the handler.
    void close() {
        closed_ = true;
        connection_.stop();
    }

    void subscribe(const std::string& topic) {
        if (topics_.add(topic) && connection_.connected()) connection_.subscribe(topic);
    }

    void unsubscribe(const std::string& topic) {
        switch (topics_.remove(topic)) {
        case TopicRefCounts::Removed::last:
            if (connection_.connected()) connection_.unsubscribe(topic);
            break;
        case TopicRefCounts::Removed::still_used: break;
        case TopicRefCounts::Removed::unknown:
            logger_.warn("unsubscribe of a topic without subscriptions; ignored", {{"topic", topic}});
            break;
        }
    }

    std::size_t count(const std::string& topic) const { return topics_.count(topic); }
    bool subscribed(const std::string& topic) const { return confirmed_.contains(topic); }
    Stats stats() const { return Stats{received_, topics_.size(), active_}; }

    Handler handler_;
    TopicStateHandler topic_state_handler_;
    RedisConnection& connection() { return connection_; }

private:
    void on_ready() {
        for (const auto& topic : topics_.topics()) connection_.subscribe(topic);
        if (topics_.size() > 0) {
            logger_.debug("re-subscribing", {{"topics", static_cast<std::uint64_t>(topics_.size())}});
        }
    }

    void on_lost() {
        active_ = 0;
        // Iterates over a copy, the state already that of a lost connection: the handler
        // may change the subscriptions.
        const std::vector<std::string> lost{confirmed_.begin(), confirmed_.end()};
        confirmed_.clear();
        const auto self = shared_from_this(); // for closed_, should a handler destroy us
        for (const auto& topic : lost) notify_topic_state(topic, false);
    }

    // The handler may subscribe, unsubscribe, replace itself or destroy the subscriber: it
    // runs from a copy, with this object kept alive.
    void notify_topic_state(const std::string& topic, bool subscribed) {
        if (closed_ || !topic_state_handler_) return;
        const auto self = shared_from_this();
        const auto handler = topic_state_handler_;
        handler(topic, subscribed);
    }

    void on_push(const RedisReply& reply) {
        if (closed_ || reply.type() != RedisReply::Type::array || reply.size() < 3) return;
        const auto kind = reply.at(0).str();
        if (kind == "subscribe" || kind == "unsubscribe") {
            // Redis counts this connection's channels in every confirmation.
            active_ = static_cast<std::size_t>(reply.at(2).integer());
            const std::string topic{reply.at(1).str()};
            if (kind == "unsubscribe") {
                confirmed_.erase(topic);
                return;
            }
            confirmed_.insert(topic);
            notify_topic_state(topic, true);
            return;
        }
        if (kind != "message") return;
        const auto topic_view = reply.at(1).str();
        // A message can still arrive between the last unsubscribe() and Redis's confirmation.
        if (!topics_.contains(topic_view)) return;
        ++received_;
        if (!handler_) return;
        const std::string topic{topic_view};
        auto payload = std::make_shared<const std::string>(reply.at(2).str());
        // The handler may unsubscribe or destroy the subscriber: nothing of ours is touched
        // after it returns, and this reference keeps handler_ itself alive meanwhile.
        const auto self = shared_from_this();
        handler_(topic, std::move(payload));
    }

    obs::Logger logger_;
    TopicRefCounts topics_;
    std::uint64_t received_ = 0;
    std::size_t active_ = 0;
    // Topics whose SUBSCRIBE Redis confirmed on the current connection.
    std::set<std::string, std::less<>> confirmed_;
    bool closed_ = false;
    RedisConnection connection_;
};

RedisSubscriber::RedisSubscriber(boost::asio::io_context& ioc, RedisConnectionConfig config, obs::Logger logger)
    : impl_{std::make_shared<Impl>(ioc, std::move(config), std::move(logger))} {}

RedisSubscriber::~RedisSubscriber() {
    impl_->close();
}

void RedisSubscriber::start() { impl_->connection().start(); }
void RedisSubscriber::stop() { impl_->connection().stop(); }
void RedisSubscriber::set_handler(Handler handler) { impl_->handler_ = std::move(handler); }
void RedisSubscriber::set_topic_state_handler(TopicStateHandler handler) {
    impl_->topic_state_handler_ = std::move(handler);
}
bool RedisSubscriber::subscribed(const std::string& topic) const { return impl_->subscribed(topic); }
void RedisSubscriber::subscribe(const std::string& topic) { impl_->subscribe(topic); }
void RedisSubscriber::unsubscribe(const std::string& topic) { impl_->unsubscribe(topic); }
std::size_t RedisSubscriber::count(const std::string& topic) const { return impl_->count(topic); }
bool RedisSubscriber::connected() const { return impl_->connection().connected(); }
RedisSubscriber::Stats RedisSubscriber::stats() const { return impl_->stats(); }

} // namespace flowgate::bus
