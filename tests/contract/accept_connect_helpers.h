// Helpers of the accept and connect tests (async_socket_listener.h, asock::listener and
// asock::connect): records of the callbacks, and the network situations the tests need (a port
// nobody listens on, a listener whose backlog is full (Linux only), IPv6 loopback or not), and
// the fixture of accept_connect_test.cpp and accept_connect_linux_test.cpp.
#pragma once

#ifndef _WIN32
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "asock/async_socket_listener.h"
#include "contract/contract_fixture.h"
#include "contract/seed_helpers.h"

namespace asock_test {

// Whether an engine that is alive has more threads than before it was made. Linux: its loop
// threads live until the last reference goes. Windows: the pool's threads come and go (idle
// ones end, CloseThreadpool releases them asynchronously), so only "they end" is checked.
#ifdef _WIN32
inline constexpr bool kLiveEngineAddsThreads = false;
#else
inline constexpr bool kLiveEngineAddsThreads = true;
#endif

#ifdef _WIN32
// Not counted on Windows (kPlatform.descriptors_countable).
inline size_t open_fd_count() { return 0; }

inline bool ipv6_loopback_available()
{
    ensure_winsock();
    const SOCKET fd = ::socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP);
    if (fd == INVALID_SOCKET)
        return false;
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::closesocket(fd);
    return ok;
}

// A TCP port on 127.0.0.1 that nothing listens on (see the Linux version below).
class UnusedPort
{
public:
    UnusedPort()
    {
        ensure_winsock();
        socket_ = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int length = sizeof(address);
        if (socket_ == INVALID_SOCKET || ::bind(socket_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            ADD_FAILURE() << "could not reserve a port: " << WSAGetLastError();
        port_ = ntohs(address.sin_port);
    }
    ~UnusedPort()
    {
        if (socket_ != INVALID_SOCKET)
            ::closesocket(socket_);
    }
    UnusedPort(const UnusedPort&) = delete;
    UnusedPort& operator=(const UnusedPort&) = delete;
    uint16_t port() const { return port_; }

private:
    SOCKET socket_ = INVALID_SOCKET;
    uint16_t port_ = 0;
};

// Plain connects to a listener that nobody accepts on, until one stays pending (see the Linux
// version below). Under Wine the sockets are the host's, so the host's backlog fills the same.
class FullBacklog
{
public:
    FullBacklog(uint16_t port, int max_connections = 64)
    {
        ensure_winsock();
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        for (int i = 0; i < max_connections && !full_; ++i)
        {
            const SOCKET s = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
            if (s == INVALID_SOCKET)
                break;
            sockets_.push_back(s);
            u_long nonblocking = 1;
            ::ioctlsocket(s, FIONBIO, &nonblocking);
            if (::connect(s, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0)
                continue;
            if (WSAGetLastError() != WSAEWOULDBLOCK)
                break;
            fd_set writable;
            FD_ZERO(&writable);
            FD_SET(s, &writable);
            fd_set failed;
            FD_ZERO(&failed);
            FD_SET(s, &failed);
            timeval wait{0, 200000};
            full_ = ::select(0, nullptr, &writable, &failed, &wait) == 0;  // not connected within 200 ms
        }
    }
    ~FullBacklog()
    {
        for (SOCKET s : sockets_)
            ::closesocket(s);
    }
    FullBacklog(const FullBacklog&) = delete;
    FullBacklog& operator=(const FullBacklog&) = delete;
    bool full() const { return full_; }

private:
    std::vector<SOCKET> sockets_;
    bool full_ = false;
};
#else

inline bool ipv6_loopback_available()
{
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return ok;
}

// A TCP port on 127.0.0.1 that nothing listens on: a socket holds it bound without listening,
// so a connect to it is refused and no other test takes it meanwhile.
class UnusedPort
{
public:
    UnusedPort()
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            ADD_FAILURE() << "could not reserve a port: " << errno;
        port_ = ntohs(address.sin_port);
    }
    ~UnusedPort()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    UnusedPort(const UnusedPort&) = delete;
    UnusedPort& operator=(const UnusedPort&) = delete;
    uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

// Plain connects to a listener that nobody accepts on, until one of them stays pending: the
// accept queue is then full and the system drops further connection requests (SYNs), so that
// a connect to the listener waits until its timeout. False if the queue never filled.
class FullBacklog
{
public:
    FullBacklog(uint16_t port, int max_connections = 64)
    {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        for (int i = 0; i < max_connections && !full_; ++i)
        {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0)
                break;
            fds_.push_back(fd);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0)
                continue;
            if (errno != EINPROGRESS)
                break;
            pollfd pfd{fd, POLLOUT, 0};
            full_ = ::poll(&pfd, 1, 200) == 0;  // not connected within 200 ms: its SYN was dropped
        }
    }
    ~FullBacklog()
    {
        for (int fd : fds_)
            ::close(fd);
    }
    FullBacklog(const FullBacklog&) = delete;
    FullBacklog& operator=(const FullBacklog&) = delete;
    bool full() const { return full_; }

private:
    std::vector<int> fds_;
    bool full_ = false;
};

#endif  // _WIN32

// A plain blocking client connected to 127.0.0.1:port, or kNoSocket when the connect failed.
inline NativeSocket plain_connect(uint16_t port)
{
#ifdef _WIN32
    ensure_winsock();
    const NativeSocket peer = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
#else
    const NativeSocket peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
#endif
    if (peer == kNoSocket)
        return kNoSocket;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
    {
        close_socket(peer);
        return kNoSocket;
    }
    return peer;
}

// Receives exactly size bytes on an open async socket (several receives if need be).
inline std::vector<uint8_t> receive_exactly(ASYNC_SOCKET_HANDLE socket, size_t size)
{
    std::vector<uint8_t> data(size);
    size_t got = 0;
    while (got < size)
    {
        ReceiveRecord received;
        ASYNC_SOCKET_BUFFER buffer{data.data() + got, static_cast<uint32_t>(size - got)};
        if (async_socket_receive_async(socket, &buffer, 1, ReceiveRecord::callback, &received) != 0 || !received.done.wait_for(1) ||
            received.result.load() != ASYNC_SOCKET_RECEIVE_OK)
            break;
        got += received.bytes.load();
    }
    data.resize(got);
    return data;
}

// Sends data on one open async socket and checks that the other receives it.
inline void expect_bytes_flow(ASYNC_SOCKET_HANDLE from, ASYNC_SOCKET_HANDLE to, size_t size = 1000, uint32_t seed = 1)
{
    const auto data = pattern(size, seed);
    SendRecord sent;
    ASYNC_SOCKET_BUFFER buffer{const_cast<uint8_t*>(data.data()), static_cast<uint32_t>(data.size())};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(from, &buffer, 1, SendRecord::callback, &sent));
    EXPECT_EQ(data, receive_exactly(to, size));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
}

