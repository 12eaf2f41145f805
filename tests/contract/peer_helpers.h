// Helpers for the tests of peers, handles, transfers and scale: a chain of receives that keeps
// one receive pending until the stream ends, many TCP connections from one listener, the
// process's open handles, the fixtures of the suites split into a portable and a Linux-only
// file, and the differences between the platforms that kPlatform does not name.
#pragma once

#ifndef _WIN32
#include <fcntl.h>
#include <sys/resource.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "contract/contract_fixture.h"

namespace asock_test {

// Whether asock's handle still refers to an open socket.
inline bool handle_is_open(SOCKET_HANDLE handle) { return socket_is_open(as_native(handle)); }

#ifndef _WIN32
// Linux: true when fd is an open descriptor of this process (of any kind).
inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// Linux: the soft limit on open descriptors.
inline rlim_t fd_limit()
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    return limit.rlim_cur;
}
#endif

// How many more sockets the process may open: Linux's limit on descriptors (RLIMIT_NOFILE)
// less those open; Windows has no such per-process limit.
inline uint64_t sockets_left()
{
#ifdef _WIN32
    return UINT64_MAX;
#else
    const rlim_t limit = fd_limit();
    const size_t open = open_fd_count();
    return limit > open ? static_cast<uint64_t>(limit - open) : 0;
#endif
}

// The handles this process holds: the open descriptors on Linux, the kernel handles (sockets,
// events, threads...) on Windows. (Wine 8's GetProcessHandleCount always reports 0.)
inline size_t open_handle_count()
{
#ifdef _WIN32
    DWORD count = 0;
    if (!GetProcessHandleCount(GetCurrentProcess(), &count))
        return 0;
    return count;
#else
    return open_fd_count();
#endif
}

// The few socket calls that tcp_connections makes differently on each platform.
#ifdef _WIN32
using SocketLength = int;
inline int last_socket_error() { return WSAGetLastError(); }
// WSA_FLAG_OVERLAPPED: asock's end (accepted from the listener, whose attributes it takes) is
// used with overlapped I/O.
inline NativeSocket new_tcp_socket()
{
    ensure_winsock();
    return WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
}
inline NativeSocket accept_connection(NativeSocket listener) { return ::accept(listener, nullptr, nullptr); }
#else
using SocketLength = socklen_t;
inline int last_socket_error() { return errno; }
inline NativeSocket new_tcp_socket() { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }
inline NativeSocket accept_connection(NativeSocket listener) { return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC); }
#endif

inline void set_no_delay(NativeSocket socket)
{
    const int one = 1;
    ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
}

