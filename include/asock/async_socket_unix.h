/* asock: UNIX domain stream sockets. The listener and the sockets are the same objects as for
   TCP (asock/async_socket_listener.h): accept, send, receive, close and destroy work alike.

   path: a file system path (at most 107 bytes), or, on Linux, "@name" for the abstract
   namespace (the '@' stands for the leading NUL byte; no file is made). A longer path is
   refused (EINVAL), never cut short.

   Linux: supported. Windows: AF_UNIX exists since Windows 10 1803, but Wine does not run it
   (docs/requirements/async_socket_win32_notes.md); there both functions fail with
   EAFNOSUPPORT. */
#ifndef ASOCK_ASYNC_SOCKET_UNIX_H
#define ASOCK_ASYNC_SOCKET_UNIX_H

#include <stdint.h>

#include "asock/async_cancellation.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a listener on a UNIX socket path. The file must not exist
   (ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE if it does: a stale file of an earlier run is
   the caller's to remove); async_socket_listener_destroy removes the file it made (a closed
   listener that is not destroyed yet keeps it). backlog as for
   async_socket_listener_create. async_socket_listener_get_port gives 0. */
ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error);

/* Connects to a UNIX socket path, as async_socket_connect_cancellable_async does to a TCP
   address (REFUSED when nothing listens there or the file does not exist (ENOENT)).
   cancellation may be NULL. */
int async_socket_connect_unix_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_SOCKET_UNIX_H */
