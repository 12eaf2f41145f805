// Helpers of the seed contract tests (create/destroy, open, close, send, receive and
// completions): scope guards, gates that blocked callbacks wait on, a background call the
// test can wait for with a deadline, and what the peer sees of the connection.
#pragma once

#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "contract/contract_fixture.h"

namespace asock_test::seed {

// How long a callback stays blocked on a gate at most: a gate the test forgets to open makes
// the test fail instead of hanging.
inline constexpr auto kGateTimeout = std::chrono::seconds(10);

// Long enough for "it has not happened yet" checks, short enough to keep the suite fast.
inline constexpr auto kQuiet = std::chrono::milliseconds(150);

// A one-shot gate.
class Gate
{
public:
    void open()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds timeout = kGateTimeout)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return open_; });
    }
    bool is_open() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return open_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Closes a descriptor at the end of the scope.
class Fd
{
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    ~Fd() { close(); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return fd_; }
    void close() noexcept
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Destroys an async socket at the end of the scope. Declare it after the records its
// operations write to, so that the socket goes (completing them) before they do.
class OwnedSocket
{
public:
    explicit OwnedSocket(ASYNC_SOCKET_HANDLE socket = nullptr) noexcept : socket_(socket) {}
    ~OwnedSocket() { destroy(); }
    OwnedSocket(const OwnedSocket&) = delete;
    OwnedSocket& operator=(const OwnedSocket&) = delete;
    ASYNC_SOCKET_HANDLE get() const noexcept { return socket_; }
    void reset(ASYNC_SOCKET_HANDLE socket) noexcept
    {
        destroy();
        socket_ = socket;
    }
    void destroy() noexcept { async_socket_destroy(std::exchange(socket_, nullptr)); }
    ASYNC_SOCKET_HANDLE release() noexcept { return std::exchange(socket_, nullptr); }

private:
    ASYNC_SOCKET_HANDLE socket_;
};

// Drops an engine reference at the end of the scope.
class OwnedEngine
{
public:
    explicit OwnedEngine(EXECUTION_ENGINE_HANDLE engine = nullptr) noexcept : engine_(engine) {}
    ~OwnedEngine() { release(); }
    OwnedEngine(const OwnedEngine&) = delete;
    OwnedEngine& operator=(const OwnedEngine&) = delete;
    EXECUTION_ENGINE_HANDLE get() const noexcept { return engine_; }
    void release() noexcept { execution_engine_dec_ref(std::exchange(engine_, nullptr)); }

private:
    EXECUTION_ENGINE_HANDLE engine_;
};

// Creates an async socket on fd and opens it, waiting for the open callback.
inline ASYNC_SOCKET_HANDLE create_and_open(EXECUTION_ENGINE_HANDLE engine, int fd, OpenRecord& open)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, fd);
    EXPECT_NE(nullptr, socket);
    if (socket == nullptr)
        return nullptr;
    EXPECT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
    EXPECT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    return socket;
}

inline ASYNC_SOCKET_HANDLE create_and_open(EXECUTION_ENGINE_HANDLE engine, int fd)
{
    OpenRecord open;
    return create_and_open(engine, fd, open);
}

// One call made on another thread; the test waits for its end with a deadline. A call that
// never returns (a broken contract) makes the test fail and its thread is left behind.
class Background
{
public:
    explicit Background(std::function<void()> call) : state_(std::make_shared<State>())
    {
        thread_ = std::thread([state = state_, call = std::move(call)] {
            call();
            state->finished.store(true);
            state->done.add();
        });
    }
    ~Background() { join(); }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    bool finished() const { return state_->finished.load(); }
    bool wait_for(std::chrono::milliseconds timeout = kTimeout) const { return state_->done.wait_for(1, timeout); }
    // Joins if the call ends in time; otherwise records a failure and abandons the thread.
    void join()
    {
        if (!thread_.joinable())
            return;
        if (wait_for())
        {
            thread_.join();
            return;
        }
        ADD_FAILURE() << "a call made in the background never returned";
        thread_.detach();
    }

private:
    struct State
    {
        std::atomic<bool> finished{false};
        Counter done;
    };
    std::shared_ptr<State> state_;
    std::thread thread_;
};

