// The execution engine behind EXECUTION_ENGINE_HANDLE: a reference count and a fixed set of
// loops, each on its own thread. Sockets are spread over the loops round robin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "detail/loop.h"

namespace asock::detail {

class Engine
{
public:
    // nullptr on invalid parameters, an unusable backend or exhausted resources.
    static Engine* create(const EXECUTION_ENGINE_PARAMETERS* parameters, ASOCK_LINUX_BACKEND backend) noexcept;

    void inc_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void dec_ref() noexcept;

    Loop& pick_loop() noexcept;
    ASOCK_LINUX_BACKEND backend() const noexcept { return backend_; }
    size_t loop_count() const noexcept { return loops_.size(); }
    Loop& loop_at(size_t index) noexcept { return *loops_[index]; }
    // Opt-in low-latency mode: how long a loop polls before it sleeps (0: it does not).
    uint32_t busy_poll_us() const noexcept { return busy_poll_us_.load(std::memory_order_relaxed); }
    void set_busy_poll_us(uint32_t us) noexcept { busy_poll_us_.store(us, std::memory_order_relaxed); }

    static Engine* from_handle(EXECUTION_ENGINE_HANDLE handle) noexcept { return reinterpret_cast<Engine*>(handle); }
    EXECUTION_ENGINE_HANDLE handle() noexcept { return reinterpret_cast<EXECUTION_ENGINE_HANDLE>(this); }

private:
    Engine() = default;
    // fall_back_to_epoll: the default backend chose io_uring; if a ring cannot be set up
    // (no memory, no descriptors), the engine runs on epoll instead.
    bool start(uint32_t loop_count, ASOCK_LINUX_BACKEND backend, bool fall_back_to_epoll) noexcept;
    void stop_all() noexcept;

    std::atomic<uint32_t> refs_{1};
    std::atomic<uint32_t> next_loop_{0};
    std::atomic<uint32_t> busy_poll_us_{0};
    ASOCK_LINUX_BACKEND backend_ = ASOCK_LINUX_BACKEND_DEFAULT;
    std::vector<std::unique_ptr<Loop>> loops_;
};

}  // namespace asock::detail
