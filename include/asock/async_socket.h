/* asock: asynchronous send and receive on a connected stream socket, with completion
   callbacks. The API of the seed (async_socket_win32.md), as plain C.

   Life of a socket: async_socket_create takes ownership of a connected socket handle;
   async_socket_open_async makes it usable; async_socket_send_async and
   async_socket_receive_async start operations whose callbacks run later on a thread of the
   execution engine; async_socket_close completes every pending operation (non-OK) and
   closes the handle; async_socket_destroy frees everything (closing first if needed).
   Non-zero return values are errno values (<errno.h>) on every platform, Windows included.
   The full contract, with requirement IDs, is in docs/requirements/. */
#ifndef ASOCK_ASYNC_SOCKET_H
#define ASOCK_ASYNC_SOCKET_H

#include <stdint.h>

#include "asock/execution_engine.h"
#include "asock/socket_handle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ASYNC_SOCKET* ASYNC_SOCKET_HANDLE;

typedef enum ASYNC_SOCKET_OPEN_RESULT_TAG
{
    ASYNC_SOCKET_OPEN_OK,
    ASYNC_SOCKET_OPEN_ERROR
} ASYNC_SOCKET_OPEN_RESULT;

typedef enum ASYNC_SOCKET_SEND_SYNC_RESULT_TAG
{
    ASYNC_SOCKET_SEND_SYNC_OK,
    ASYNC_SOCKET_SEND_SYNC_ERROR,
    ASYNC_SOCKET_SEND_SYNC_ABANDONED
} ASYNC_SOCKET_SEND_SYNC_RESULT;

typedef enum ASYNC_SOCKET_SEND_RESULT_TAG
{
    ASYNC_SOCKET_SEND_OK,
    ASYNC_SOCKET_SEND_ERROR,
    ASYNC_SOCKET_SEND_ABANDONED
} ASYNC_SOCKET_SEND_RESULT;

typedef enum ASYNC_SOCKET_RECEIVE_RESULT_TAG
{
    ASYNC_SOCKET_RECEIVE_OK,
    ASYNC_SOCKET_RECEIVE_ERROR,
    ASYNC_SOCKET_RECEIVE_ABANDONED
} ASYNC_SOCKET_RECEIVE_RESULT;

typedef void (*ON_ASYNC_SOCKET_OPEN_COMPLETE)(void* context, ASYNC_SOCKET_OPEN_RESULT open_result);
typedef void (*ON_ASYNC_SOCKET_SEND_COMPLETE)(void* context, ASYNC_SOCKET_SEND_RESULT send_result);
typedef void (*ON_ASYNC_SOCKET_RECEIVE_COMPLETE)(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received);

typedef struct ASYNC_SOCKET_BUFFER_TAG
{
    void* buffer;
    uint32_t length;
} ASYNC_SOCKET_BUFFER;

/* Takes ownership of socket_handle (a connected stream socket, blocking or not) and a
   reference on execution_engine. NULL on failure (NULL engine, INVALID_SOCKET, no memory);
   on failure the handle is not taken and no reference is kept. */
ASYNC_SOCKET_HANDLE async_socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle);

/* Closes if open (as async_socket_close), closes the handle if it was never opened, drops the
   engine reference and frees the socket. NULL is ignored. May be called from one of the
   socket's own callbacks. */
void async_socket_destroy(ASYNC_SOCKET_HANDLE async_socket);

/* Opens the socket. Returns 0 and later calls on_open_complete (on an engine thread) with
   ASYNC_SOCKET_OPEN_OK; returns an errno value (and never calls back) for NULL arguments
   (EINVAL), a socket already open or opening (EALREADY), a socket already closed (EBADF), or a
   failure to register the socket (ENOMEM, ENOTSOCK, ...). */
int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context);

/* Closes the socket handle and completes every pending operation exactly once with a non-OK
   result. Returns when no callback of this socket runs or will run, except a callback that
   is itself calling async_socket_close (it may still be finishing). NULL and a socket that is
   not open are ignored. */
void async_socket_close(ASYNC_SOCKET_HANDLE async_socket);

/* Sends every byte of the buffers, in order, as one uninterrupted run of the stream. The
   buffers' memory must stay valid until on_send_complete runs; the array itself may be
   reused as soon as the call returns. ASYNC_SOCKET_SEND_SYNC_OK means the callback will run
   exactly once; ASYNC_SOCKET_SEND_SYNC_ERROR (bad argument, no memory) and
   ASYNC_SOCKET_SEND_SYNC_ABANDONED (socket not open) mean it never will. */
ASYNC_SOCKET_SEND_SYNC_RESULT async_socket_send_async(ASYNC_SOCKET_HANDLE async_socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context);

/* Receives whatever bytes are available (at least one) into the buffers, filled in order,
   and completes with their count. Returns 0 when the callback will run exactly once, an errno
   value when it never will: bad argument (EINVAL), no memory (ENOMEM), socket not open
   (ENOTCONN), or the system's refusal (ECONNRESET, EFAULT, ...). A peer that closed or reset
   completes with ASYNC_SOCKET_RECEIVE_ABANDONED and 0 bytes. */
int async_socket_receive_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context);

/* The enumerator's name ("ASYNC_SOCKET_OPEN_OK", ...), or "UNKNOWN" for a value outside the
   enum. */
const char* ASYNC_SOCKET_OPEN_RESULT_to_string(ASYNC_SOCKET_OPEN_RESULT value);
const char* ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(ASYNC_SOCKET_SEND_SYNC_RESULT value);
const char* ASYNC_SOCKET_SEND_RESULT_to_string(ASYNC_SOCKET_SEND_RESULT value);
const char* ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_RESULT value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_SOCKET_H */
