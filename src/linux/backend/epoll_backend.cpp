// The epoll backend: readiness-driven, non-blocking system calls on the loop's thread.
//
// Each handle is registered once, edge-triggered, for both directions; no epoll_ctl is made
// per operation. The handle remembers the readiness an edge announced (readable, writable)
// until a call returns EAGAIN or a short count, which is when the kernel will announce the
// next edge. An operation started while its direction is ready runs at once (done); otherwise
// it waits for the edge (parked: pending) and poll runs it then and reports it. MSG_DONTWAIT
// makes every call non-blocking whatever the socket's own mode, and MSG_NOSIGNAL keeps a
// vanished peer from raising SIGPIPE.
#include <limits.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "detail/backend.h"
#include "detail/handle.h"
#include "detail/op.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

constexpr int kMaxEvents = 256;

// What this backend keeps of a handle (in Handle::backend_data).
struct EpollState
{
    static constexpr uint8_t kReadable = 1;
    static constexpr uint8_t kWritable = 2;
    static constexpr uint8_t kReadEnded = 4;  // RDHUP/HUP/ERR seen: reads never wait again
    static constexpr uint8_t kRegistered = 8;
    static constexpr uint8_t kReadParked = 16;   // the read in flight waits for an edge
    static constexpr uint8_t kWriteParked = 32;  // the write in flight waits for an edge

    uint8_t flags;
    uint8_t unused[7];

    bool has(uint8_t flag) const noexcept { return (flags & flag) != 0; }
    void set(uint8_t flag) noexcept { flags = static_cast<uint8_t>(flags | flag); }
    void clear(uint8_t flag) noexcept { flags = static_cast<uint8_t>(flags & ~flag); }
};
static_assert(sizeof(EpollState) == sizeof(Handle::backend_data));

EpollState state_of(const Handle& handle) noexcept
{
    EpollState state;
    std::memcpy(&state, &handle.backend_data, sizeof(state));
    return state;
}

void store(Handle& handle, const EpollState& state) noexcept { std::memcpy(&handle.backend_data, &state, sizeof(state)); }

size_t requested(const msghdr& message) noexcept
{
    size_t total = 0;
    for (size_t i = 0; i < message.msg_iovlen; ++i)
        total += message.msg_iov[i].iov_len;
    return total;
}

// One buffer goes through recv/send, which cost the kernel less than recvmsg/sendmsg.
ssize_t receive_into(int fd, msghdr& message) noexcept
{
    if (message.msg_iovlen == 1)
        return sys::recv(fd, message.msg_iov[0].iov_base, message.msg_iov[0].iov_len, MSG_DONTWAIT);
    return sys::recvmsg(fd, &message, MSG_DONTWAIT);
}

