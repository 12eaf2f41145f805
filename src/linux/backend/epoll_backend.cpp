// The epoll backend: readiness-driven, non-blocking send/receive calls on the loop's thread.
//
// Each socket is registered once, edge-triggered, for both directions; no epoll_ctl is made
// per operation. The socket remembers the readiness an edge announced (readable, writable)
// until a call returns EAGAIN or a short count, which is when the kernel will announce the
// next edge. MSG_DONTWAIT makes every call non-blocking whatever the socket's own mode, and
// MSG_NOSIGNAL keeps a vanished peer from raising SIGPIPE.
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <new>

#include "detail/backend.h"
#include "detail/loop.h"
#include "detail/socket.h"
#include "detail/net.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

constexpr int kMaxEvents = 256;
// Receives completed for one socket in one go before the loop looks at the others.
constexpr int kReceiveBudget = 16;
// Connections accepted for one listener in one go.
constexpr int kAcceptBudget = 16;

class EpollBackend final : public Backend
{
public:
    explicit EpollBackend(Loop& loop) noexcept : loop_(loop) {}

    ~EpollBackend() override
    {
        if (wake_fd_ >= 0)
            sys::close(wake_fd_);
        if (epoll_fd_ >= 0)
            sys::close(epoll_fd_);
    }

    bool init() noexcept
    {
        epoll_fd_ = sys::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_fd_ < 0)
            return false;
        wake_fd_ = sys::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_fd_ < 0)
            return false;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.ptr = nullptr;  // the wake-up; sockets have their address here
        return sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) == 0;
    }

    int attach(Socket& socket) noexcept override
    {
        // Optimistic: the first operation tries the call at once; EAGAIN clears the flag.
        socket.readable = true;
        socket.writable = true;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        event.data.ptr = &socket;
        return sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, socket.fd, &event) == 0 ? 0 : errno;
    }

    void detach(Socket& socket) noexcept override
    {
        sys::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, socket.fd, nullptr);
        // Events already returned by this poll must not reach the socket any more.
        for (int i = next_event_; i < event_count_; ++i)
            if (events_[i].data.ptr == &socket)
                events_[i].events = 0;
    }

    void flush(Socket& socket) noexcept override
    {
        if (do_receives(socket))
            do_sends(socket);
    }

    bool poll(bool block) noexcept override
    {
        event_count_ = sys::epoll_wait(epoll_fd_, events_, kMaxEvents, block ? -1 : 0);
        const bool dispatched = event_count_ > 0;
        // A failed wait (EINTR) dispatches nothing; the loop simply comes round again.
        for (next_event_ = 0; next_event_ < event_count_;)
        {
            const epoll_event event = events_[next_event_++];
            if (event.data.ptr == nullptr)
                drain_wake();
            else if (event.events != 0)
                dispatch_event(event.data.u64, event.events);
        }
        event_count_ = 0;
        next_event_ = 0;
        return dispatched;
    }

    void wake() noexcept override
    {
        const uint64_t one = 1;
        // Fails only when the counter is saturated, which already means "wake up".
        (void)sys::write(wake_fd_, &one, sizeof(one));
    }

    // --- Listeners and connects: non-blocking sockets, accept4 on readiness; a connect in
    // progress waits for EPOLLOUT (then SO_ERROR tells how it ended) or its timerfd.

    int socket_flags() const noexcept override { return SOCK_NONBLOCK; }

    int attach_listener(Listener& listener) noexcept override
    {
        listener.readable = true;  // optimistic, as for sockets: the first accept tries at once
        epoll_event event{};
        event.events = EPOLLIN | EPOLLET;
        event.data.u64 = net_tag(listener, false);
        return sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener.fd, &event) == 0 ? 0 : errno;
    }

    void detach_listener(Listener& listener) noexcept override
    {
        sys::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener.fd, nullptr);
        forget_events(net_tag(listener, false));
    }

    void flush_listener(Listener& listener) noexcept override
    {
        for (int budget = kAcceptBudget; listener.readable && !listener.detached && listener_has_waiting_accepts(listener); --budget)
        {
            if (budget == 0)
            {
                listener_flush_later(listener);  // more next iteration, after the others
                return;
            }
            const int fd = sys::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0)
                listener_accept_done(listener, fd);
            else if (errno == EAGAIN || errno == EWOULDBLOCK)
                listener.readable = false;
            else if (!is_accept_retry(errno))
                listener_accept_done(listener, -errno);
        }
    }

    void start_connect(Connect& connect) noexcept override
    {
        if (sys::connect(connect.fd, reinterpret_cast<const sockaddr*>(&connect.address), connect.address_length) == 0)
            return connect_finished(connect, 0);
        // EINTR: the connect goes on in the background, as with EINPROGRESS.
        if (errno != EINPROGRESS && errno != EINTR)
            return connect_finished(connect, errno);
        const int error = watch_connect(connect);
        if (error == 0)
            return;
        unwatch_connect(connect);
        connect_finished(connect, error);
    }