// n TCP connections over loopback from a single listener (one port for all of them, so that
// many connections do not use up ephemeral ports). Both ends blocking, TCP_NODELAY.
inline std::vector<Connection> tcp_connections(size_t n)
{
    std::vector<Connection> connections;
    const NativeSocket listener = new_tcp_socket();
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SocketLength length = sizeof(address);
    if (listener == kNoSocket || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(listener, 64) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    {
        ADD_FAILURE() << "listener setup failed: " << last_socket_error();
        if (listener != kNoSocket)
            close_socket(listener);
        return connections;
    }
    for (size_t i = 0; i < n; ++i)
    {
        Connection c;
        c.peer = new_tcp_socket();
        if (c.peer == kNoSocket || ::connect(c.peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        {
            ADD_FAILURE() << "connect " << i << " failed: " << last_socket_error();
            if (c.peer != kNoSocket)
                close_socket(c.peer);
            break;
        }
        const NativeSocket ours = accept_connection(listener);
        if (ours == kNoSocket)
        {
            ADD_FAILURE() << "accept " << i << " failed: " << last_socket_error();
            close_socket(c.peer);
            break;
        }
        set_no_delay(c.peer);
        set_no_delay(ours);
        c.ours = as_handle(ours);
        connections.push_back(c);
    }
    close_socket(listener);
    return connections;
}

// Buffer sizes that add up to total, count of them (count <= total), varied: a deterministic
// mix of tiny, small and large pieces.
inline std::vector<uint32_t> varied_sizes(size_t total, size_t count, uint32_t seed = 7)
{
    std::vector<uint32_t> sizes(count, 1);
    size_t left = total - count;
    const std::vector<uint8_t> noise = pattern(count, seed);
    uint64_t weight_sum = 0;
    std::vector<uint64_t> weights(count);
    for (size_t i = 0; i < count; ++i)
    {
        // Every fourth buffer stays tiny; the others get shares between 1 and 256.
        weights[i] = (i % 4 == 3) ? 0 : 1 + noise[i];
        weight_sum += weights[i];
    }
    for (size_t i = 0; i < count && weight_sum != 0; ++i)
    {
        const size_t share = static_cast<size_t>(static_cast<uint64_t>(total - count) * weights[i] / weight_sum);
        const size_t give = std::min(share, left);
        sizes[i] += static_cast<uint32_t>(give);
        left -= give;
    }
    sizes[0] += static_cast<uint32_t>(left);  // rounding leftovers
    return sizes;
}

// Keeps receives going on one socket until the stream ends: every completion is recorded, its
// bytes appended (in the order of the buffers, which are scattered over `scatter` separate
// pieces of memory), and, while the result is ASYNC_SOCKET_RECEIVE_OK, the next receive is
// issued from the callback. Ends at the first non-OK result.
class ReceiveChain
{
public:
    struct Completion
    {
        ASYNC_SOCKET_RECEIVE_RESULT result;
        uint32_t bytes;
    };

    explicit ReceiveChain(std::vector<uint32_t> buffer_sizes) : sizes_(std::move(buffer_sizes))
    {
        for (uint32_t size : sizes_)
        {
            storage_.emplace_back(size);
            capacity_ += size;
        }
    }

    explicit ReceiveChain(uint32_t buffer_size) : ReceiveChain(std::vector<uint32_t>{buffer_size}) {}

    // Issues the first receive on socket; false when it was not accepted. The chain must
    // outlive the socket's receives: declare it before the socket's guard.
    bool start(ASYNC_SOCKET_HANDLE socket)
    {
        socket_ = socket;
        return issue();
    }

    // Waits (bounded) for the chain to end.
    bool wait_until_ended(std::chrono::milliseconds timeout = kTimeout) const { return ended_.wait_for(1, timeout); }

    // Waits (bounded) until at least n bytes arrived.
    bool wait_for_bytes(uint64_t n, std::chrono::milliseconds timeout = kTimeout) const { return received_.wait_for(n, timeout); }

    std::vector<uint8_t> data() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return data_;
    }
    std::vector<Completion> completions() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return completions_;
    }
    // A receive that returned non-zero (the chain ended without a completion).
    bool issue_failed() const { return issue_failed_.load(); }
    // A completion reported more bytes than the buffers hold, or an OK result with 0 bytes.
    bool bad_count_seen() const { return bad_count_.load(); }

private:
    bool issue()
    {
        std::vector<ASYNC_SOCKET_BUFFER> buffers;
        for (auto& piece : storage_)
            buffers.push_back(ASYNC_SOCKET_BUFFER{piece.data(), static_cast<uint32_t>(piece.size())});
        if (async_socket_receive_async(socket_, buffers.data(), static_cast<uint32_t>(buffers.size()), &ReceiveChain::callback, this) != 0)
        {
            issue_failed_ = true;
            ended_.add();
            return false;
        }
        return true;
    }

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<ReceiveChain*>(context);
        if (bytes > self->capacity_ || (result == ASYNC_SOCKET_RECEIVE_OK && bytes == 0))
            self->bad_count_ = true;
        {
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->completions_.push_back(Completion{result, bytes});
            if (result == ASYNC_SOCKET_RECEIVE_OK)
            {
                size_t left = std::min<size_t>(bytes, self->capacity_);
                for (size_t i = 0; i < self->storage_.size() && left != 0; ++i)
                {
                    const size_t take = std::min(left, self->storage_[i].size());
                    self->data_.insert(self->data_.end(), self->storage_[i].begin(), self->storage_[i].begin() + static_cast<ptrdiff_t>(take));
                    left -= take;
                }
            }
        }
        if (result == ASYNC_SOCKET_RECEIVE_OK && bytes != 0)
        {
            self->received_.add(bytes);
            self->issue();
        }
        else
        {
            self->ended_.add();
        }
    }

    ASYNC_SOCKET_HANDLE socket_ = nullptr;
    std::vector<uint32_t> sizes_;
    std::vector<std::vector<uint8_t>> storage_;
    size_t capacity_ = 0;
    mutable std::mutex mutex_;
    std::vector<uint8_t> data_;
    std::vector<Completion> completions_;
    std::atomic<bool> issue_failed_{false};
    std::atomic<bool> bad_count_{false};
    Counter received_;
    Counter ended_;
};

