// The one helper header of the tests: engines per backend, counters, byte patterns, the
// records callbacks write to, scope guards for every kind of handle, open-and-wait, and waits
// that always end (every wait has a deadline, so a broken contract fails a test instead of
// hanging the suite). The suites' headers (contract/*_helpers.h, stress/stress_support.h,
// fault/fault_walk.h) add only what their own tests share.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"
#include "support/net.h"

#ifndef _WIN32
#include "asock/execution_engine_linux.h"
#endif

namespace asock_test {

using namespace std::chrono_literals;

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

// The backends the contract suite runs on: io_uring and epoll on Linux, the seed's
// threadpool I/O on Windows.
enum class Backend
{
    io_uring,
    epoll,
    win32,
};

inline const char* backend_name(Backend backend)
{
    switch (backend)
    {
    case Backend::io_uring:
        return "io_uring";
    case Backend::epoll:
        return "epoll";
    case Backend::win32:
        return "win32";
    }
    return "unknown";
}

#ifdef _WIN32

inline std::vector<Backend> platform_backends() { return {Backend::win32}; }
inline bool backend_available(Backend backend) { return backend == Backend::win32; }

// threads: the pool's minimum; no maximum.
inline EXECUTION_ENGINE_HANDLE make_engine(Backend, uint32_t threads = 1)
{
    ensure_winsock();
    EXECUTION_ENGINE_PARAMETERS parameters{threads, 0};
    return execution_engine_create(&parameters);
}

#else

inline std::vector<Backend> platform_backends() { return {Backend::io_uring, Backend::epoll}; }

// ASOCK_REQUIRE_IO_URING=1 says that this machine has io_uring (scripts/test.sh sets it on
// Linux 6.0 or later unless told otherwise, .ci/run always): a test that would skip because
// io_uring cannot be used fails instead, so that a run never passes with the io_uring half of
// the suite skipped. Unset, empty or 0: such tests skip.
inline bool io_uring_required()
{
    const char* value = std::getenv("ASOCK_REQUIRE_IO_URING");
    return value != nullptr && std::strcmp(value, "1") == 0;
}

// Whether io_uring can be used here, by the library's own probe. Every test that skips (or
// leaves out a part) without io_uring asks this: where it cannot be used but is required,
// the running test fails, saying why, whether or not it then skips (a test with a failure
// and a skip counts as failed).
inline bool io_uring_usable()
{
    if (execution_engine_linux_io_uring_available() != 0)
        return true;
    if (io_uring_required())
        ADD_FAILURE() << "io_uring cannot be used on this machine (execution_engine_linux_io_uring_available() is 0: kernel older than 6.0, "
                         "kernel.io_uring_disabled, or seccomp), but ASOCK_REQUIRE_IO_URING=1 requires it: failing instead of skipping";
    return false;
}

inline bool backend_available(Backend backend)
{
    if (backend == Backend::io_uring)
        return io_uring_usable();
    return backend == Backend::epoll;
}

inline const char* backend_name(ASOCK_LINUX_BACKEND backend)
{
    return backend == ASOCK_LINUX_BACKEND_IO_URING ? "io_uring" : "epoll";
}

inline ASOCK_LINUX_BACKEND linux_backend(Backend backend)
{
    return backend == Backend::io_uring ? ASOCK_LINUX_BACKEND_IO_URING : ASOCK_LINUX_BACKEND_EPOLL;
}

// An engine with `threads` loops on the given backend.
inline EXECUTION_ENGINE_HANDLE make_engine(ASOCK_LINUX_BACKEND backend, uint32_t threads = 1)
{
    EXECUTION_ENGINE_PARAMETERS parameters{threads, 0};
    return execution_engine_linux_create(&parameters, backend);
}

inline EXECUTION_ENGINE_HANDLE make_engine(Backend backend, uint32_t threads = 1) { return make_engine(linux_backend(backend), threads); }

#endif

// ---- Records: what one completion reported ----

// What one send completion reported.
struct SendRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_SEND_RESULT> result{ASYNC_SOCKET_SEND_OK};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT send_result)
    {
        auto* self = static_cast<SendRecord*>(context);
        self->result = send_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// What one receive completion reported.
struct ReceiveRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_RECEIVE_RESULT> result{ASYNC_SOCKET_RECEIVE_OK};
    std::atomic<uint32_t> bytes{0};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received)
    {
        auto* self = static_cast<ReceiveRecord*>(context);
        self->result = receive_result;
        self->bytes = bytes_received;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

struct OpenRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_OPEN_RESULT> result{ASYNC_SOCKET_OPEN_ERROR};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
    {
        auto* self = static_cast<OpenRecord*>(context);
        self->result = open_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// What one accept completion reported.
struct AcceptRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_ACCEPT_RESULT> result{ASYNC_SOCKET_ACCEPT_ERROR};
    std::atomic<ASYNC_SOCKET_HANDLE> socket{nullptr};
    std::atomic<int> error{-1};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT accept_result, ASYNC_SOCKET_HANDLE accepted_socket, int accept_error)
    {
        auto* self = static_cast<AcceptRecord*>(context);
        self->result = accept_result;
        self->socket = accepted_socket;
        self->error = accept_error;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// What one connect completion reported.
struct ConnectRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_CONNECT_RESULT> result{ASYNC_SOCKET_CONNECT_ERROR};
    std::atomic<ASYNC_SOCKET_HANDLE> socket{nullptr};
    std::atomic<int> error{-1};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_CONNECT_RESULT connect_result, ASYNC_SOCKET_HANDLE connected_socket, int connect_error)
    {
        auto* self = static_cast<ConnectRecord*>(context);
        self->result = connect_result;
        self->socket = connected_socket;
        self->error = connect_error;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// ---- Scope guards ----

// Destroys an async socket at the end of the scope (also when an ASSERT leaves the test early),
// so that no callback reaches a test object that is gone. Declare it after the records its
// operations write to, so that the socket goes (completing them) before they do.
class OwnedSocket
{
public:
    explicit OwnedSocket(ASYNC_SOCKET_HANDLE socket = nullptr) noexcept : socket_(socket) {}
    ~OwnedSocket() { destroy(); }
    OwnedSocket(const OwnedSocket&) = delete;
    OwnedSocket& operator=(const OwnedSocket&) = delete;
    OwnedSocket(OwnedSocket&& other) noexcept : socket_(other.release()) {}
    ASYNC_SOCKET_HANDLE get() const noexcept { return socket_; }
    void reset(ASYNC_SOCKET_HANDLE socket = nullptr) noexcept
    {
        destroy();
        socket_ = socket;
    }
    void destroy() noexcept { async_socket_destroy(std::exchange(socket_, nullptr)); }
    ASYNC_SOCKET_HANDLE release() noexcept { return std::exchange(socket_, nullptr); }

private:
    ASYNC_SOCKET_HANDLE socket_;
};

// Closes a socket (on Linux: any descriptor) at the end of the scope.
class ScopedSocket
{
public:
    explicit ScopedSocket(NativeSocket socket = kNoSocket) noexcept : socket_(socket) {}
#ifdef _WIN32
    // asock's end of a connection (a SOCKET passed as a SOCKET_HANDLE).
    explicit ScopedSocket(SOCKET_HANDLE handle) noexcept : socket_(as_native(handle)) {}
#endif
    ~ScopedSocket() { close(); }
    ScopedSocket(const ScopedSocket&) = delete;
    ScopedSocket& operator=(const ScopedSocket&) = delete;
    NativeSocket get() const noexcept { return socket_; }
    void close() noexcept { reset(); }
    void reset(NativeSocket socket = kNoSocket) noexcept
    {
        if (socket_ != kNoSocket)
            close_socket(socket_);
        socket_ = socket;
    }
    // Forgets the socket without closing it (someone else closes it).
    NativeSocket release() noexcept { return std::exchange(socket_, kNoSocket); }

private:
    NativeSocket socket_;
};


// Destroys a listener at the end of the scope. Declare it after the records its accepts write
// to, so that the listener goes (completing them) before they do.
class OwnedListener
{
public:
    explicit OwnedListener(ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr) noexcept : listener_(listener) {}
    ~OwnedListener() { destroy(); }
    OwnedListener(const OwnedListener&) = delete;
    OwnedListener& operator=(const OwnedListener&) = delete;
    ASYNC_SOCKET_LISTENER_HANDLE get() const noexcept { return listener_; }
    void destroy() noexcept
    {
        async_socket_listener_destroy(listener_);
        listener_ = nullptr;
    }
    ASYNC_SOCKET_LISTENER_HANDLE release() noexcept
    {
        ASYNC_SOCKET_LISTENER_HANDLE listener = listener_;
        listener_ = nullptr;
        return listener;
    }

private:
    ASYNC_SOCKET_LISTENER_HANDLE listener_;
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

// ---- Open and wait ----

// Creates an async socket on handle and opens it, waiting for the open callback (open records
// the thread it ran on: on Linux the socket's loop thread; on Windows the caller's, see
// kPlatform.open_completes_inside_open).
inline ASYNC_SOCKET_HANDLE create_and_open(EXECUTION_ENGINE_HANDLE engine, SOCKET_HANDLE handle, OpenRecord& open)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, handle);
    EXPECT_NE(nullptr, socket);
    if (socket == nullptr)
        return nullptr;
    EXPECT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
    EXPECT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    return socket;
}

// The same, handing back the thread the open callback ran on through loop_thread.
inline ASYNC_SOCKET_HANDLE create_and_open(EXECUTION_ENGINE_HANDLE engine, SOCKET_HANDLE handle, std::thread::id* loop_thread = nullptr)
{
    OpenRecord open;
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, handle, open);
    if (loop_thread != nullptr)
        *loop_thread = open.thread.load();
    return socket;
}


