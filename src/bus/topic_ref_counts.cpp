#include "topic_ref_counts.hpp"

namespace flowgate::bus {

bool TopicRefCounts::add(const std::string& topic) {
    return ++counts_[topic] == 1;
}

TopicRefCounts::Removed TopicRefCounts::remove(const std::string& topic) {
    const auto it = counts_.find(topic);
    if (it == counts_.end()) return Removed::unknown;
    if (--it->second > 0) return Removed::still_used;
    counts_.erase(it);
    return Removed::last;
}

std::size_t TopicRefCounts::count(std::string_view topic) const {
    const auto it = counts_.find(topic);
    return it == counts_.end() ? 0 : it->second;
}

std::vector<std::string> TopicRefCounts::topics() const {
    std::vector<std::string> out;
    out.reserve(counts_.size());
    for (const auto& [topic, count] : counts_) out.push_back(topic);
    return out;
}

} // namespace flowgate::bus