// Waits (bounded) for a condition that other threads make true.
template <typename Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds timeout = kTimeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate())
    {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

inline void ignore_receive(void*, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t) {}

// Waits (bounded) until a close has switched the socket out of OPEN: probes it with receives,
// which are accepted (and later abandoned by the close) while it is open. Only for sockets
// whose peer sends nothing meanwhile.
inline bool wait_until_not_open(ASYNC_SOCKET_HANDLE socket, std::chrono::milliseconds timeout = kTimeout)
{
    static uint8_t probe_buffer[16];
    return wait_until(
        [&] {
            ASYNC_SOCKET_BUFFER buffer{probe_buffer, sizeof(probe_buffer)};
            return async_socket_receive_async(socket, &buffer, 1, ignore_receive, nullptr) != 0;
        },
        timeout);
}

// Reads and drops whatever the peer still receives until the connection ends (end of stream or
// reset): true when it ends before the timeout.
inline bool peer_reaches_end(int fd, std::chrono::milliseconds timeout = kTimeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<uint8_t> sink(64 * 1024);
    for (;;)
    {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return false;
        const ssize_t n = ::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
        {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return errno == ECONNRESET;
        }
    }
}

// True when the peer has something to read (data or the end of the connection) within the
// timeout.
inline bool peer_has_news(int fd, std::chrono::milliseconds timeout)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

// Whether the descriptor refers to an open file in this process.
inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether a thread of this process, named by its kernel id, still exists.
inline bool thread_exists(pid_t tid)
{
    const std::string path = "/proc/self/task/" + std::to_string(tid);
    return ::access(path.c_str(), F_OK) == 0;
}

// An anonymous mapping of one page with the given protection.
class Page
{
public:
    explicit Page(int protection)
    {
        size_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
        {
            ADD_FAILURE() << "mmap failed: " << errno;
            return;
        }
        std::memset(p, 0x5a, size_);
        if (::mprotect(p, size_, protection) != 0)
            ADD_FAILURE() << "mprotect failed: " << errno;
        data_ = p;
    }
    ~Page()
    {
        if (data_ != nullptr)
            ::munmap(data_, size_);
    }
    Page(const Page&) = delete;
    Page& operator=(const Page&) = delete;
    void* data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }

private:
    void* data_ = nullptr;
    size_t size_ = 0;
};

// Makes sure the loop of a one-loop engine has finished whatever it was doing: a socket
// opened now is only called back once the loop has come round to its inbox again.
inline void sync_with_loop(EXECUTION_ENGINE_HANDLE engine)
{
    Connection c = local_connection();
    OpenRecord open;
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, c.ours, open);
    async_socket_destroy(socket);
    ::close(c.peer);
}

// Sends a few bytes through socket and receives a few back: true when both arrive intact.
inline bool round_trip(ASYNC_SOCKET_HANDLE socket, int peer)
{
    const auto out = pattern(300, 77);
    ASYNC_SOCKET_BUFFER send_buffer{const_cast<uint8_t*>(out.data()), static_cast<uint32_t>(out.size())};
    SendRecord sent;
    if (async_socket_send_async(socket, &send_buffer, 1, SendRecord::callback, &sent) != ASYNC_SOCKET_SEND_SYNC_OK)
        return false;
    if (!sent.done.wait_for(1))
    {
        async_socket_close(socket);  // completes the send before its record goes
        return false;
    }
    const bool send_ok = sent.result.load() == ASYNC_SOCKET_SEND_OK && read_exactly(peer, out.size()) == out;

    std::vector<uint8_t> in(out.size());
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    if (async_socket_receive_async(socket, &receive_buffer, 1, ReceiveRecord::callback, &received) != 0)
        return false;
    if (!write_all(peer, out.data(), 10) || !received.done.wait_for(1))
    {
        async_socket_close(socket);  // completes the receive before its record goes
        return false;
    }
    const bool receive_ok =
        received.result.load() == ASYNC_SOCKET_RECEIVE_OK && received.bytes.load() == 10 && std::equal(in.begin(), in.begin() + 10, out.begin());
    return send_ok && receive_ok;
}

}  // namespace asock_test::seed