// ---- Waits that end ----

// How long a callback stays blocked on a gate at most: a gate the test forgets to open makes
// the test fail instead of hanging.
inline constexpr auto kGateTimeout = std::chrono::seconds(10);

// Long enough for "it has not happened yet" checks, short enough to keep the suite fast.
inline constexpr auto kQuiet = std::chrono::milliseconds(150);

// How long a test waits for something that may deadlock before it reports a failure. Well
// below the ctest timeout, well above anything a loaded machine needs.
inline constexpr auto kHangTimeout = std::chrono::seconds(10);

// Waits (bounded) for a condition that other threads make true.
template <typename Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds timeout = kTimeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate())
    {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

// Waits (bounded) until count() is at most expected, as wait_for_thread_count does for
// threads; returns whether it got there.
template <typename Count>
bool wait_for_count(Count count, size_t expected, std::chrono::milliseconds timeout = kTimeout)
{
    return wait_until([&] { return count() <= expected; }, timeout);
}

// Waits (bounded) until the process has at most `expected` threads: an engine's threads
// are joined by the last dec_ref, but one that ends on its own thread exits a moment later.
inline bool wait_for_thread_count(size_t expected, std::chrono::milliseconds timeout = kTimeout)
{
    return wait_until([&] { return thread_count() <= expected; }, timeout);
}

// The thread count right after threads were joined. pthread_join returns when the kernel has
// released the thread's stack, a moment before it drops the thread from /proc/self/task, so
// the count may lag by a few microseconds. This waits up to 20 ms for it to reach `expected`.
// (A 20 ms window could also hide a thread that was never joined but exits on its own at
// once; the join rule itself is also checked by the sanitizers' thread-leak reports.)
inline size_t settled_thread_count(size_t expected)
{
    (void)wait_for_thread_count(expected, std::chrono::milliseconds(20));
    return thread_count();
}

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

// Lets `count` threads go at the same moment, each waiting (bounded, spinning) until all have
// arrived. Not std::latch: with MinGW's libstdc++ (no futex) its wait was seen to miss the
// wake-up and hang under Wine (concurrent_opens_of_one_socket_succeed_exactly_once: one racer
// left in std::latch::arrive_and_wait after the other had arrived and returned).
class StartLine
{
public:
    explicit StartLine(int count) noexcept : waiting_(count) {}
    void arrive_and_wait() noexcept
    {
        waiting_.fetch_sub(1);
        const auto deadline = std::chrono::steady_clock::now() + kGateTimeout;
        while (waiting_.load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
    }

private:
    std::atomic<int> waiting_;
};

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

// Runs calls on threads that never end. Under Wine an overlapped operation whose OVERLAPPED
// has an event (the seed's design) is cancelled when the thread that started it exits
// (docs/requirements/async_socket_win32_notes.md), so a thread that starts an operation a
// test expects to stay pending must outlive it. Idle threads are reused.
class LastingThreads
{
public:
    static void run(std::function<void()> call)
    {
        static LastingThreads* threads = new LastingThreads();  // never destroyed: its threads never end
        threads->submit(std::move(call));
    }

private:
    void submit(std::function<void()> call)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        calls_.push_back(std::move(call));
        if (idle_ == 0)
            std::thread([this] { serve(); }).detach();
        else
            cv_.notify_one();
    }

    void serve()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;)
        {
            ++idle_;
            cv_.wait(lock, [this] { return !calls_.empty(); });
            --idle_;
            std::function<void()> call = std::move(calls_.front());
            calls_.pop_front();
            lock.unlock();
            call();
            lock.lock();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> calls_;
    size_t idle_ = 0;
};

// Runs fn on another thread (one that outlives it) and waits for it at most timeout: false if
// it did not return in time (a hang: the call is left running).
template <typename F>
bool finishes_within(std::chrono::milliseconds timeout, F fn)
{
    auto done = std::make_shared<Counter>();
    auto shared = std::make_shared<F>(std::move(fn));
    LastingThreads::run([done, shared] {
        (*shared)();
        done->add();
    });
    return done->wait_for(1, timeout);
}

}  // namespace asock_test
