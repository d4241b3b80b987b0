#include "redis_asio_adapter.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>

#include <array>
#include <csignal>
#include <mutex>
#include <vector>

namespace flowgate::bus {
namespace {

RedisAsioAdapter* adapter_of(const redisAsyncContext* ac) {
    return static_cast<RedisAsioAdapter*>(ac->data);
}

// hiredis wants parallel arrays of pointers and lengths; most commands have few arguments,
// so those live on the stack.
template <typename Send>
int with_argv(std::span<const std::string_view> args, Send send) {
    constexpr std::size_t small = 8;
    std::array<const char*, small> small_argv{};
    std::array<std::size_t, small> small_lens{};
    std::vector<const char*> big_argv;
    std::vector<std::size_t> big_lens;
    const char** argv = small_argv.data();
    std::size_t* lens = small_lens.data();
    if (args.size() > small) {
        big_argv.resize(args.size());
        big_lens.resize(args.size());
        argv = big_argv.data();
        lens = big_lens.data();
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        argv[i] = args[i].data();
        lens[i] = args[i].size();
    }
    return send(static_cast<int>(args.size()), argv, lens);
}

// hiredis writes with write(2), not send(MSG_NOSIGNAL): writing to a connection Redis has
// closed raises SIGPIPE, whose default action kills the daemon. Ignore it, unless the
// program chose a disposition of its own.
void ignore_default_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction current {};
        if (sigaction(SIGPIPE, nullptr, &current) != 0) return;
        if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) return;
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        sigaction(SIGPIPE, &ignore, nullptr);
    });
}

} // namespace

std::shared_ptr<RedisAsioAdapter> RedisAsioAdapter::connect(boost::asio::io_context& ioc, const std::string& ip,
                                                            std::uint16_t port, std::weak_ptr<Owner> owner,
                                                            std::string& error) {
    ignore_default_sigpipe();
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), port);
    if (ac == nullptr) {
        error = "cannot allocate a Redis context";
        return nullptr;
    }
    if (ac->err != 0) {
        error = ac->errstr != nullptr ? ac->errstr : "connect failed";
        redisAsyncFree(ac);
        return nullptr;
    }
    std::shared_ptr<RedisAsioAdapter> adapter{new RedisAsioAdapter{ioc, ac, std::move(owner)}};
    boost::system::error_code ec;
    adapter->socket_.assign(ac->c.fd, ec);
    if (ec) {
        error = "cannot watch the socket: " + ec.message();
        adapter->ac_ = nullptr;
        redisAsyncFree(ac); // no hooks installed yet: hiredis just closes its fd
        return nullptr;
    }
    adapter->self_ = adapter;
    ac->data = adapter.get();
    ac->ev.data = adapter.get();
    ac->ev.addRead = &on_add_read;
    ac->ev.delRead = &on_del_read;
    ac->ev.addWrite = &on_add_write;
    ac->ev.delWrite = &on_del_write;
    ac->ev.cleanup = &on_cleanup;
    // Also asks for the first write event: that is how hiredis learns the connect finished.
    redisAsyncSetConnectCallback(ac, &on_connect);
    redisAsyncSetDisconnectCallback(ac, &on_disconnect);
    return adapter;
}

RedisAsioAdapter::RedisAsioAdapter(boost::asio::io_context& ioc, redisAsyncContext* ac, std::weak_ptr<Owner> owner)
    : ac_{ac}, socket_{ioc}, owner_{std::move(owner)} {}

RedisAsioAdapter::~RedisAsioAdapter() {
    // Only reached after cleanup() (or a failed connect()): the fd is hiredis's, never ours.
    if (socket_.is_open()) socket_.release();
}

bool RedisAsioAdapter::command(std::span<const std::string_view> args, ReplyCallback callback) {
    if (ac_ == nullptr || closing_) return false;
    auto record = std::make_unique<ReplyCallback>(std::move(callback));
    const int rc = with_argv(args, [&](int argc, const char** argv, const std::size_t* lens) {
        return redisAsyncCommandArgv(ac_, &on_reply, record.get(), argc, argv, lens);
    });
    if (rc != REDIS_OK) return false;
    record.release(); // on_reply owns it now
    return true;
}

bool RedisAsioAdapter::push_command(std::span<const std::string_view> args) {
    if (ac_ == nullptr || closing_) return false;
    const int rc = with_argv(args, [&](int argc, const char** argv, const std::size_t* lens) {
        return redisAsyncCommandArgv(ac_, &on_push, nullptr, argc, argv, lens);
    });
    return rc == REDIS_OK;
}

bool RedisAsioAdapter::subscribed() const {
    return ac_ != nullptr && (ac_->c.flags & REDIS_SUBSCRIBED) != 0;
}

void RedisAsioAdapter::enable_keepalive() {
    if (ac_ != nullptr) redisEnableKeepAlive(&ac_->c);
}

