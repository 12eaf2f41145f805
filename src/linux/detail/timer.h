// A timer (async_timer.h) on Linux: a handle without a descriptor. Each start is an operation
// (ItemKind::timer) whose deadline sits in the loop's heap; the armed one is the handle's read
// in flight. Starts and cancels from other threads go through the loop's inbox; on the loop's
// own thread (when nothing older waits) they arm and disarm at once. Either way what they end
// completes at the top of the loop, never inside the call.
#pragma once
#include "detail/handle.h"
namespace asock::detail {
struct Timer : Handle
{
    Timer(Engine& e, Loop& l) noexcept : Handle(HandleKind::timer, e, l, -1) {}
};
// Completes a timer's start (loop thread, inside a HandleScope of the timer).
void complete_timer(Op& op, ASYNC_TIMER_RESULT result) noexcept;
}  // namespace asock::detail
