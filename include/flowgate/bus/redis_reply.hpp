#pragma once

#include <cstddef>
#include <string_view>

struct redisReply;

namespace flowgate::bus {

/// A read-only view of one reply from Redis. It points into hiredis's memory and is valid
/// only during the callback that receives it: copy what you keep.
class RedisReply {
public:
    enum class Type { string, array, integer, nil, status, error };

    explicit RedisReply(const redisReply& raw) : raw_{&raw} {}

    Type type() const;
    bool is_error() const { return type() == Type::error; }
    /// The bytes of a string, status or error reply; empty for other types.
    std::string_view str() const;
    /// The value of an integer reply; 0 for other types.
    long long integer() const;
    /// The number of elements of an array reply; 0 for other types.
    std::size_t size() const;
    /// Element `index` of an array reply; throws std::out_of_range past size().
    RedisReply at(std::size_t index) const;

private:
    const redisReply* raw_;
};

} // namespace flowgate::bus
