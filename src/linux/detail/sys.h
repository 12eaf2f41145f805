// Every system call the library makes goes through here, so that tests can make any of them
// fail (see the fault-injection tests). Each returns what the call returns, with errno set
// as the call sets it (liburing's calls: -errno). A failure injected at a point (fault.h; the
// points and the error each reports are listed in fault_points.h) returns the call's failure
// without making the call, except where the real call has an effect that its failure does not
// undo (close, shutdown, the eventfd write): those make the call, then report the failure.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "detail/fault.h"

// The io_uring calls, for the io_uring backend (absent from a build without liburing).
#if __has_include(<liburing.h>)
#include <liburing.h>
#define ASOCK_SYS_HAS_LIBURING 1
#endif

namespace asock::detail::sys {

inline int close(int fd) noexcept
{
    const int result = ::close(fd);
    return inject_call_fault(FaultPoint::sys_close) ? -1 : result;
}

// The calls of the epoll backend's hot path go through syscall(): glibc's wrappers of these
// are thread cancellation points, whose bookkeeping costs more instructions than the rest of
// a send; the library's own threads are never cancelled. Not under ThreadSanitizer: it learns
// from its interceptors of the wrappers that an epoll event or a socket's bytes order two
// threads, and would report false races without them.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kRawSyscalls = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kRawSyscalls = false;
#else
inline constexpr bool kRawSyscalls = true;
#endif
#else
inline constexpr bool kRawSyscalls = true;
#endif

inline ssize_t sendmsg(int fd, const msghdr* message, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_sendmsg) ? -1 : (kRawSyscalls ? ::syscall(SYS_sendmsg, fd, message, flags) : ::sendmsg(fd, message, flags));
}

inline ssize_t recvmsg(int fd, msghdr* message, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_recvmsg) ? -1 : (kRawSyscalls ? ::syscall(SYS_recvmsg, fd, message, flags) : ::recvmsg(fd, message, flags));
}

// One buffer: recvfrom/sendto, which spare the kernel copying and checking a msghdr and an
// iovec array (the common case: one buffer per receive, one send in the batch). They are
// the same points of failure as recvmsg/sendmsg.
inline ssize_t send(int fd, const void* buffer, size_t length, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_sendmsg) ? -1 : (kRawSyscalls ? ::syscall(SYS_sendto, fd, buffer, length, flags, nullptr, 0) : ::send(fd, buffer, length, flags));
}

inline ssize_t recv(int fd, void* buffer, size_t length, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_recvmsg) ? -1 : (kRawSyscalls ? ::syscall(SYS_recvfrom, fd, buffer, length, flags, nullptr, nullptr) : ::recv(fd, buffer, length, flags));
}

inline int getsockopt(int fd, int level, int name, void* value, socklen_t* length) noexcept
{
    return inject_call_fault(FaultPoint::sys_getsockopt) ? -1 : ::getsockopt(fd, level, name, value, length);
}

inline int shutdown(int fd, int how) noexcept
{
    const int result = ::shutdown(fd, how);
    return inject_call_fault(FaultPoint::sys_shutdown) ? -1 : result;
}

// Listeners and connects (listener_linux.cpp, connect_linux.cpp and the backends).
inline int socket(int domain, int type, int protocol) noexcept
{
    return inject_call_fault(FaultPoint::sys_socket) ? -1 : ::socket(domain, type, protocol);
}

inline int setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept
{
    return inject_call_fault(FaultPoint::sys_setsockopt) ? -1 : ::setsockopt(fd, level, name, value, length);
}

inline int bind(int fd, const sockaddr* address, socklen_t length) noexcept
{
    return inject_call_fault(FaultPoint::sys_bind) ? -1 : ::bind(fd, address, length);
}

inline int listen(int fd, int backlog) noexcept
{
    return inject_call_fault(FaultPoint::sys_listen) ? -1 : ::listen(fd, backlog);
}

inline int getsockname(int fd, sockaddr* address, socklen_t* length) noexcept
{
    return inject_call_fault(FaultPoint::sys_getsockname) ? -1 : ::getsockname(fd, address, length);
}

