// Helpers shared by the tests: connected socket pairs, engines per backend, and waits that
// always end (every wait has a deadline, so a broken contract fails a test instead of
// hanging the suite).
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asock/async_socket.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"

namespace asock_test {

using namespace std::chrono_literals;

// Long enough for a loaded two-core machine, short enough that a hang is a failure.
inline constexpr auto kTimeout = std::chrono::seconds(20);

// A count that tests wait on.
class Counter
{
public:
    void add(uint64_t n = 1)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        value_ += n;
        cv_.notify_all();
    }
    uint64_t value() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return value_;
    }
    // True when value reached at least target before the timeout.
    bool wait_for(uint64_t target, std::chrono::milliseconds timeout = kTimeout) const
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return value_ >= target; });
    }

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    uint64_t value_ = 0;
};

// The two ends of a connection: `ours` goes to asock, `peer` is used with plain calls.
struct Connection
{
    int ours = -1;
    int peer = -1;
};

// A TCP connection over loopback (IPv4), both ends blocking, TCP_NODELAY on both.
inline Connection tcp_connection()
{
    Connection c;
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

// A connected AF_UNIX stream pair.
inline Connection unix_connection()
{
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        ADD_FAILURE() << "socketpair failed: " << errno;
    return Connection{fds[0], fds[1]};
}

inline void set_nonblocking(int fd)
{
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

inline void set_send_buffer(int fd, int bytes) { ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)); }
inline void set_receive_buffer(int fd, int bytes) { ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)); }

// Makes the peer's close send a RST instead of a FIN.
inline void reset_on_close(int fd)
{
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

// Reads exactly n bytes from a blocking fd, or fewer if the connection ends or the timeout
// passes.
inline std::vector<uint8_t> read_exactly(int fd, size_t n, std::chrono::milliseconds timeout = kTimeout)
{
    std::vector<uint8_t> data(n);
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    timeval tv{0, 100000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (got < n && std::chrono::steady_clock::now() < deadline)
    {
        const ssize_t r = ::recv(fd, data.data() + got, n - got, 0);
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

inline bool write_all(int fd, const void* data, size_t n)
{
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0)
    {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// A deterministic byte pattern, different for every (seed, offset).
inline std::vector<uint8_t> pattern(size_t n, uint32_t seed = 1)
{
    std::vector<uint8_t> data(n);
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; ++i)
    {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = static_cast<uint8_t>(x);
    }
    return data;
}

inline const char* backend_name(ASOCK_LINUX_BACKEND backend)
{
    return backend == ASOCK_LINUX_BACKEND_IO_URING ? "io_uring" : "epoll";
}

// Creates an engine on the given backend; the test is skipped when io_uring cannot run here.
inline EXECUTION_ENGINE_HANDLE make_engine(ASOCK_LINUX_BACKEND backend, uint32_t threads = 1)
{
    EXECUTION_ENGINE_PARAMETERS parameters{threads, 0};
    return execution_engine_linux_create(&parameters, backend);
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

inline size_t thread_count() { return count_entries("/proc/self/task"); }
inline size_t open_fd_count() { return count_entries("/proc/self/fd"); }

// Waits (bounded) until the process has at most `expected` threads: an engine's threads
// are joined by the last dec_ref, but one that ends on its own thread exits a moment later.
inline bool wait_for_thread_count(size_t expected, std::chrono::milliseconds timeout = kTimeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (thread_count() > expected)
    {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace asock_test