// Records send completions in the order their callbacks ran.
class SendLog
{
public:
    struct Entry
    {
        SendLog* log;
        size_t index;
    };

    explicit SendLog(size_t n) : entries_(n)
    {
        for (size_t i = 0; i < n; ++i)
            entries_[i] = Entry{this, i};
    }

    void* context(size_t i) { return &entries_[i]; }

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto* entry = static_cast<Entry*>(context);
        SendLog& self = *entry->log;
        {
            std::lock_guard<std::mutex> lock(self.mutex_);
            self.order_.push_back(entry->index);
            self.results_.push_back(result);
        }
        self.done_.add();
    }

    bool wait_for(size_t n, std::chrono::milliseconds timeout = kTimeout) const { return done_.wait_for(n, timeout); }
    size_t count() const { return static_cast<size_t>(done_.value()); }

    // The indices of the sends in the order of their callbacks, and the results in that order.
    std::vector<size_t> order() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return order_;
    }
    std::vector<ASYNC_SOCKET_SEND_RESULT> results() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return results_;
    }
    // The result of each send, by its index (whatever the order of the callbacks).
    std::vector<ASYNC_SOCKET_SEND_RESULT> results_by_send() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<ASYNC_SOCKET_SEND_RESULT> by_send(entries_.size(), ASYNC_SOCKET_SEND_OK);
        for (size_t i = 0; i < order_.size(); ++i)
            by_send[order_[i]] = results_[i];
        return by_send;
    }

private:
    std::vector<Entry> entries_;
    mutable std::mutex mutex_;
    std::vector<size_t> order_;
    std::vector<ASYNC_SOCKET_SEND_RESULT> results_;
    Counter done_;
};

// --- Differences between the platforms that kPlatform does not name --------------------------

#ifdef _WIN32
// A send on a connection the peer has reset: the seed refuses it at once with
// ASYNC_SOCKET_SEND_SYNC_ABANDONED when WSASend fails at once with WSAECONNRESET (seed
// 42_002), and otherwise completes it with ASYNC_SOCKET_SEND_ERROR (seed 01_067, any failed
// I/O). Linux accepts it and completes it with ASYNC_SOCKET_SEND_ABANDONED (42_002).
inline constexpr bool kSendOnResetConnectionMayBeRefused = true;
inline constexpr ASYNC_SOCKET_SEND_RESULT kSendResultOnResetConnection = ASYNC_SOCKET_SEND_ERROR;
// A receive on a connection the peer has reset: the seed returns non-zero, with no callback,
// when WSARecv fails at once (seed 01_105: WSAECONNRESET is no exception). Linux accepts it
// and completes it with ASYNC_SOCKET_RECEIVE_ABANDONED (02_015).
inline constexpr bool kReceiveOnResetConnectionMayBeRefused = true;
#else
inline constexpr bool kSendOnResetConnectionMayBeRefused = false;
inline constexpr ASYNC_SOCKET_SEND_RESULT kSendResultOnResetConnection = ASYNC_SOCKET_SEND_ABANDONED;
inline constexpr bool kReceiveOnResetConnectionMayBeRefused = false;
#endif

// Whether the tests run under Wine rather than Windows (Wine's ntdll exports
// wine_get_version).
inline bool running_under_wine()
{
#ifdef _WIN32
    const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
    return false;
#endif
}

// The most buffers one send or receive may have on this platform: no limit but UINT32_MAX,
// except under Wine. Wine quirk, measured with a plain Winsock program under Wine 8: Wine
// passes the WSABUF array to one sendmsg/recvmsg, so with more than 1024 buffers (Linux's
// IOV_MAX) an overlapped WSASend fails at once with WSAEMSGSIZE *and* still posts a
// completion (ERROR_MORE_DATA) to the socket's completion port, and an overlapped WSARecv
// completes with ERROR_MORE_DATA and 0 bytes. (With 3000 buffers the send was refused, its
// completion then still ran on the context the library had freed, and the process crashed.)
// Windows documents no such limit for a TCP socket.
inline size_t max_buffers_per_operation() { return running_under_wine() ? 1024 : UINT32_MAX; }

// --- Fixtures of the suites that have a Linux-only file too ---------------------------------
// GoogleTest wants one fixture class for every test of a suite, so the portable file and the
// *_linux_test.cpp file of a suite share these.

