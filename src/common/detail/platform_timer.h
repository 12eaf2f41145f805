// The interface between the timer C API (common/async_timer.cpp: argument checks) and a
// platform's timers (linux/timer_linux.cpp: the loop's heap of deadlines; win32/timer_win32.cpp:
// threadpool timers). Arguments are checked: non-NULL timer, engine and callback.
#pragma once
#include <cstdint>
#include "asock/async_timer.h"
namespace asock::detail {
struct Timer;
Timer* timer_create(EXECUTION_ENGINE_HANDLE execution_engine) noexcept;
int timer_start(Timer& timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* context) noexcept;
int timer_cancel(Timer& timer) noexcept;
void timer_destroy(Timer& timer) noexcept;
}  // namespace asock::detail
