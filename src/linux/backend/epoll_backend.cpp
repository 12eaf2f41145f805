// The epoll backend: readiness-driven, non-blocking sendmsg/recvmsg on the loop's thread.
//
// Each socket is registered once, edge-triggered, for both directions; no epoll_ctl is made
// per operation. The socket remembers the readiness an edge announced (readable, writable)
// until a call returns EAGAIN or a short count, which is when the kernel will announce the
// next edge. MSG_DONTWAIT makes every call non-blocking whatever the socket's own mode, and
// MSG_NOSIGNAL keeps a vanished peer from raising SIGPIPE.
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <new>

#include "detail/backend.h"
#include "detail/loop.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

constexpr int kMaxEvents = 256;
// Receives completed for one socket in one go before the loop looks at the others.
constexpr int kReceiveBudget = 16;

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
                dispatch(*static_cast<Socket*>(event.data.ptr), event.events);
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
            const ssize_t received = sys::recvmsg(socket.fd, &message, MSG_DONTWAIT);
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
            const ssize_t sent = sys::sendmsg(socket.fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
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
    std::unique_ptr<EpollBackend> backend(new (std::nothrow) EpollBackend(loop));
    if (backend == nullptr || !backend->init())
        return nullptr;
    return backend;
}

}  // namespace asock::detail
