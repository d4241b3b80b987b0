#include "flowgate/bus/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <stdexcept>
#include <string>

namespace flowgate::bus {

RedisReply::Type RedisReply::type() const {
    switch (raw_->type) {
    case REDIS_REPLY_STRING: return Type::string;
    case REDIS_REPLY_ARRAY: return Type::array;
    case REDIS_REPLY_INTEGER: return Type::integer;
    case REDIS_REPLY_STATUS: return Type::status;
    case REDIS_REPLY_ERROR: return Type::error;
    default: return Type::nil;
    }
}

std::string_view RedisReply::str() const {
    switch (raw_->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return {raw_->str, raw_->len};
    default: return {};
    }
}

long long RedisReply::integer() const {
    return raw_->type == REDIS_REPLY_INTEGER ? raw_->integer : 0;
}

std::size_t RedisReply::size() const {
    return raw_->type == REDIS_REPLY_ARRAY ? raw_->elements : 0;
}

RedisReply RedisReply::at(std::size_t index) const {
    if (index >= size()) {
        throw std::out_of_range{"RedisReply::at(" + std::to_string(index) + ") of " + std::to_string(size()) + " elements"};
    }
    return RedisReply{*raw_->element[index]};
}

} // namespace flowgate::bus