// The fixture of the accept and connect tests.
class AcceptConnectBase : public Contract
{
protected:
    // A listener on address, port 0, asserting that it could be created.
    ASYNC_SOCKET_LISTENER_HANDLE listen_on(const char* address, int32_t backlog = 16)
    {
        ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
        int error = -1;
        const auto result = async_socket_listener_create(engine, address, 0, backlog, &listener, &error);
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, result) << ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(result) << ", errno " << error;
        EXPECT_EQ(0, error);
        EXPECT_NE(nullptr, listener);
        return listener;
    }

    // Accepts and connects once over address; both sockets are returned open.
    void connect_pair(const char* address, OwnedSocket& accepted, OwnedSocket& connected)
    {
        AcceptRecord accept;
        ConnectRecord connect;
        OwnedListener listener(listen_on(address));
        ASSERT_NE(nullptr, listener.get());
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
        ASSERT_EQ(0, async_socket_connect_async(engine, address, async_socket_listener_get_port(listener.get()), 5000, ConnectRecord::callback, &connect));
        ASSERT_TRUE(accept.done.wait_for(1));
        ASSERT_TRUE(connect.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accept.result.load());
        EXPECT_EQ(0, accept.error.load());
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load()) << ", errno " << connect.error.load();
        EXPECT_EQ(0, connect.error.load());
        accepted.reset(accept.socket.load());
        connected.reset(connect.socket.load());
        ASSERT_NE(nullptr, accepted.get());
        ASSERT_NE(nullptr, connected.get());
    }
};

}  // namespace asock_test