inline int accept4(int fd, sockaddr* address, socklen_t* length, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_accept) ? -1 : ::accept4(fd, address, length, flags);
}

inline int connect(int fd, const sockaddr* address, socklen_t length) noexcept
{
    return inject_call_fault(FaultPoint::sys_connect) ? -1 : ::connect(fd, address, length);
}


inline int epoll_create1(int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_epoll_create) ? -1 : ::epoll_create1(flags);
}

inline int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept
{
    return inject_call_fault(FaultPoint::sys_epoll_ctl) ? -1 : ::epoll_ctl(epfd, op, fd, event);
}

inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout) noexcept
{
    return inject_call_fault(FaultPoint::sys_epoll_wait) ? -1 : (kRawSyscalls ? static_cast<int>(::syscall(SYS_epoll_pwait, epfd, events, max, timeout, nullptr, 0)) : ::epoll_wait(epfd, events, max, timeout));
}

inline int eventfd(unsigned int initial, int flags) noexcept
{
    return inject_call_fault(FaultPoint::sys_eventfd) ? -1 : ::eventfd(initial, flags);
}

// read and write are used on eventfds only (the loops' wake-ups).
inline ssize_t read(int fd, void* buffer, size_t size) noexcept
{
    return inject_call_fault(FaultPoint::sys_eventfd_read) ? -1 : ::read(fd, buffer, size);
}

inline ssize_t write(int fd, const void* buffer, size_t size) noexcept
{
    const ssize_t result = ::write(fd, buffer, size);
    return inject_call_fault(FaultPoint::sys_eventfd_write) ? -1 : result;
}

#if defined(ASOCK_SYS_HAS_LIBURING)

inline int io_uring_queue_init_params(unsigned entries, io_uring* ring, io_uring_params* params) noexcept
{
    return inject_call_fault(FaultPoint::uring_setup) ? -errno : ::io_uring_queue_init_params(entries, ring, params);
}

inline int io_uring_submit(io_uring* ring) noexcept
{
    return inject_call_fault(FaultPoint::uring_submit) ? -errno : ::io_uring_submit(ring);
}

inline int io_uring_submit_and_wait(io_uring* ring, unsigned wait_nr) noexcept
{
    return inject_call_fault(FaultPoint::uring_submit_and_wait) ? -errno : ::io_uring_submit_and_wait(ring, wait_nr);
}

inline int io_uring_submit_and_wait_timeout(io_uring* ring, io_uring_cqe** cqe, unsigned wait_nr, __kernel_timespec* timeout) noexcept
{
    return inject_call_fault(FaultPoint::uring_submit_and_wait) ? -errno : ::io_uring_submit_and_wait_timeout(ring, cqe, wait_nr, timeout, nullptr);
}

inline int io_uring_submit_and_get_events(io_uring* ring) noexcept
{
    return inject_call_fault(FaultPoint::uring_get_events) ? -errno : ::io_uring_submit_and_get_events(ring);
}

inline int io_uring_get_events(io_uring* ring) noexcept
{
    return inject_call_fault(FaultPoint::uring_get_events) ? -errno : ::io_uring_get_events(ring);
}

inline int io_uring_wait_cqe(io_uring* ring, io_uring_cqe** cqe) noexcept
{
    return inject_call_fault(FaultPoint::uring_wait_cqe) ? -errno : ::io_uring_wait_cqe(ring, cqe);
}

inline int io_uring_register_sync_cancel(io_uring* ring, io_uring_sync_cancel_reg* reg) noexcept
{
    return inject_call_fault(FaultPoint::uring_sync_cancel) ? -errno : ::io_uring_register_sync_cancel(ring, reg);
}

// liburing 2.3 declares io_uring_enable_rings but does not export it: the raw call.
inline int io_uring_enable_rings(io_uring* ring) noexcept
{
    if (inject_call_fault(FaultPoint::uring_enable_rings))
        return -errno;
    return ::syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0 ? -errno : 0;
}

#endif

}  // namespace asock::detail::sys
