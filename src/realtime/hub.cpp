#include "flowgate/realtime/hub.hpp"

#include <stdexcept>

#include "flowgate/realtime/topic_feed.hpp"
#include "flowgate/realtime/topic_sink.hpp"

namespace flowgate::realtime {
namespace {

// A sink that joined or left from inside push() would change the set deliver() iterates.
void check_not_delivering(bool delivering, const char* what) {
    if (delivering) throw std::logic_error{std::string{"Hub::"} + what + " called from TopicSink::push"};
}

} // namespace

Hub::Hub(TopicFeed& feed) : feed_{feed} {}

void Hub::join(const std::string& topic, TopicSink& sink) {
    check_not_delivering(delivering_, "join");
    auto it = topics_.find(topic);
    if (it == topics_.end()) {
        // Subscribe before inserting, so that a throwing feed leaves the hub as it was.
        feed_.subscribe(topic);
        it = topics_.emplace(topic, std::unordered_set<TopicSink*>{}).first;
    }
    it->second.insert(&sink);
}

void Hub::leave(const std::string& topic, TopicSink& sink) {
    check_not_delivering(delivering_, "leave");
    const auto it = topics_.find(topic);
    if (it == topics_.end() || it->second.erase(&sink) == 0) return;
    if (it->second.empty()) {
        topics_.erase(it);
        feed_.unsubscribe(topic);
    }
}

std::size_t Hub::deliver(const std::string& topic, const std::shared_ptr<const std::string>& message) {
    const auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    delivering_ = true;
    try {
        for (TopicSink* sink : it->second) sink->push(message);
    } catch (...) {
        delivering_ = false;
        throw;
    }
    delivering_ = false;
    return it->second.size();
}

std::size_t Hub::sink_count(const std::string& topic) const {
    const auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.size();
}

} // namespace flowgate::realtime
