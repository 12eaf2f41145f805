// net.h on Linux.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace asock_test {

inline SOCKET_HANDLE as_handle(NativeSocket socket) { return socket; }
inline NativeSocket as_native(SOCKET_HANDLE handle) { return handle; }

inline Connection tcp_connection()
{
    Connection c{-1, -1};
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    {
        ADD_FAILURE() << "listener setup failed: " << errno;
        if (listener >= 0)
            ::close(listener);
        return c;
    }
    c.peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(c.peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        ADD_FAILURE() << "connect failed: " << errno;
    c.ours = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    ::close(listener);
    const int one = 1;
    ::setsockopt(c.peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(c.ours, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return c;
}

inline Connection local_connection()
{
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        ADD_FAILURE() << "socketpair failed: " << errno;
    return Connection{fds[0], fds[1]};
}

inline void close_socket(NativeSocket socket) { ::close(socket); }

inline bool socket_is_open(NativeSocket socket) { return ::fcntl(socket, F_GETFD) != -1; }

inline bool write_all(NativeSocket socket, const void* data, size_t size)
{
    const auto* p = static_cast<const uint8_t*>(data);
    while (size > 0)
    {
        const ssize_t w = ::send(socket, p, size, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
            pollfd pfd{socket, POLLOUT, 0};
            ::poll(&pfd, 1, 100);
            continue;
        }
        if (w <= 0)
            return false;
        p += w;
        size -= static_cast<size_t>(w);
    }
    return true;
}

inline long send_some(NativeSocket socket, const void* data, size_t size)
{
    const ssize_t w = ::send(socket, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return static_cast<long>(w);
}

inline long read_some(NativeSocket socket, void* buffer, size_t size, std::chrono::milliseconds timeout)
{
    pollfd pfd{socket, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready <= 0)
        return -1;
    const ssize_t r = ::recv(socket, buffer, size, MSG_DONTWAIT);
    if (r < 0)
        return -1;
    return static_cast<long>(r);
}

inline std::vector<uint8_t> read_exactly(NativeSocket socket, size_t size, std::chrono::milliseconds timeout)
{
    std::vector<uint8_t> data(size);
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got < size && std::chrono::steady_clock::now() < deadline)
    {
        pollfd pfd{socket, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0)
            continue;
        const ssize_t r = ::recv(socket, data.data() + got, size - got, MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r < 0)
        {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            break;
        }
        got += static_cast<size_t>(r);
    }
    data.resize(got);
    return data;
}

inline bool reaches_end_of_stream(NativeSocket socket, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline)
    {
        pollfd pfd{socket, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0)
            continue;
        const ssize_t r = ::recv(socket, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
    }
    return false;
}

inline bool shutdown_write(NativeSocket socket) { return ::shutdown(socket, SHUT_WR) == 0; }

inline void reset_on_close(NativeSocket socket)
{
    linger l{1, 0};
    ::setsockopt(socket, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

inline void set_send_buffer(NativeSocket socket, int bytes) { ::setsockopt(socket, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)); }
inline void set_receive_buffer(NativeSocket socket, int bytes) { ::setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)); }

inline void set_nonblocking(NativeSocket socket, bool nonblocking)
{
    const int flags = ::fcntl(socket, F_GETFL);
    ::fcntl(socket, F_SETFL, nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

inline double process_cpu_seconds()
{
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

inline size_t count_entries(const char* directory)
{
    size_t n = 0;
    if (DIR* d = ::opendir(directory))
    {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.')
                ++n;
        ::closedir(d);
    }
    return n;
}

inline size_t thread_count()
{
    // ThreadSanitizer starts a thread of its own when the process creates its first thread,
    // which would count as one of the first engine's. A throwaway thread, made before the
    // first count, starts it; without the sanitizer it costs one thread creation.
    // The joined thread leaves /proc/self/task a moment after the join returns (see
    // settled_thread_count): waiting for its entry to go keeps it out of the first count.
    static const bool sanitizer_thread_started = [] {
        pid_t tid = 0;
        std::thread([&tid] { tid = ::gettid(); }).join();
        const std::string entry = "/proc/self/task/" + std::to_string(tid);
        for (int i = 0; i < 10000 && ::access(entry.c_str(), F_OK) == 0; ++i)
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        return true;
    }();
    (void)sanitizer_thread_started;
    return count_entries("/proc/self/task");
}
inline size_t open_fd_count() { return count_entries("/proc/self/fd"); }

}  // namespace asock_test
