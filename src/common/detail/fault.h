// The fault-injection seam: every allocation and (through sys.h) every system call asks
// inject_fault first. In the library users link it is a constant false that the compiler
// removes; the test build of the library (ASOCK_FAULT_INJECTION) lets a test make the N-th
// call at chosen points fail (tests/support/fault_injection.h, which numbers the points the
// same way).
//
// A failing system call returns what the real one returns on failure (-1 and errno; liburing:
// -errno) with the error of its point (fault_errno; a test may choose another). The defaults
// are errors the call really reports, picked so that the caller's own handling runs:
//
//   close            EIO     after closing for real: Linux releases the descriptor whatever
//                            close returns, and a caller must never retry it
//   sendmsg          ENOBUFS the send fails (ASYNC_SOCKET_SEND_ERROR) and so do later ones
//   recvmsg          ENOMEM  the receive fails (ASYNC_SOCKET_RECEIVE_ERROR), later ones work
//   getsockopt       ENOTSOCK  open's check of the handle's type fails
//   shutdown         ENOTCONN  after shutting down for real (the peer left in between)
//   epoll_create1    EMFILE  out of descriptors
//   epoll_ctl        ENOMEM  no kernel memory for the registration (ENOSPC: max_user_watches)
//   epoll_wait       EINTR   a signal: the caller waits again
//   eventfd          EMFILE
//   eventfd read     EAGAIN  nothing to drain (someone drained it first)
//   eventfd write    EAGAIN  after writing for real: only a saturated counter fails a write,
//                            and a saturated counter is a wake-up already pending
//   io_uring setup   ENOMEM  locked-memory limit or no kernel memory
//   submit           EAGAIN  no memory for the requests: they stay queued in the ring
//   submit and wait  EINTR   a signal during the wait
//   get events       EBUSY   completions overflowed and could not all be flushed yet
//   wait for a CQE   EINTR   a signal during the wait: the caller waits again
//   sync cancel      EINTR   a signal during the wait: the caller asks again
//   enable rings     EINTR   a signal: the caller asks again
//   socket           EMFILE  out of descriptors
//   setsockopt       ENOBUFS
//   bind, listen     EADDRINUSE  another socket has the port
//   getsockname      ENOBUFS
//   accept4          EMFILE  the accept completes with ERROR; the listener stays usable
//   connect          ENETUNREACH  no route: the connect completes with UNREACHABLE
//   timerfd_create   EMFILE
//   timerfd_settime  EINVAL
#pragma once

#include <cerrno>
#include <cstdint>
#include <new>

namespace asock::detail {

enum class FaultPoint : uint8_t
{
    // Allocations.
    socket_alloc,
    op_alloc,         // any operation (or C++ handler), before the cache is asked
    thread_start,     // a loop's thread
    op_block_alloc,   // operation memory from the heap: the thread's cache and the depot are empty
    op_iov_alloc,     // the buffer array of an operation with more than kInlineBuffers buffers
    engine_alloc,     // the engine object
    loop_alloc,       // the loops and the engine's array of them
    backend_alloc,    // a loop's backend object
    stash_alloc,      // io_uring: room to keep completions reaped during a close for later
    // System calls.
    sys_close,
    sys_sendmsg,      // sendmsg, or send for one buffer (epoll)
    sys_recvmsg,      // recvmsg, or recv for one buffer (epoll)
    sys_getsockopt,
    sys_shutdown,
    sys_epoll_create,
    sys_epoll_ctl,
    sys_epoll_wait,
    sys_eventfd,
    sys_eventfd_read,
    sys_eventfd_write,
    uring_setup,           // io_uring_queue_init_params
    uring_submit,          // io_uring_submit
    uring_submit_and_wait, // io_uring_submit_and_wait
    uring_get_events,      // io_uring_get_events, io_uring_submit_and_get_events
    uring_wait_cqe,        // io_uring_wait_cqe
    uring_sync_cancel,     // io_uring_register_sync_cancel
    uring_enable_rings,    // IORING_REGISTER_ENABLE_RINGS
    // Listeners and connects (async_socket_listener.h).
    listener_alloc,        // a listener object
    accept_alloc,          // an accept request
    connect_alloc,         // a connect's state
    sys_socket,
    sys_setsockopt,
    sys_bind,
    sys_listen,
    sys_getsockname,
    sys_accept,            // accept4 (epoll)
    sys_connect,           // connect (epoll)
    sys_timerfd_create,    // a connect's timeout (epoll)
    sys_timerfd_settime,
    count_,
};

// The error a failing system call at the point reports by default (see the table above).
constexpr int default_fault_errno(FaultPoint point) noexcept
{
    switch (point)
    {
    case FaultPoint::sys_close:
        return EIO;
    case FaultPoint::sys_sendmsg:
        return ENOBUFS;
    case FaultPoint::sys_getsockopt:
        return ENOTSOCK;
    case FaultPoint::sys_shutdown:
        return ENOTCONN;
    case FaultPoint::sys_epoll_create:
    case FaultPoint::sys_eventfd:
        return EMFILE;
    case FaultPoint::sys_eventfd_read:
    case FaultPoint::sys_eventfd_write:
    case FaultPoint::uring_submit:
        return EAGAIN;
    case FaultPoint::sys_epoll_wait:
    case FaultPoint::uring_submit_and_wait:
    case FaultPoint::uring_wait_cqe:
    case FaultPoint::uring_sync_cancel:
    case FaultPoint::uring_enable_rings:
        return EINTR;
    case FaultPoint::uring_get_events:
        return EBUSY;
    case FaultPoint::sys_socket:
    case FaultPoint::sys_accept:
    case FaultPoint::sys_timerfd_create:
        return EMFILE;
    case FaultPoint::sys_setsockopt:
    case FaultPoint::sys_getsockname:
        return ENOBUFS;
    case FaultPoint::sys_bind:
    case FaultPoint::sys_listen:
        return EADDRINUSE;
    case FaultPoint::sys_connect:
        return ENETUNREACH;
    case FaultPoint::sys_timerfd_settime:
        return EINVAL;
    default:
        return ENOMEM;
    }
}

#if defined(ASOCK_FAULT_INJECTION)
bool inject_fault(FaultPoint point) noexcept;
int fault_errno(FaultPoint point) noexcept;
#else
constexpr bool inject_fault(FaultPoint) noexcept { return false; }
constexpr int fault_errno(FaultPoint point) noexcept { return default_fault_errno(point); }
#endif

// For a system call: true when this call must fail, with errno set to the point's error.
inline bool inject_call_fault(FaultPoint point) noexcept
{
    if (!inject_fault(point))
        return false;
    errno = fault_errno(point);
    return true;
}

// For an allocation that reports failure by throwing (std::vector, std::make_unique): throws
// std::bad_alloc, as the allocation would, when it must fail.
inline void throw_on_alloc_fault(FaultPoint point)
{
    if (inject_fault(point))
        throw std::bad_alloc();
}

}  // namespace asock::detail
