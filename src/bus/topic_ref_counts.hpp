#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flowgate::bus {

/// How many local users want each pub/sub topic; says when a SUBSCRIBE or UNSUBSCRIBE is due.
/// No I/O.
class TopicRefCounts {
public:
    enum class Removed { last, still_used, unknown };

    /// Returns true on the topic's first reference: SUBSCRIBE is due.
    bool add(const std::string& topic);
    /// `last`: UNSUBSCRIBE is due; `unknown`: the topic had no reference (a caller bug).
    Removed remove(const std::string& topic);

    std::size_t count(std::string_view topic) const;
    bool contains(std::string_view topic) const { return count(topic) > 0; }
    /// Topics with a nonzero count.
    std::size_t size() const { return counts_.size(); }
    std::vector<std::string> topics() const;

private:
    std::map<std::string, std::size_t, std::less<>> counts_;
};

} // namespace flowgate::bus