private:
    void drain_wake() noexcept
    {
        uint64_t value;
        (void)sys::read(wake_fd_, &value, sizeof(value));
    }

    void dispatch(Socket& socket, uint32_t events) noexcept
    {
        Loop::SocketScope scope(loop_, socket);
        // Errors and hang-ups are reported through the calls themselves.
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            socket.readable = true;
        if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            socket.read_side_ended = true;
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            socket.writable = true;
        flush(socket);
    }

    // MSG_DONTWAIT: never block, whatever the socket's own mode. One buffer goes through
    // recv/send, which cost the kernel less than recvmsg/sendmsg.
    static ssize_t receive(int fd, msghdr& message) noexcept
    {
        if (message.msg_iovlen == 1)
            return sys::recv(fd, message.msg_iov[0].iov_base, message.msg_iov[0].iov_len, MSG_DONTWAIT);
        return sys::recvmsg(fd, &message, MSG_DONTWAIT);
    }

    static ssize_t send(int fd, const msghdr& message) noexcept
    {
        if (message.msg_iovlen == 1)
            return sys::send(fd, message.msg_iov[0].iov_base, message.msg_iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        return sys::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    // Returns false when a callback closed the socket.
    bool do_receives(Socket& socket) noexcept
    {
        for (int budget = kReceiveBudget; socket.readable && !socket.receives.empty(); --budget)
        {
            if (budget == 0)
            {
                loop_.mark_dirty(socket);  // more next iteration, after the others
                return true;
            }
            Op* op = as_op(socket.receives.front());
            msghdr message{};
            message.msg_iov = op->iov;
            message.msg_iovlen = op->iov_count < IOV_MAX ? op->iov_count : IOV_MAX;
            const ssize_t received = receive(socket.fd, message);
            if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            {
                socket.readable = false;
                return true;
            }
            if (received < 0 && errno == EINTR)
                continue;
            // A short read emptied the socket: the next arrival raises a new edge. Not so
            // once the peer's end of stream (or an error) was announced: that edge has
            // passed and will not come again, and every later receive must see it.
            if (received > 0 && static_cast<size_t>(received) < requested(message) && !socket.read_side_ended)
                socket.readable = false;
            if (!loop_.complete_receive(socket, received < 0 ? -errno : received))
                return false;
        }
        return true;
    }

    void do_sends(Socket& socket) noexcept
    {
        while (socket.writable && !socket.sends.empty() && socket.send_failure == 0)
        {
            msghdr message{};
            message.msg_iov = gather_;
            message.msg_iovlen = loop_.gather_sends(socket, gather_, IOV_MAX);
            const ssize_t sent = send(socket.fd, message);
            if (sent < 0)
            {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    socket.writable = false;
                else
                    loop_.fail_sends(socket, errno);
                return;
            }
            if (static_cast<size_t>(sent) < requested(message))
                socket.writable = false;
            if (!loop_.complete_sent_bytes(socket, static_cast<size_t>(sent)))
                return;
        }
    }

    // Sockets have their address in the event's data; listeners and connects a tagged one.
    void dispatch_event(uint64_t data, uint32_t events) noexcept
    {
        if (is_net_tag(data))
            dispatch_net(data);
        else
            dispatch(*reinterpret_cast<Socket*>(data), events);
    }

    // Errors and hang-ups of a listener are reported by accept4; a connect's by SO_ERROR.
    void dispatch_net(uint64_t data) noexcept
    {
        NetTarget& target = net_target_of(data);
        if (target.net_kind == NetKind::listener)
        {
            Listener& listener = static_cast<Listener&>(target);
            ListenerScope scope(listener);
            listener.readable = true;
            flush_listener(listener);
            return;
        }
        Connect& connect = static_cast<Connect&>(target);
        const int error = is_net_timer_tag(data) ? ETIMEDOUT : connect_error(connect);
        unwatch_connect(connect);
        connect_finished(connect, error);
    }

    int watch_connect(Connect& connect) noexcept
    {
        connect.timer_fd = sys::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (connect.timer_fd < 0)
            return errno;
        itimerspec expiry{};
        expiry.it_value.tv_sec = connect.timeout_ms / 1000;
        expiry.it_value.tv_nsec = static_cast<long>(connect.timeout_ms % 1000) * 1000000;
        if (sys::timerfd_settime(connect.timer_fd, 0, &expiry, nullptr) != 0)
            return errno;
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = net_tag(connect, true);
        if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connect.timer_fd, &event) != 0)
            return errno;
        event.events = EPOLLOUT;
        event.data.u64 = net_tag(connect, false);
        return sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connect.fd, &event) == 0 ? 0 : errno;
    }

    // Before a connect ends: its socket leaves the set (as an async socket it joins one again)
    // and its timer goes; events of either already fetched are not dispatched.
    void unwatch_connect(Connect& connect) noexcept
    {
        sys::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connect.fd, nullptr);  // ENOENT if never added
        forget_events(net_tag(connect, false));
        if (connect.timer_fd < 0)
            return;
        sys::close(connect.timer_fd);  // also takes it out of the set
        connect.timer_fd = -1;
        forget_events(net_tag(connect, true));
    }

    static int connect_error(const Connect& connect) noexcept
    {
        int error = 0;
        socklen_t length = sizeof(error);
        return sys::getsockopt(connect.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : errno;
    }

    // Events already returned by this poll for data must not be dispatched any more.
    void forget_events(uint64_t data) noexcept
    {
        for (int i = next_event_; i < event_count_; ++i)
            if (events_[i].data.u64 == data)
                events_[i].events = 0;
    }

    static size_t requested(const msghdr& message) noexcept
    {
        size_t total = 0;
        for (size_t i = 0; i < message.msg_iovlen; ++i)
            total += message.msg_iov[i].iov_len;
        return total;
    }

    Loop& loop_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    epoll_event events_[kMaxEvents];
    int event_count_ = 0;
    int next_event_ = 0;
    iovec gather_[IOV_MAX];
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend(Loop& loop) noexcept
{
    std::unique_ptr<EpollBackend> backend(inject_fault(FaultPoint::backend_alloc) ? nullptr : new (std::nothrow) EpollBackend(loop));
    if (backend == nullptr || !backend->init())
        return nullptr;
    return backend;
}

}  // namespace asock::detail
