// The Windows execution engine: a reference-counted PTP_POOL.
#pragma once

#include <windows.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "asock/execution_engine.h"

namespace asock::detail {

// The engine's timers (timer_win32.cpp): one threadpool timer over a heap of deadlines, made by
// the first timer, closed by the engine when it goes (every timer holds an engine reference).
struct EngineTimers;
void engine_timers_close(EngineTimers& timers) noexcept;

struct Engine
{
    std::atomic<uint32_t> refs{1};
    PTP_POOL pool = nullptr;
    std::mutex timers_mutex;  // guards the making of timers
    EngineTimers* timers = nullptr;

    static Engine* from_handle(EXECUTION_ENGINE_HANDLE handle) noexcept { return reinterpret_cast<Engine*>(handle); }
    EXECUTION_ENGINE_HANDLE handle() noexcept { return reinterpret_cast<EXECUTION_ENGINE_HANDLE>(this); }
};

}  // namespace asock::detail