ssize_t send_from(int fd, const msghdr& message) noexcept
{
    if (message.msg_iovlen == 1)
        return sys::send(fd, message.msg_iov[0].iov_base, message.msg_iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return sys::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

enum class Attempt
{
    finished,     // result holds the outcome
    would_block,  // wait for the direction's next edge
};

class EpollBackend final : public Backend
{
public:
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
        event.data.ptr = nullptr;  // the wake-up; handles have their address here
        return sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) == 0;
    }

    int socket_flags() const noexcept override { return SOCK_NONBLOCK; }

    // Optimistic: the first operation tries its call at once; EAGAIN clears the flag. A handle
    // that a connect registered already (register_handle) keeps its registration.
    int attach(Handle& handle) noexcept override
    {
        EpollState state = state_of(handle);
        state.set(EpollState::kReadable | EpollState::kWritable);
        store(handle, state);
        return state.has(EpollState::kRegistered) ? 0 : register_handle(handle);
    }

    // Operations already run by this poll are still to be reported (their report is in the
    // loop's hands); the parked ones are the loop's again.
    unsigned detach(Handle& handle) noexcept override
    {
        const EpollState state = state_of(handle);
        if (state.has(EpollState::kRegistered))
            sys::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, handle.fd, nullptr);
        unsigned still_reported = 0;
        if (handle.in_flight[kReads] != nullptr && !state.has(EpollState::kReadParked))
            still_reported |= 1u << kReads;
        if (handle.in_flight[kWrites] != nullptr && !state.has(EpollState::kWriteParked))
            still_reported |= 1u << kWrites;
        store(handle, EpollState{});
        return still_reported;
    }

    Start start(Op& op, long& result) noexcept override
    {
        Handle& handle = *op.handle;
        EpollState state = state_of(handle);
        Attempt attempt;
        uint8_t parked = EpollState::kReadParked;
        switch (op.kind)
        {
        case ItemKind::receive:
            attempt = run_receive(op, state, result);
            break;
        case ItemKind::send:
            attempt = run_send(op, state, result);
            parked = EpollState::kWriteParked;
            break;
        case ItemKind::accept:
            attempt = run_accept(op, state, result);
            break;
        case ItemKind::connect:
            attempt = begin_connect(op, state, result);
            parked = EpollState::kWriteParked;
            break;
        default:
            result = -EINVAL;
            return Start::done;
        }
        if (attempt == Attempt::would_block)
            state.set(parked);
        store(handle, state);
        return attempt == Attempt::would_block ? Start::pending : Start::done;
    }

    // A parked operation is simply taken back; one already run this poll is reported anyway.
    Start cancel(Op& op, long& result) noexcept override
    {
        Handle& handle = *op.handle;
        EpollState state = state_of(handle);
        const uint8_t parked = direction_of(op.kind) == kReads ? EpollState::kReadParked : EpollState::kWriteParked;
        if (!state.has(parked))
            return Start::pending;
        state.clear(parked);
        store(handle, state);
        result = -ECANCELED;
        return Start::done;
    }

    size_t poll(int64_t timeout_ns, Report* out, size_t max) noexcept override
    {
        const int count = sys::epoll_wait(epoll_fd_, events_, max < kMaxEvents * 2 ? static_cast<int>(max / 2) : kMaxEvents, timeout_ms(timeout_ns));
        // A failed wait (EINTR) reports nothing. No callback runs in here, so no handle can be
        // detached while its events are looked at.
        size_t reported = 0;
        for (int i = 0; i < count; ++i)
        {
            if (events_[i].data.ptr == nullptr)
                drain_wake();
            else
                reported += on_event(*static_cast<Handle*>(events_[i].data.ptr), events_[i].events, out + reported);
        }
        return reported;
    }

    void wake() noexcept override
    {
        const uint64_t one = 1;
        // Fails only when the counter is saturated, which already means "wake up".
        (void)sys::write(wake_fd_, &one, sizeof(one));
    }

