// Listeners and connects (asock/async_socket_listener.h) on Linux: the objects, and what their
// backend (Backend::attach_listener, flush_listener, start_connect, ...) reports back.
//
// Both travel through the same loop machinery as sockets: their steps are Tasks handed to a
// loop through its inbox, their callbacks run on that loop's thread, and the backend's events
// and completions reach them through a tagged address (net_tag). A listener is reference
// counted (the application's handle, each Task of it queued, each frame of the loop's stack
// that dispatches it, and its accept while the kernel holds it), so that it is freed by the
// last one to let go, whichever thread that is; close takes back what the kernel holds, so
// that after a destroy from outside the loop nothing but a queued Task can keep it. A connect has a single owner at any time: its
// Task, then the backend, then connect_finished, which frees it.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "asock/async_socket_listener.h"
#include "detail/op.h"
#include "detail/small_mutex.h"

namespace asock::detail {

class Engine;
class Loop;
struct CloseWaiter;

// --- Tags ------------------------------------------------------------------------------------

enum class NetKind : uint8_t
{
    listener,
    connect,
};

// The base of what a tagged event or completion leads to.
struct NetTarget
{
    explicit NetTarget(NetKind k) noexcept : net_kind(k) {}
    const NetKind net_kind;
};

// Sockets (epoll's data) and operations (io_uring's user_data) are at least 8-byte aligned
// addresses, so bit 0 set means "a NetTarget's address"; bit 1 then picks the target's timer
// (epoll: a connect's timerfd; io_uring: a connect's linked timeout) over its socket.
// io_uring's wake-up tag (1) is the one tagged value whose address is null.
inline constexpr uint64_t kNetTag = 1;
inline constexpr uint64_t kNetTimerTag = 2;
inline constexpr uint64_t kNetTagMask = kNetTag | kNetTimerTag;

inline uint64_t net_tag(NetTarget& target, bool timer) noexcept
{
    static_assert(alignof(NetTarget) <= 8);
    return reinterpret_cast<uint64_t>(&target) | kNetTag | (timer ? kNetTimerTag : 0);
}
inline bool is_net_tag(uint64_t data) noexcept { return (data & kNetTag) != 0; }
inline bool is_net_timer_tag(uint64_t data) noexcept { return (data & kNetTimerTag) != 0; }
inline NetTarget& net_target_of(uint64_t data) noexcept { return *reinterpret_cast<NetTarget*>(data & ~kNetTagMask); }

// --- Listener --------------------------------------------------------------------------------

enum class ListenerState : uint8_t
{
    open,
    closing,  // a close has started: pending accepts are being completed
    closed,   // the handle is closed and every accept completed
};

// One async_socket_listener_accept_async waiting for a connection.
struct AcceptRequest : Item
{
    ON_ASYNC_SOCKET_ACCEPT_COMPLETE callback = nullptr;
    void* context = nullptr;
};

struct Listener : NetTarget
{
    Listener(Engine& e, Loop& l, int handle, uint16_t bound_port) noexcept;

    // Immutable after create.
    Engine* const engine;
    Loop* const loop;
    const int fd;
    const uint16_t port;

    std::atomic<uint32_t> refs{1};  // the application's, until destroy

    // Guarded by mutex. Accept requests join the queue from any thread; the loop takes them.
    SmallMutex mutex;
    ListenerState state = ListenerState::open;
    bool kick_queued = false;   // kick is in the loop's lists
    bool close_queued = false;  // close_task is in the loop's lists
    ItemQueue accepts;
    CloseWaiter* close_waiters = nullptr;

    // Loop-owned.
    bool detached = false;   // the close started: no more accepts or events
    uint32_t stack_refs = 0; // frames of the loop's stack dispatching the listener
    // Backend state. epoll: readiness seen and not yet consumed.
    bool readable = false;
    // io_uring: the accept the kernel holds (at most one; it holds a reference). Close cancels
    // it and reaps its completion at once, unless it had not been submitted: it then became a
    // no-op (neutralized) whose completion only drops the reference.
    bool accept_in_flight = false;
    bool accept_neutralized = false;

    Task kick;        // flush the accept requests
    Task close_task;  // a close asked for by a thread that does not run the loop
};

// Retried without reporting: a connection that went away before it was accepted, and the
// network errors that accept(2) passes on from a pending connection.
inline bool is_accept_retry(int error) noexcept
{
    switch (error)
    {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

void listener_add_ref(Listener& listener) noexcept;
// Drops a reference; the last one frees the listener (and drops its engine reference).
void listener_release(Listener& listener) noexcept;
bool listener_has_waiting_accepts(Listener& listener) noexcept;
// Completes the first waiting accept with an accepted handle (>= 0) or -errno. Returns false
// when the callback closed the listener. Loop thread, inside a ListenerScope.
bool listener_accept_done(Listener& listener, int result) noexcept;
// The backend could not start an accept now (a full ring, a budget spent): the loop flushes
// the listener again in its next iteration.
void listener_flush_later(Listener& listener) noexcept;

// A frame of the loop's stack that dispatches the listener (as Loop::SocketScope): it keeps the
// listener alive, and leaving the outermost one releases the threads waiting for its close.
class ListenerScope
{
public:
    explicit ListenerScope(Listener& listener) noexcept;
    ~ListenerScope();
    ListenerScope(const ListenerScope&) = delete;
    ListenerScope& operator=(const ListenerScope&) = delete;

private:
    Listener& listener_;
};

// --- Connect ---------------------------------------------------------------------------------

struct Connect : NetTarget
{
    Connect(Engine& e, Loop& l, int handle) noexcept;

    Engine* const engine;  // a reference, dropped after the callback
    Loop* const loop;      // runs the connect, its callback, and the connected socket
    const int fd;
    sockaddr_storage address{};
    socklen_t address_length = 0;
    uint32_t timeout_ms = 0;
    ON_ASYNC_SOCKET_CONNECT_COMPLETE callback = nullptr;
    void* context = nullptr;
    Task start;  // hands the connect to its loop, which calls Backend::start_connect

    // Backend state. epoll: the timer of the timeout (-1: none).
    int timer_fd = -1;
    // io_uring: the linked timeout's time (the kernel reads it at submission), and the two
    // completions (connect, timeout) still to come and what they said.
    __kernel_timespec timeout{};
    uint8_t completions_pending = 0;
    int connect_result = 0;
    bool timed_out = false;
};

// Ends a connect: error 0 (connected), ETIMEDOUT (no answer in time), or why it failed. Runs the
// callback and frees the connect: the caller must not touch it afterwards. Loop thread.
void connect_finished(Connect& connect, int error) noexcept;
// The backend could not start the connect now (a full ring): the loop starts it again in its
// next iteration.
void connect_start_later(Connect& connect) noexcept;

// --- Shared by listeners and connects --------------------------------------------------------

// Parses a numeric IPv4 or IPv6 address into address (with port). False when it is neither.
bool parse_address(const char* text, uint16_t port, sockaddr_storage& address, socklen_t& length) noexcept;
// A new TCP socket for the address's family, with the loop's backend's flags. -1 and errno
// on failure.
int make_stream_socket(const sockaddr_storage& address, Loop& loop) noexcept;
// An async socket on loop, already open, for a connected handle (TCP_NODELAY is set here).
// nullptr and error on failure: the handle is then still the caller's.
ASYNC_SOCKET_HANDLE adopt_connected_socket(Loop& loop, int handle, int& error) noexcept;

}  // namespace asock::detail
