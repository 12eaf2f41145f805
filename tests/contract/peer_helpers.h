// Helpers for the tests of peers, transfers and scale: a chain of receives that keeps one
// receive pending until the stream ends, many TCP connections from one listener, and checks
// of the process's descriptors.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "contract/contract_fixture.h"

namespace asock_test {
// A namespace of their own: other helper headers of the suite may use the same names.
inline namespace peer_helpers {

// Destroys an async socket when it goes out of scope (also when an ASSERT leaves the test
// early), so that no callback can reach a test object that is gone. Declare it after the
// objects its callbacks use.
class SocketGuard
{
public:
    explicit SocketGuard(ASYNC_SOCKET_HANDLE socket = nullptr) : socket_(socket) {}
    ~SocketGuard() { reset(); }
    SocketGuard(const SocketGuard&) = delete;
    SocketGuard& operator=(const SocketGuard&) = delete;
    SocketGuard(SocketGuard&& other) noexcept : socket_(other.socket_) { other.socket_ = nullptr; }

    ASYNC_SOCKET_HANDLE get() const { return socket_; }
    void reset(ASYNC_SOCKET_HANDLE socket = nullptr)
    {
        if (socket_ != nullptr)
            async_socket_destroy(socket_);
        socket_ = socket;
    }

private:
    ASYNC_SOCKET_HANDLE socket_;
};

// Closes a descriptor when it goes out of scope.
class FdGuard
{
public:
    explicit FdGuard(int fd = -1) : fd_(fd) {}
    ~FdGuard() { reset(); }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;

    int get() const { return fd_; }
    // Forgets the descriptor without closing it (someone else closes it).
    int release()
    {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1)
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// True when fd is an open descriptor of this process.
inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// The soft limit on open descriptors.
inline rlim_t fd_limit()
{
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 0;
    return limit.rlim_cur;
}

// n TCP connections over loopback from a single listener (one port for all of them, so that
// many connections do not use up ephemeral ports). Both ends blocking, TCP_NODELAY.
inline std::vector<Connection> tcp_connections(size_t n)
{
    std::vector<Connection> connections;
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(listener, 64) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    {
        ADD_FAILURE() << "listener setup failed: " << errno;
        if (listener >= 0)
            ::close(listener);
        return connections;
    }
    const int one = 1;
    for (size_t i = 0; i < n; ++i)
    {
        Connection c;
        c.peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.peer < 0 || ::connect(c.peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        {
            ADD_FAILURE() << "connect " << i << " failed: " << errno;
            if (c.peer >= 0)
                ::close(c.peer);
            break;
        }
        c.ours = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (c.ours < 0)
        {
            ADD_FAILURE() << "accept " << i << " failed: " << errno;
            ::close(c.peer);
            break;
        }
        ::setsockopt(c.peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ::setsockopt(c.ours, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        connections.push_back(c);
    }
    ::close(listener);
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

private:
    std::vector<Entry> entries_;
    mutable std::mutex mutex_;
    std::vector<size_t> order_;
    std::vector<ASYNC_SOCKET_SEND_RESULT> results_;
    Counter done_;
};

}  // namespace peer_helpers
}  // namespace asock_test