private:
    // The state is complete before the descriptor joins the set: from then on the loop's
    // thread may see its events (and on_event changes the state) at any moment.
    int register_handle(Handle& handle) noexcept
    {
        const EpollState before = state_of(handle);
        EpollState registered = before;
        registered.set(EpollState::kRegistered);
        store(handle, registered);
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        event.data.ptr = &handle;
        if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, handle.fd, &event) == 0)
            return 0;
        const int error = errno;
        store(handle, before);  // not in the set: no event can have changed it
        return error;
    }

    // Rounds up: waking before the deadline would only mean waiting again.
    static int timeout_ms(int64_t timeout_ns) noexcept
    {
        if (timeout_ns < 0)
            return -1;
        const int64_t ms = (timeout_ns + 999999) / 1000000;
        return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
    }

    void drain_wake() noexcept
    {
        uint64_t value;
        (void)sys::read(wake_fd_, &value, sizeof(value));
    }

    // Records the readiness an edge announced and runs the parked operations it allows.
    // Returns the reports written to out (at most two).
    size_t on_event(Handle& handle, uint32_t events, Report* out) noexcept
    {
        EpollState state = state_of(handle);
        // Errors and hang-ups are reported through the calls themselves.
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            state.set(EpollState::kReadable);
        if (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            state.set(EpollState::kReadEnded);
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            state.set(EpollState::kWritable);
        size_t reported = 0;
        reported += resume(handle, kReads, EpollState::kReadParked, state, out + reported);
        reported += resume(handle, kWrites, EpollState::kWriteParked, state, out + reported);
        store(handle, state);
        return reported;
    }

    size_t resume(Handle& handle, Direction direction, uint8_t parked, EpollState& state, Report* out) noexcept
    {
        Op* op = handle.in_flight[direction];
        if (!state.has(parked) || op == nullptr)
            return 0;
        long result = 0;
        const Attempt attempt = op->kind == ItemKind::connect ? finish_connect(handle, state, result) : run(*op, state, result);
        if (attempt == Attempt::would_block)
            return 0;
        state.clear(parked);
        *out = Report{op, result};
        return 1;
    }

    Attempt run(Op& op, EpollState& state, long& result) noexcept
    {
        switch (op.kind)
        {
        case ItemKind::receive:
            return run_receive(op, state, result);
        case ItemKind::send:
            return run_send(op, state, result);
        case ItemKind::accept:
            return run_accept(op, state, result);
        case ItemKind::connect:
        case ItemKind::timer:  // never handed to a backend
        case ItemKind::cancel_reads:
        case ItemKind::cancel_connect:
        case ItemKind::open_notice:
        case ItemKind::close_waiter:
            break;
        }
        result = -EINVAL;
        return Attempt::finished;
    }

    static Attempt run_receive(Op& op, EpollState& state, long& result) noexcept
    {
        if (!state.has(EpollState::kReadable))
            return Attempt::would_block;
        msghdr message{};
        message.msg_iov = op.io.iov;
        message.msg_iovlen = op.io.count < IOV_MAX ? op.io.count : IOV_MAX;
        ssize_t received;
        do
            received = receive_into(op.handle->fd, message);
        while (received < 0 && errno == EINTR);
        if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            state.clear(EpollState::kReadable);
            return Attempt::would_block;
        }
        // A short read emptied the socket: the next arrival raises a new edge. Not so once the
        // peer's end of stream (or an error) was announced: that edge has passed and will not
        // come again, and every later receive must see it.
        if (received > 0 && static_cast<size_t>(received) < requested(message) && !state.has(EpollState::kReadEnded))
            state.clear(EpollState::kReadable);
        result = received < 0 ? -errno : received;
        return Attempt::finished;
    }

    // Gathers the buffers of the queued sends, the first one onwards (up to IOV_MAX).
    Attempt run_send(Op& op, EpollState& state, long& result) noexcept
    {
        if (!state.has(EpollState::kWritable))
            return Attempt::would_block;
        msghdr message{};
        message.msg_iov = gather_;
        for (Item* item = &op; item != nullptr && message.msg_iovlen < IOV_MAX; item = item->next)
        {
            const IoBuffers& io = as_op(item)->io;
            for (uint32_t i = 0; i < io.count && message.msg_iovlen < IOV_MAX; ++i)
                gather_[message.msg_iovlen++] = io.iov[i];
        }
        ssize_t sent;
        do
            sent = send_from(op.handle->fd, message);
        while (sent < 0 && errno == EINTR);
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            state.clear(EpollState::kWritable);
            return Attempt::would_block;
        }
        if (sent >= 0 && static_cast<size_t>(sent) < requested(message))
            state.clear(EpollState::kWritable);
        result = sent < 0 ? -errno : sent;
        return Attempt::finished;
    }

    static Attempt run_accept(Op& op, EpollState& state, long& result) noexcept
    {
        if (!state.has(EpollState::kReadable))
            return Attempt::would_block;
        int fd;
        do
            fd = sys::accept4(op.handle->fd, nullptr, nullptr, SOCK_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            state.clear(EpollState::kReadable);
            return Attempt::would_block;
        }
        result = fd < 0 ? -errno : fd;
        return Attempt::finished;
    }

    // A connect in progress waits for its socket to become writable (registered here: it is not
    // attached yet); SO_ERROR then tells how it ended. EINTR: it goes on in the background.
    Attempt begin_connect(Op& op, EpollState& state, long& result) noexcept
    {
        Handle& handle = *op.handle;
        const auto* address = op.connect.peer();
        if (sys::connect(handle.fd, address, op.connect.address_length) == 0)
        {
            result = 0;
            return Attempt::finished;
        }
        if (errno != EINPROGRESS && errno != EINTR)
        {
            result = -errno;
            return Attempt::finished;
        }
        store(handle, state);
        const int error = register_handle(handle);
        state = state_of(handle);
        if (error == 0)
            return Attempt::would_block;
        result = -error;
        return Attempt::finished;
    }

    static Attempt finish_connect(Handle& handle, EpollState& state, long& result) noexcept
    {
        if (!state.has(EpollState::kWritable))
            return Attempt::would_block;
        int error = 0;
        socklen_t length = sizeof(error);
        result = sys::getsockopt(handle.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? -error : -errno;
        return Attempt::finished;
    }

    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    epoll_event events_[kMaxEvents];
    iovec gather_[IOV_MAX];
};

}  // namespace

std::unique_ptr<Backend> make_epoll_backend() noexcept
{
    std::unique_ptr<EpollBackend> backend(inject_fault(FaultPoint::backend_alloc) ? nullptr : new (std::nothrow) EpollBackend());
    if (backend == nullptr || !backend->init())
        return nullptr;
    return backend;
}

}  // namespace asock::detail
