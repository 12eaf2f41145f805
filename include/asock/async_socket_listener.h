/* asock: getting connected sockets. A listener accepts TCP connections on an address and port;
   async_socket_connect_async connects to one. Both hand over an ASYNC_SOCKET_HANDLE that is
   already open (no async_socket_open_async needed) on the same execution engine, with
   TCP_NODELAY set; the receiver of the callback owns it and destroys it with
   async_socket_destroy.

   Addresses are numeric IPv4 ("127.0.0.1", "0.0.0.0") or IPv6 ("::1", "::") strings; no name
   is resolved. An IPv6 listener takes IPv6 connections only (IPV6_V6ONLY), so that "0.0.0.0"
   and "::" can listen on the same port side by side.

   Callbacks run on a thread of the engine, never inside the call that started the operation,
   one at a time per listener. The same rules as async_socket.h hold: every accept or connect
   that was started (the call returned 0) completes exactly once. The errors are errno values
   on Linux and on Windows (where asock maps the Winsock errors to them); the differences on
   Windows are in docs/requirements/async_socket_win32_notes.md. */
#ifndef ASOCK_ASYNC_SOCKET_LISTENER_H
#define ASOCK_ASYNC_SOCKET_LISTENER_H

#include <stdint.h>

#include "asock/async_socket.h"
#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ASYNC_SOCKET_LISTENER* ASYNC_SOCKET_LISTENER_HANDLE;

typedef enum ASYNC_SOCKET_LISTENER_CREATE_RESULT_TAG
{
    ASYNC_SOCKET_LISTENER_CREATE_OK,
    /* NULL engine, address or listener, an address that is not a numeric IPv4 or IPv6 address,
       a negative backlog (error: EINVAL). */
    ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT,
    /* Another socket listens on the address and port (EADDRINUSE). */
    ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE,
    /* The address is not one of this machine's (EADDRNOTAVAIL), or its family is not
       available here, such as IPv6 on a host without it (EAFNOSUPPORT). */
    ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_NOT_AVAILABLE,
    /* The port is privileged (below 1024 on Linux) and the process may not use it (EACCES). */
    ASYNC_SOCKET_LISTENER_CREATE_ACCESS_DENIED,
    /* Anything else, such as no memory or no descriptors left (EMFILE, ENOMEM, ...). */
    ASYNC_SOCKET_LISTENER_CREATE_ERROR
} ASYNC_SOCKET_LISTENER_CREATE_RESULT;

typedef enum ASYNC_SOCKET_ACCEPT_RESULT_TAG
{
    ASYNC_SOCKET_ACCEPT_OK,
    /* The system failed the accept (error: EMFILE, ENFILE, ENOBUFS, ENOMEM, ...). The
       listener stays usable; after running out of descriptors, wait before accepting again. */
    ASYNC_SOCKET_ACCEPT_ERROR,
    /* The listener was closed before a connection came. */
    ASYNC_SOCKET_ACCEPT_ABANDONED,
    /* async_socket_listener_cancel_accepts ended it (asock/async_socket_deadline.h); the
       listener still listens. */
    ASYNC_SOCKET_ACCEPT_CANCELLED
} ASYNC_SOCKET_ACCEPT_RESULT;

typedef enum ASYNC_SOCKET_CONNECT_RESULT_TAG
{
    ASYNC_SOCKET_CONNECT_OK,
    /* Nothing listens on the port (ECONNREFUSED). */
    ASYNC_SOCKET_CONNECT_REFUSED,
    /* No answer within timeout_ms, or within the system's own limit (ETIMEDOUT). */
    ASYNC_SOCKET_CONNECT_TIMEOUT,
    /* No route to the network or the host (ENETUNREACH, EHOSTUNREACH). */
    ASYNC_SOCKET_CONNECT_UNREACHABLE,
    /* Anything else; the callback's error tells what. */
    ASYNC_SOCKET_CONNECT_ERROR,
    /* Its cancellation was cancelled (ECANCELED): async_socket_connect_cancellable_async,
       async_socket_connect_by_name_async. */
    ASYNC_SOCKET_CONNECT_CANCELLED,
    /* async_socket_connect_by_name_async: the name has no address (ENOENT). */
    ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND
} ASYNC_SOCKET_CONNECT_RESULT;

/* accepted_socket: on ASYNC_SOCKET_ACCEPT_OK, the new connection, open and owned by the
   callback's receiver; NULL otherwise. error: 0 on OK and ABANDONED, else why it failed. */
typedef void (*ON_ASYNC_SOCKET_ACCEPT_COMPLETE)(void* context, ASYNC_SOCKET_ACCEPT_RESULT accept_result, ASYNC_SOCKET_HANDLE accepted_socket, int error);

