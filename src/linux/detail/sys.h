// Every system call the library makes goes through here, so that tests can make any of them
// fail (see the fault-injection tests). Each returns what the call returns, with errno set
// as the call sets it.
#pragma once

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace asock::detail::sys {

inline int close(int fd) noexcept { return ::close(fd); }
inline ssize_t sendmsg(int fd, const msghdr* message, int flags) noexcept { return ::sendmsg(fd, message, flags); }
inline ssize_t recvmsg(int fd, msghdr* message, int flags) noexcept { return ::recvmsg(fd, message, flags); }
inline int getsockopt(int fd, int level, int name, void* value, socklen_t* length) noexcept { return ::getsockopt(fd, level, name, value, length); }
inline int epoll_create1(int flags) noexcept { return ::epoll_create1(flags); }
inline int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept { return ::epoll_ctl(epfd, op, fd, event); }
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout) noexcept { return ::epoll_wait(epfd, events, max, timeout); }
inline int eventfd(unsigned int initial, int flags) noexcept { return ::eventfd(initial, flags); }
inline ssize_t read(int fd, void* buffer, size_t size) noexcept { return ::read(fd, buffer, size); }
inline ssize_t write(int fd, const void* buffer, size_t size) noexcept { return ::write(fd, buffer, size); }

}  // namespace asock::detail::sys
