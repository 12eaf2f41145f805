// Helpers shared by the tests: engines per backend, counters, byte patterns, and waits that
// always end (every wait has a deadline, so a broken contract fails a test instead of
// hanging the suite).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asock/async_socket.h"
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

}  // namespace asock_test
