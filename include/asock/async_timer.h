/* asock: timers on an execution engine.

   A timer belongs to one engine (it holds a reference on it until destroyed). Each
   async_timer_start that returns 0 makes the callback run exactly once, on a thread of the
   engine and never inside the call that started it:
     ASYNC_TIMER_FIRED      delay_ms (or more, never less) after the start;
     ASYNC_TIMER_CANCELLED  async_timer_cancel was called, or the timer was started again,
                            before it fired;
     ASYNC_TIMER_ABANDONED  the timer was destroyed before it fired.
   Callbacks of one timer never nest and run one at a time. A start or a cancel racing with the
   firing gets exactly one callback for that start, FIRED or CANCELLED, never both.
   Timers of one engine whose deadlines differ fire in the order of their deadlines; timers
   with the same deadline fire in the order they were started (from one thread).

   Linux: a timer is a node in its loop's heap of deadlines (no kernel object per timer; the
   loop's wait ends at the earliest deadline). Start and cancel allocate nothing in steady
   state (memory of a recycled pool) and cost O(log n) in the number of pending timers.
   Windows: a node in its engine's heap of deadlines, under one threadpool timer per engine
   (CreateThreadpoolTimer on the engine's PTP_POOL); the same costs and order. */
#ifndef ASOCK_ASYNC_TIMER_H
#define ASOCK_ASYNC_TIMER_H

#include <stdint.h>

#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ASYNC_TIMER* ASYNC_TIMER_HANDLE;

typedef enum ASYNC_TIMER_RESULT_TAG
{
    ASYNC_TIMER_FIRED,
    ASYNC_TIMER_CANCELLED,
    ASYNC_TIMER_ABANDONED
} ASYNC_TIMER_RESULT;

typedef void (*ON_ASYNC_TIMER_COMPLETE)(void* context, ASYNC_TIMER_RESULT timer_result);

/* Creates a timer on the engine, not started. NULL for a NULL engine or no memory. */
ASYNC_TIMER_HANDLE async_timer_create(EXECUTION_ENGINE_HANDLE execution_engine);

/* Starts the timer: on_timer_complete runs once, delay_ms after this call (0: as soon as the
   engine can), unless cancelled or destroyed first. A timer that is already started is
   started again: the earlier start completes ASYNC_TIMER_CANCELLED (unless it fired first).
   May be called from any thread, including the timer's own callback.
   Returns 0 when the callback will run exactly once; non-zero (and never calls back) for a NULL
   timer or callback (EINVAL), no memory (ENOMEM), or a timer being destroyed (EBADF: a call from
   its own callback during async_timer_destroy). */
int async_timer_start(ASYNC_TIMER_HANDLE timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* on_timer_complete_context);

/* Cancels the pending start, if any: its callback runs with ASYNC_TIMER_CANCELLED, unless it
   fired first (then it ran, or runs, with ASYNC_TIMER_FIRED). Never calls back inside this call.
   A cancel with nothing pending does nothing. Returns 0, or EINVAL for NULL, ENOMEM when the
   request cannot be made (then nothing changed), EBADF for a timer being destroyed. Any thread. */
int async_timer_cancel(ASYNC_TIMER_HANDLE timer);

/* Completes a pending start with ASYNC_TIMER_ABANDONED, drops the engine reference and frees
   the timer. Returns when no callback of the timer runs or will run, except the callback that
   is itself calling destroy (it may be called from the timer's own callback). NULL is ignored. */
void async_timer_destroy(ASYNC_TIMER_HANDLE timer);

/* The enumerator's name, or "UNKNOWN" for a value outside the enum. */
const char* ASYNC_TIMER_RESULT_to_string(ASYNC_TIMER_RESULT value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_TIMER_H */
