// Timers on Linux (async_timer.h, detail/timer.h): a handle without a descriptor whose starts are
// operations in the loop's heap of deadlines. A start takes an operation from the per-thread
// pool (no heap in steady state); the loop arms it (O(1)) or disarms the armed one (O(log n)),
// at once on its own thread, else when the posted start or cancel request reaches it.
#include "detail/timer.h"
#include <cerrno>
#include <new>
#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/platform_timer.h"
namespace asock::detail {
namespace {
int post_timer_op(Timer& timer, Op* op) noexcept
{
    if (handle_post(timer, op))
        return 0;
    op_free(op);
    return EBADF;  // destroyed (a use after destroy, or a start racing the destroy)
}

// On the timer's loop thread, when nothing older waits in the loop's lists: the start or cancel
// is carried out now (Loop::start_timer_here). Returns false when it must be posted instead.
// 0 in result, or EBADF for a destroyed timer.
template <typename Action>
bool act_here(Timer& timer, int& result, Action action) noexcept
{
    Loop& loop = *timer.loop;
    if (!loop.can_queue_directly())
        return false;
    std::lock_guard<SmallMutex> lock(timer.mutex);
    result = timer.state == HandleState::open ? 0 : EBADF;
    if (result == 0)
        action(loop);
    return true;
}
}  // namespace
void complete_timer(Op& op, ASYNC_TIMER_RESULT result) noexcept
{
    const auto callback = op.on_timer;
    void* context = op.context;
    op_free(&op);
    callback(context, result);
}
Timer* timer_create(EXECUTION_ENGINE_HANDLE execution_engine) noexcept
{
    Engine& engine = *Engine::from_handle(execution_engine);
    if (inject_fault(FaultPoint::timer_alloc))
        return nullptr;
    auto* timer = new (std::nothrow) Timer(engine, engine.pick_loop());
    if (timer == nullptr)
        return nullptr;
    timer->state = HandleState::open;  // nothing to open: its loop may take starts at once
    engine.inc_ref();
    return timer;
}
int timer_start(Timer& timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* context) noexcept
{
    Op* op = op_alloc(0);
    if (op == nullptr)
        return ENOMEM;
    op->kind = ItemKind::timer;
    op->handle = &timer;
    op->on_timer = on_timer_complete;
    op->context = context;
    timer_node_init(op->timer, deadline_after_ms(delay_ms));
    int result = 0;
    if (!act_here(timer, result, [op](Loop& loop) { loop.start_timer_here(*op); }))
        return post_timer_op(timer, op);
    if (result != 0)
        op_free(op);
    return result;
}
int timer_cancel(Timer& timer) noexcept
{
    int result = 0;
    if (act_here(timer, result, [&timer](Loop& loop) { loop.set_aside_armed(timer); }))
        return result;
    Op* request = op_alloc(0);
    if (request == nullptr)
        return ENOMEM;
    request->kind = ItemKind::cancel_reads;
    request->handle = &timer;
    return post_timer_op(timer, request);
}
void timer_destroy(Timer& timer) noexcept { handle_destroy(timer); }
}  // namespace asock::detail
