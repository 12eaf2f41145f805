// The Windows execution engine: a reference-counted PTP_POOL.
#pragma once

#include <windows.h>

#include <atomic>
#include <cstdint>

#include "asock/execution_engine.h"

namespace asock::detail {

struct Engine
{
    std::atomic<uint32_t> refs{1};
    PTP_POOL pool = nullptr;

    static Engine* from_handle(EXECUTION_ENGINE_HANDLE handle) noexcept { return reinterpret_cast<Engine*>(handle); }
    EXECUTION_ENGINE_HANDLE handle() noexcept { return reinterpret_cast<EXECUTION_ENGINE_HANDLE>(this); }
};

}  // namespace asock::detail