class Peers : public Contract
{
protected:
    // Issues one receive and waits for it; records what it got in data.
    // (If the callback does not come, the socket is closed so that it cannot come later.)
    // With refused, a receive that is not accepted sets *refused instead of failing the test.
    void receive_once(ASYNC_SOCKET_HANDLE s, std::vector<uint8_t>& buffer, std::vector<uint8_t>& data, ReceiveRecord& record, bool* refused = nullptr)
    {
        ASYNC_SOCKET_BUFFER b{buffer.data(), static_cast<uint32_t>(buffer.size())};
        const int issued = async_socket_receive_async(s, &b, 1, ReceiveRecord::callback, &record);
        if (refused != nullptr && issued != 0)
        {
            *refused = true;
            return;
        }
        ASSERT_EQ(0, issued);
        if (!record.done.wait_for(1))
        {
            ADD_FAILURE() << "the receive did not complete";
            async_socket_close(s);
        }
        if (record.result == ASYNC_SOCKET_RECEIVE_OK)
            data.insert(data.end(), buffer.begin(), buffer.begin() + record.bytes.load());
    }

    // Sends and waits for the callback; returns its result.
    ASYNC_SOCKET_SEND_RESULT send_and_wait(ASYNC_SOCKET_HANDLE s, void* data, uint32_t length)
    {
        ASYNC_SOCKET_BUFFER b{data, length};
        SendRecord record;
        if (async_socket_send_async(s, &b, 1, SendRecord::callback, &record) != ASYNC_SOCKET_SEND_SYNC_OK)
        {
            ADD_FAILURE() << "the send was not accepted";
            return ASYNC_SOCKET_SEND_OK;
        }
        if (!record.done.wait_for(1))
        {
            ADD_FAILURE() << "the send did not complete";
            async_socket_close(s);
        }
        EXPECT_EQ(1, record.calls.load());
        return record.result.load();
    }

    // send_and_wait for a send on a connection the peer has reset; std::nullopt when it was
    // refused at once with ASYNC_SOCKET_SEND_SYNC_ABANDONED, where the platform may do that
    // (kSendOnResetConnectionMayBeRefused).
    std::optional<ASYNC_SOCKET_SEND_RESULT> send_on_reset_connection(ASYNC_SOCKET_HANDLE s, void* data, uint32_t length)
    {
        if (kSendOnResetConnectionMayBeRefused)
        {
            ASYNC_SOCKET_BUFFER b{data, length};
            SendRecord record;
            const ASYNC_SOCKET_SEND_SYNC_RESULT issued = async_socket_send_async(s, &b, 1, SendRecord::callback, &record);
            if (issued == ASYNC_SOCKET_SEND_SYNC_ABANDONED)
                return std::nullopt;
            if (issued != ASYNC_SOCKET_SEND_SYNC_OK)
            {
                ADD_FAILURE() << "the send was neither accepted nor abandoned: " << issued;
                return ASYNC_SOCKET_SEND_OK;
            }
            if (!record.done.wait_for(1))
            {
                ADD_FAILURE() << "the send did not complete";
                async_socket_close(s);
            }
            EXPECT_EQ(1, record.calls.load());
            return record.result.load();
        }
        return send_and_wait(s, data, length);
    }

    // Makes the peer reset the connection and waits until our side has seen the reset (a
    // pending receive completes), so that later operations meet a reset connection.
    void reset_by_peer_and_wait(ASYNC_SOCKET_HANDLE s, Connection& c)
    {
        // Unread data at the peer also forces a RST on close.
        auto unread = pattern(1000, 3);
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, send_and_wait(s, unread.data(), static_cast<uint32_t>(unread.size())));
        std::vector<uint8_t> buffer(100);
        ASYNC_SOCKET_BUFFER b{buffer.data(), static_cast<uint32_t>(buffer.size())};
        ReceiveRecord record;
        ASSERT_EQ(0, async_socket_receive_async(s, &b, 1, ReceiveRecord::callback, &record));
        reset_on_close(c.peer);
        close_socket(c.peer);
        c.peer = kNoSocket;
        if (!record.done.wait_for(1))
        {
            async_socket_close(s);
            FAIL() << "the pending receive did not complete after the reset";
        }
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record.result.load());
        EXPECT_EQ(0u, record.bytes.load());
    }
};

class Handles : public Contract
{
};

}  // namespace asock_test