/* connected_socket: on ASYNC_SOCKET_CONNECT_OK, the connection, open and owned by the
   callback's receiver; NULL otherwise. error: 0 on OK, else ECONNREFUSED, ETIMEDOUT,
   ENETUNREACH, EHOSTUNREACH or what made the connect fail. */
typedef void (*ON_ASYNC_SOCKET_CONNECT_COMPLETE)(void* context, ASYNC_SOCKET_CONNECT_RESULT connect_result, ASYNC_SOCKET_HANDLE connected_socket, int error);

/* Creates a TCP listener: a socket bound to address:port (SO_REUSEADDR, so that a port in
   TIME_WAIT can be reused; not SO_REUSEPORT) that listens. Port 0 lets the system pick a free
   port (see async_socket_listener_get_port). backlog: how many connections may wait to be
   accepted (listen's backlog, capped by the system); 0 means the system's maximum (SOMAXCONN).
   On ASYNC_SOCKET_LISTENER_CREATE_OK, *listener is the listener, which holds a reference on
   the engine until it is destroyed; otherwise *listener is NULL (when listener is not NULL).
   error (may be NULL) receives the errno value behind the result, 0 on OK. */
ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error);

/* The same, spread over the engine's loop threads (Linux): one listening socket per loop, all
   bound to address:port with SO_REUSEPORT, so that the system spreads incoming connections over
   the loops (by a hash of the connection's addresses and ports) and each connection is served
   by the loop that accepted it, with no hand-over between threads. With one loop it is one
   socket. On Windows (one threadpool, no loops) it is async_socket_listener_create.
   The handle works as any listener's: get_port, close, destroy, cancel_accepts act on every
   socket. Each accept waits on one of the sockets: an accept started from an accept callback
   waits on the socket of that callback (so a server that starts the next accept from each
   callback keeps the accepts where they were), any other accept on the sockets in turn. A
   connection therefore waits until an accept is pending on the socket the system gave it to:
   keep at least one accept pending per loop (as many as the engine's threads, or more). Any process of the same user can join the port with SO_REUSEPORT too (and receive
   some of its connections): use it on ports that are yours. */
ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create_per_loop(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error);

/* The port the listener is bound to (the one the system picked for port 0); 0 for NULL. */
uint16_t async_socket_listener_get_port(ASYNC_SOCKET_LISTENER_HANDLE listener);

/* Accepts one connection. Returns 0 when on_accept_complete will run exactly once: with
   ASYNC_SOCKET_ACCEPT_OK and the new socket when a connection comes, with
   ASYNC_SOCKET_ACCEPT_ABANDONED when the listener is closed first. Returns non-zero (and never
   calls back) for NULL arguments (EINVAL), no memory (ENOMEM) or a closed listener (EBADF).
   Any number of accepts may be pending; connections go to them in the order of the calls.
   The new socket may belong to another loop thread of the engine than the listener (loops are
   assigned round robin); its own callbacks run there. */
int async_socket_listener_accept_async(ASYNC_SOCKET_LISTENER_HANDLE listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* on_accept_complete_context);

/* Stops listening: closes the listening socket and completes every pending accept exactly
   once with ASYNC_SOCKET_ACCEPT_ABANDONED. Returns when no callback of this listener runs or
   will run, except a callback that is itself calling async_socket_listener_close (it may still
   be finishing); it may be called from any callback. Connections that were waiting to be
   accepted are reset by the system. NULL and a closed listener are ignored. */
void async_socket_listener_close(ASYNC_SOCKET_LISTENER_HANDLE listener);

/* Closes (as async_socket_listener_close), drops the engine reference and frees the listener.
   NULL is ignored. May be called from the listener's own accept callback. Sockets it accepted
   are not affected. */
void async_socket_listener_destroy(ASYNC_SOCKET_LISTENER_HANDLE listener);

/* Connects to address:port. Returns 0 when on_connect_complete will run exactly once (on a
   thread of the engine), at the latest about timeout_ms after the call; returns non-zero (an
   errno value) and never calls back for a NULL engine, address or callback, an address that is
   not a numeric IPv4 or IPv6 address, timeout_ms 0 (EINVAL), or when the socket cannot be made
   (EMFILE, ENOMEM, EAFNOSUPPORT, ...).
   This connect cannot be cancelled (async_socket_connect_cancellable_async can): timeout_ms
   bounds it. Until its callback
   has returned it holds a reference on the engine, so an engine whose application reference
   is dropped while a connect is pending stops only after that callback. */
int async_socket_connect_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context);

/* The enumerator's name, or "UNKNOWN" for a value outside the enum. */
const char* ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(ASYNC_SOCKET_LISTENER_CREATE_RESULT value);
const char* ASYNC_SOCKET_ACCEPT_RESULT_to_string(ASYNC_SOCKET_ACCEPT_RESULT value);
const char* ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_RESULT value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_SOCKET_LISTENER_H */
