/* asock: deadlines and cancellation for socket operations.

   A receive may be given a timeout, and a socket's pending receives (a listener's pending
   accepts) may be cancelled; either way the socket stays open and usable, and the operation
   completes exactly once with a result that tells a timeout or a cancel apart from a peer that
   left. Data is never lost: a receive that got bytes before its deadline or cancel completes
   OK with them.

   A send is never cancelled once handed to the library: a send ended half way would leave a
   gap in the stream. To bound a send that a peer never drains, start a timer
   (asock/async_timer.h) and close the socket when it fires: the send then completes (ABANDONED
   on Linux, ERROR on Windows, as the seed says) and the socket is unusable, as it must be.

   A connect may be given a cancellation (asock/async_cancellation.h). */
#ifndef ASOCK_ASYNC_SOCKET_DEADLINE_H
#define ASOCK_ASYNC_SOCKET_DEADLINE_H

#include <stdint.h>

#include "asock/async_cancellation.h"
#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ASYNC_SOCKET_RECEIVE_TIMED_RESULT_TAG
{
    /* bytes_received > 0 bytes arrived. */
    ASYNC_SOCKET_RECEIVE_TIMED_OK,
    /* The system failed the receive (the connection was reset, say). */
    ASYNC_SOCKET_RECEIVE_TIMED_ERROR,
    /* The socket was closed (async_socket_close), or the peer closed the connection (0 bytes),
       on Linux and on Windows alike. */
    ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED,
    /* No byte arrived within timeout_ms. The socket stays open: receive again at will. */
    ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT,
    /* async_socket_cancel_receives ended it. The socket stays open. */
    ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED
} ASYNC_SOCKET_RECEIVE_TIMED_RESULT;

typedef void (*ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE)(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT receive_result, uint32_t bytes_received);

/* async_socket_receive_async with a deadline: when no byte has arrived timeout_ms after this
   call, the receive completes ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT (never earlier). timeout_ms 0
   means no deadline (the receive can still be cancelled). It keeps its place among the
   socket's receives (they complete in the order they were started, except that one whose
   deadline passes ends then). The arguments, return values and buffer rules are those of
   async_socket_receive_async. */
int async_socket_receive_timed_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t timeout_ms, ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_complete, void* on_receive_complete_context);

/* Cancels every receive of the socket pending at this call (not those started after it):
   each completes once, those that did not get bytes first with
   ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED (receives started with async_socket_receive_async, whose
   enum has no such value, with ASYNC_SOCKET_RECEIVE_ABANDONED). Never calls back inside this
   call. The socket stays open. Any thread.
   Returns 0 (also with nothing pending); EINVAL for NULL, EBADF for a socket that is not
   open, ENOMEM when the request cannot be made (then nothing changed). */
int async_socket_cancel_receives(ASYNC_SOCKET_HANDLE async_socket);

/* Cancels every accept of the listener pending at this call: each completes once, with
   ASYNC_SOCKET_ACCEPT_CANCELLED unless a connection came first. The listener keeps listening
   (connections that arrive wait in the backlog for the next accept). Returns 0, EINVAL for
   NULL, EBADF for a closed listener, ENOMEM. */
int async_socket_listener_cancel_accepts(ASYNC_SOCKET_LISTENER_HANDLE listener);

/* async_socket_connect_async that async_cancellation_cancel(cancellation) can end early: it
   then completes ASYNC_SOCKET_CONNECT_CANCELLED (error ECANCELED) unless it connected first
   (then the callback owns the socket as usual). cancellation may be NULL (a plain connect). */
int async_socket_connect_cancellable_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context);

/* The enumerator's name, or "UNKNOWN" for a value outside the enum. */
const char* ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(ASYNC_SOCKET_RECEIVE_TIMED_RESULT value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_SOCKET_DEADLINE_H */
