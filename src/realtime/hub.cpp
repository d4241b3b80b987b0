#include "flowgate/realtime/hub.hpp"

#include <stdexcept>

#include "flowgate/realtime/topic_feed.hpp"
#include "flowgate/realtime/topic_sink.hpp"

namespace flowgate::realtime {
namespace {

// A sink that joined or left from inside push() would change the set being iterated.
void check_not_delivering(bool delivering, const char* what) {
    if (delivering) throw std::logic_error{std::string{"Hub::"} + what + " called from a TopicSink callback"};
}

} // namespace

Hub::Hub(TopicFeed& feed) : feed_{feed} {}

template <typename Call>
void Hub::for_each_sink(Topic& topic, Call call) {
    delivering_ = true;
    try {
        for (TopicSink* sink : topic.sinks) call(*sink);
    } catch (...) {
        delivering_ = false;
        throw;
    }
    delivering_ = false;
}

void Hub::join(const std::string& topic, TopicSink& sink) {
    check_not_delivering(delivering_, "join");
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
        // Subscribe before inserting, so that a throwing feed leaves the hub as it was.
        feed_.subscribe(topic);
        it = topics_.emplace(topic, Topic{}).first;
    }
    it->second.sinks.insert(&sink);
}

void Hub::leave(const std::string& topic, TopicSink& sink) {
    check_not_delivering(delivering_, "leave");
    const auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.sinks.erase(&sink) == 0) return;
    if (it->second.sinks.empty()) {
        topics_.erase(it);
        feed_.unsubscribe(topic);
    }
}

std::size_t Hub::deliver(const std::string& topic, const OutboundPtr& message) {
    const auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    for_each_sink(it->second, [&](TopicSink& sink) { sink.push(message); });
    return it->second.sinks.size();
}

void Hub::set_topic_state(const std::string& topic, bool subscribed) {
    const auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.subscribed == subscribed) return;
    it->second.subscribed = subscribed;
    for_each_sink(it->second, [&](TopicSink& sink) { sink.on_topic_state(subscribed); });
}

bool Hub::subscribed(const std::string& topic) const {
    const auto it = topics_.find(topic);
    return it != topics_.end() && it->second.subscribed;
}

std::size_t Hub::sink_count(const std::string& topic) const {
    const auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.sinks.size();
}

} // namespace flowgate::realtime
