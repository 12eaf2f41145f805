// net.h on Windows (Winsock; the tests run under Wine).
#pragma once

#include <tlhelp32.h>

#include <gtest/gtest.h>

namespace asock_test {

// Winsock must be started once per process before any socket call.
inline void ensure_winsock()
{
    static const bool started = [] {
        WSADATA data;
        return WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }();
    if (!started)
        ADD_FAILURE() << "WSAStartup failed";
}

inline SOCKET_HANDLE as_handle(NativeSocket socket) { return reinterpret_cast<SOCKET_HANDLE>(socket); }
inline NativeSocket as_native(SOCKET_HANDLE handle) { return reinterpret_cast<NativeSocket>(handle); }

inline Connection tcp_connection()
{
    ensure_winsock();
    Connection c{as_handle(INVALID_SOCKET), INVALID_SOCKET};
    // WSA_FLAG_OVERLAPPED: asock's end is used with overlapped I/O.
    const SOCKET listener = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int length = sizeof(address);
    if (listener == INVALID_SOCKET || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    {
        ADD_FAILURE() << "listener setup failed: " << WSAGetLastError();
        if (listener != INVALID_SOCKET)
            ::closesocket(listener);
        return c;
    }
    c.peer = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
    if (::connect(c.peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        ADD_FAILURE() << "connect failed: " << WSAGetLastError();
    const SOCKET ours = ::accept(listener, nullptr, nullptr);
    ::closesocket(listener);
    const BOOL one = TRUE;
    ::setsockopt(c.peer, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
    ::setsockopt(ours, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
    c.ours = as_handle(ours);
    return c;
}

inline Connection local_connection() { return tcp_connection(); }

inline void close_socket(NativeSocket socket) { ::closesocket(socket); }
inline void close_socket(SOCKET_HANDLE socket) { ::closesocket(as_native(socket)); }

inline bool socket_is_open(NativeSocket socket)
{
    int type = 0;
    int length = sizeof(type);
    return ::getsockopt(socket, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &length) == 0;
}

// Waits until the socket is readable (or writable); false on timeout.
inline bool wait_ready(NativeSocket socket, bool for_write, std::chrono::milliseconds timeout)
{
    WSAPOLLFD pfd{};
    pfd.fd = socket;
    pfd.events = for_write ? POLLWRNORM : POLLRDNORM;
    return WSAPoll(&pfd, 1, static_cast<INT>(timeout.count())) > 0;
}

inline bool write_all(NativeSocket socket, const void* data, size_t size)
{
    const auto* p = static_cast<const char*>(data);
    while (size > 0)
    {
        const int chunk = size > (1u << 30) ? (1 << 30) : static_cast<int>(size);
        const int w = ::send(socket, p, chunk, 0);
        if (w == SOCKET_ERROR && WSAGetLastError() == WSAEWOULDBLOCK)
        {
            wait_ready(socket, true, std::chrono::milliseconds(100));
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
    if (!wait_ready(socket, true, std::chrono::milliseconds(0)))
        return 0;
    const int w = ::send(socket, static_cast<const char*>(data), static_cast<int>(size), 0);
    if (w == SOCKET_ERROR)
        return WSAGetLastError() == WSAEWOULDBLOCK ? 0 : -1;
    return w;
}

inline long read_some(NativeSocket socket, void* buffer, size_t size, std::chrono::milliseconds timeout)
{
    if (!wait_ready(socket, false, timeout))
        return -1;
    const int r = ::recv(socket, static_cast<char*>(buffer), static_cast<int>(size), 0);
    return r == SOCKET_ERROR ? -1 : r;
}

inline std::vector<uint8_t> read_exactly(NativeSocket socket, size_t size, std::chrono::milliseconds timeout)
{
    std::vector<uint8_t> data(size);
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got < size && std::chrono::steady_clock::now() < deadline)
    {
        if (!wait_ready(socket, false, std::chrono::milliseconds(100)))
            continue;
        const size_t want = size - got;
        const int r = ::recv(socket, reinterpret_cast<char*>(data.data() + got), want > (1u << 30) ? (1 << 30) : static_cast<int>(want), 0);
        if (r == 0)
            break;
        if (r == SOCKET_ERROR)
        {
            if (WSAGetLastError() == WSAEWOULDBLOCK)
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
        if (!wait_ready(socket, false, std::chrono::milliseconds(100)))
            continue;
        const int r = ::recv(socket, buffer, sizeof(buffer), 0);
        if (r == 0 || (r == SOCKET_ERROR && WSAGetLastError() != WSAEWOULDBLOCK))
            return true;
    }
    return false;
}

inline bool shutdown_write(NativeSocket socket) { return ::shutdown(socket, SD_SEND) == 0; }

inline void reset_on_close(NativeSocket socket)
{
    linger l{1, 0};
    ::setsockopt(socket, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&l), sizeof(l));
}

inline void set_send_buffer(NativeSocket socket, int bytes) { ::setsockopt(socket, SOL_SOCKET, SO_SNDBUF, reinterpret_cast<const char*>(&bytes), sizeof(bytes)); }
inline void set_receive_buffer(NativeSocket socket, int bytes) { ::setsockopt(socket, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<const char*>(&bytes), sizeof(bytes)); }

inline void set_nonblocking(NativeSocket socket, bool nonblocking)
{
    u_long mode = nonblocking ? 1 : 0;
    ::ioctlsocket(socket, FIONBIO, &mode);
}

inline double process_cpu_seconds()
{
    FILETIME created, exited, kernel, user;
    if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user))
        return 0;
    auto seconds = [](const FILETIME& t) { return static_cast<double>((static_cast<uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime) / 1e7; };
    return seconds(kernel) + seconds(user);
}

inline size_t thread_count()
{
    const HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (snapshot == INVALID_HANDLE_VALUE)
        return 0;
    THREADENTRY32 entry{};
    entry.dwSize = sizeof(entry);
    size_t n = 0;
    const DWORD self = GetCurrentProcessId();
    for (BOOL more = Thread32First(snapshot, &entry); more; more = Thread32Next(snapshot, &entry))
        if (entry.th32OwnerProcessID == self)
            ++n;
    CloseHandle(snapshot);
    return n;
}

}  // namespace asock_test
