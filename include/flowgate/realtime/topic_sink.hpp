#pragma once

#include <memory>
#include <string>

namespace flowgate::realtime {

/// One local receiver of a topic's messages: a WebSocket session's send queue.
class TopicSink {
public:
    virtual ~TopicSink() = default;

    /// Takes one message. Must not block and must not call Hub::join or Hub::leave (the Hub
    /// is iterating its sinks): a sink that has to go away marks itself and leaves later.
    /// `message` is shared with every other sink of the topic and must not be copied per sink.
    virtual void push(const std::shared_ptr<const std::string>& message) = 0;
};

} // namespace flowgate::realtime
