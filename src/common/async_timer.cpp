// The timer C API (async_timer.h): argument checks, then the platform (detail/platform_timer.h).
#include "asock/async_timer.h"
#include <cerrno>
#include "detail/platform_timer.h"
using namespace asock::detail;
namespace {
Timer* from_handle(ASYNC_TIMER_HANDLE handle) noexcept { return reinterpret_cast<Timer*>(handle); }
}  // namespace
extern "C" ASYNC_TIMER_HANDLE async_timer_create(EXECUTION_ENGINE_HANDLE execution_engine)
{
    if (execution_engine == nullptr)
        return nullptr;
    return reinterpret_cast<ASYNC_TIMER_HANDLE>(timer_create(execution_engine));
}
extern "C" int async_timer_start(ASYNC_TIMER_HANDLE timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* on_timer_complete_context)
{
    if (timer == nullptr || on_timer_complete == nullptr)
        return EINVAL;
    return timer_start(*from_handle(timer), delay_ms, on_timer_complete, on_timer_complete_context);
}
extern "C" int async_timer_cancel(ASYNC_TIMER_HANDLE timer)
{
    if (timer == nullptr)
        return EINVAL;
    return timer_cancel(*from_handle(timer));
}
extern "C" void async_timer_destroy(ASYNC_TIMER_HANDLE timer)
{
    if (timer != nullptr)
        timer_destroy(*from_handle(timer));
}
