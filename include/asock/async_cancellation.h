/* asock: cancellation of operations that have no handle of their own while they run (a
   connect, a name lookup, a connect by name).

   A cancellation is made by the caller and passed to the operations it may want to end early
   (any number of them, on any engines). async_cancellation_cancel ends every operation started
   with it that has not completed yet: each completes exactly once, with its CANCELLED result,
   unless it completed otherwise first. An operation started with a cancellation that is already
   cancelled completes CANCELLED (through its callback, as always: never inside the call).

   A cancellation is reference counted: every operation started with it holds a reference until
   its callback has returned, so async_cancellation_destroy may be called at any time after the
   last start (the object goes when the last operation lets go). All functions may be called
   from any thread, including callbacks. */
#ifndef ASOCK_ASYNC_CANCELLATION_H
#define ASOCK_ASYNC_CANCELLATION_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ASYNC_CANCELLATION* ASYNC_CANCELLATION_HANDLE;

/* A new cancellation, not cancelled. NULL when out of memory. */
ASYNC_CANCELLATION_HANDLE async_cancellation_create(void);

/* Cancels: the operations started with it end early (see above). Returns after each of them
   was told to end (not after their callbacks ran). Cancelling twice does nothing more. NULL is
   ignored. */
void async_cancellation_cancel(ASYNC_CANCELLATION_HANDLE cancellation);

/* True once async_cancellation_cancel was called; false for NULL. */
bool async_cancellation_is_cancelled(ASYNC_CANCELLATION_HANDLE cancellation);

/* Drops the caller's reference. NULL is ignored. */
void async_cancellation_destroy(ASYNC_CANCELLATION_HANDLE cancellation);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_CANCELLATION_H */
