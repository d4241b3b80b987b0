#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "flowgate/bus/redis_reply.hpp"

struct redisAsyncContext;

namespace flowgate::bus {

// Binds one hiredis redisAsyncContext to an io_context: its ev hooks wait for the socket
// with a stream_descriptor (which never owns the fd: hiredis closes it), and its callbacks
// are routed to an Owner held weakly.
//
// Lifetime: hiredis may free the context from inside any call into it (a read error, a
// failed connect, redisAsyncFree() during a callback). The adapter therefore keeps itself
// alive until hiredis's cleanup hook has run and the current handler has returned; every
// entry point re-checks `ac_`, which cleanup() clears, before touching the context.
class RedisAsioAdapter : public std::enable_shared_from_this<RedisAsioAdapter> {
public:
    class Owner {
    public:
        virtual ~Owner() = default;
        // The TCP connection is established (`ok`) or failed. After a failure hiredis frees
        // the context as soon as this returns.
        virtual void on_adapter_connected(RedisAsioAdapter& adapter, bool ok, std::string_view error) = 0;
        // An established connection was lost; not called after close().
        virtual void on_adapter_disconnected(RedisAsioAdapter& adapter, std::string_view error) = 0;
        // A reply to SUBSCRIBE/UNSUBSCRIBE, or a published message.
        virtual void on_adapter_push(RedisAsioAdapter& adapter, const RedisReply& reply) = 0;
    };
    using ReplyCallback = std::function<void(const RedisReply* reply)>;

    // Starts a non-blocking connect to a numeric `ip`. Returns nullptr, with `error` set,
    // when hiredis fails at once.
    static std::shared_ptr<RedisAsioAdapter> connect(boost::asio::io_context& ioc, const std::string& ip,
                                                     std::uint16_t port, std::weak_ptr<Owner> owner,
                                                     std::string& error);
    ~RedisAsioAdapter();
    RedisAsioAdapter(const RedisAsioAdapter&) = delete;
    RedisAsioAdapter& operator=(const RedisAsioAdapter&) = delete;

    // The callback runs only while the owner is alive; with nullptr if the context goes away
    // first. Returns false (callback dropped) when the context is closing.
    bool command(std::span<const std::string_view> args, ReplyCallback callback);
    // SUBSCRIBE/UNSUBSCRIBE: replies and messages go to Owner::on_adapter_push.
    bool push_command(std::span<const std::string_view> args);
    bool subscribed() const;
    void enable_keepalive();

    // Frees the context (at the end of the current hiredis callback, if inside one).
    // Pending callbacks get nullptr; on_adapter_disconnected is not called.
    void close();
    // From now on neither the owner nor pending callbacks are called.
    void detach() { owner_.reset(); }

private:
    RedisAsioAdapter(boost::asio::io_context& ioc, redisAsyncContext* ac, std::weak_ptr<Owner> owner);

    static void on_add_read(void* data);
    static void on_del_read(void* data);
    static void on_add_write(void* data);
    static void on_del_write(void* data);
    static void on_cleanup(void* data);
    static void on_connect(const redisAsyncContext* ac, int status);
    static void on_disconnect(const redisAsyncContext* ac, int status);
    static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
    static void on_push(redisAsyncContext* ac, void* reply, void* privdata);

    void do_wait_read();
    void do_wait_write();
    void on_readable(const boost::system::error_code& ec);
    void on_writable(const boost::system::error_code& ec);
    void cleanup();

    redisAsyncContext* ac_;
    boost::asio::posix::stream_descriptor socket_;
    std::weak_ptr<Owner> owner_;
    bool want_read_ = false;
    bool want_write_ = false;
    bool reading_ = false;
    bool writing_ = false;
    bool closing_ = false;
    bool in_connect_callback_ = false;
    // Set from creation until cleanup: hiredis's pointers to this object stay valid.
    std::shared_ptr<RedisAsioAdapter> self_;
};

} // namespace flowgate::bus