void RedisAsioAdapter::close() {
    if (ac_ == nullptr || closing_) return;
    closing_ = true;
    ac_->onConnect = nullptr;
    ac_->onDisconnect = nullptr;
    if (in_connect_callback_) {
        // hiredis reads the context again after the connect callback returns, and only
        // defers a free requested from a reply callback, so free it from the loop instead.
        boost::asio::post(socket_.get_executor(), [self = shared_from_this()] {
            if (self->ac_ != nullptr) redisAsyncFree(self->ac_);
        });
        return;
    }
    redisAsyncFree(ac_);
}

void RedisAsioAdapter::on_add_read(void* data) {
    auto* self = static_cast<RedisAsioAdapter*>(data);
    self->want_read_ = true;
    self->do_wait_read();
}

void RedisAsioAdapter::on_del_read(void* data) {
    // A wait already started completes later and is ignored.
    static_cast<RedisAsioAdapter*>(data)->want_read_ = false;
}

void RedisAsioAdapter::on_add_write(void* data) {
    auto* self = static_cast<RedisAsioAdapter*>(data);
    self->want_write_ = true;
    self->do_wait_write();
}

void RedisAsioAdapter::on_del_write(void* data) {
    static_cast<RedisAsioAdapter*>(data)->want_write_ = false;
}

void RedisAsioAdapter::on_cleanup(void* data) {
    static_cast<RedisAsioAdapter*>(data)->cleanup();
}

void RedisAsioAdapter::do_wait_read() {
    if (reading_ || ac_ == nullptr) return;
    reading_ = true;
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void RedisAsioAdapter::do_wait_write() {
    if (writing_ || ac_ == nullptr) return;
    writing_ = true;
    socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_writable(ec); });
}

void RedisAsioAdapter::on_readable(const boost::system::error_code& ec) {
    reading_ = false;
    if (ec == boost::asio::error::operation_aborted || ac_ == nullptr || !want_read_) return;
    // On a wait error, let hiredis's read find and report the socket's error.
    redisAsyncHandleRead(ac_); // may free the context: cleanup() then clears ac_
    // The hooks are level-triggered (as with libev): keep waiting while hiredis wants to read.
    if (!ec && want_read_) do_wait_read();
}

void RedisAsioAdapter::on_writable(const boost::system::error_code& ec) {
    writing_ = false;
    if (ec == boost::asio::error::operation_aborted || ac_ == nullptr || !want_write_) return;
    redisAsyncHandleWrite(ac_);
    if (!ec && want_write_) do_wait_write();
}

void RedisAsioAdapter::cleanup() {
    ac_ = nullptr;
    want_read_ = false;
    want_write_ = false;
    // Cancels the pending waits (their handlers see ac_ == nullptr) and forgets the fd,
    // which hiredis closes right after this hook.
    if (socket_.is_open()) socket_.release();
    // hiredis still calls on_disconnect with this object as ac->data after cleanup, and a
    // handler of ours may be on the stack: drop the self-reference only from the loop.
    boost::asio::post(socket_.get_executor(), [self = std::move(self_)] {});
}

void RedisAsioAdapter::on_connect(const redisAsyncContext* ac, int status) {
    auto* self = adapter_of(ac);
    const auto owner = self->owner_.lock();
    if (!owner) return;
    self->in_connect_callback_ = true;
    owner->on_adapter_connected(*self, status == REDIS_OK, status == REDIS_OK ? std::string_view{} : ac->c.errstr);
    self->in_connect_callback_ = false;
}

void RedisAsioAdapter::on_disconnect(const redisAsyncContext* ac, int status) {
    auto* self = adapter_of(ac);
    const auto owner = self->owner_.lock();
    if (!owner) return;
    std::string_view error = status == REDIS_OK ? "closed" : ac->c.errstr;
    if (error.empty()) error = "connection lost";
    owner->on_adapter_disconnected(*self, error);
}

void RedisAsioAdapter::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
    const std::unique_ptr<ReplyCallback> callback{static_cast<ReplyCallback*>(privdata)};
    // Held for the call: the callback may drop the owner's last other reference.
    const auto owner = adapter_of(ac)->owner_.lock();
    if (!owner || !*callback) return;
    if (reply == nullptr) {
        (*callback)(nullptr);
        return;
    }
    const RedisReply view{*static_cast<const redisReply*>(reply)};
    (*callback)(&view);
}

void RedisAsioAdapter::on_push(redisAsyncContext* ac, void* reply, void* /*privdata*/) {
    if (reply == nullptr) return; // the context is being freed
    auto* self = adapter_of(ac);
    const auto owner = self->owner_.lock();
    if (!owner) return;
    owner->on_adapter_push(*self, RedisReply{*static_cast<const redisReply*>(reply)});
}

} // namespace flowgate::bus
