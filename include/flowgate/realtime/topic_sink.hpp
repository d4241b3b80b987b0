#pragma once

#include "flowgate/realtime/outbound_message.hpp"

namespace flowgate::realtime {

/// One local receiver of a topic's messages: a WebSocket session.
class TopicSink {
public:
    virtual ~TopicSink() = default;

    /// Takes one message. Must not block and must not call Hub::join or Hub::leave (the Hub
    /// is iterating its sinks): a sink that has to go away marks itself and leaves later.
    /// `message` is shared with every other sink of the topic and must not be copied per sink.
    virtual void push(const OutboundPtr& message) = 0;

    /// The topic's subscription was confirmed (`subscribed`: from now on every message
    /// reaches push(); catch up from the replay stream) or lost (messages may be missed
    /// until the next confirmation). Same rules as push().
    virtual void on_topic_state(bool subscribed) = 0;
};

} // namespace flowgate::realtime
