/* asock: name resolution, and connecting to a host by name (Happy Eyeballs, RFC 8305).

   async_resolve_async looks a host and a service up without blocking the caller and without a
   thread per lookup: the system's resolver (getaddrinfo: /etc/hosts, DNS, and whatever
   nsswitch.conf names) runs on a small, bounded pool of helper threads shared by the process
   (Linux and Windows alike), and the answer is delivered on a thread of the engine. Every
   lookup that was started (the call returned 0) completes exactly once, never inside the call.
   A lookup ended by its timeout or its cancellation completes at once; the system call it was
   waiting for finishes on its helper thread and its answer is dropped.
   (Why not c-ares: see docs/design.md, "Name resolution".) */
#ifndef ASOCK_ASYNC_RESOLVE_H
#define ASOCK_ASYNC_RESOLVE_H

#include <stdint.h>

#include "asock/async_cancellation.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ASYNC_ADDRESS_FAMILY_TAG
{
    ASYNC_ADDRESS_FAMILY_ANY,
    ASYNC_ADDRESS_FAMILY_IPV4,
    ASYNC_ADDRESS_FAMILY_IPV6
} ASYNC_ADDRESS_FAMILY;

/* One address of an answer. address is the numeric text that async_socket_connect_async and
   async_socket_listener_create take ("127.0.0.1", "::1"). */
typedef struct ASYNC_RESOLVED_ADDRESS_TAG
{
    ASYNC_ADDRESS_FAMILY family; /* IPV4 or IPV6 */
    uint16_t port;               /* host byte order */
    char address[46];            /* NUL-terminated */
} ASYNC_RESOLVED_ADDRESS;

typedef enum ASYNC_RESOLVE_RESULT_TAG
{
    /* address_count >= 1 addresses, in the order the system prefers them (RFC 6724). */
    ASYNC_RESOLVE_OK,
    /* The name does not exist, or has no address of the family asked for (ENOENT). */
    ASYNC_RESOLVE_NOT_FOUND,
    /* No answer within timeout_ms (ETIMEDOUT). */
    ASYNC_RESOLVE_TIMEOUT,
    /* The cancellation was cancelled first (ECANCELED). */
    ASYNC_RESOLVE_CANCELLED,
    /* Anything else: a temporary failure of the name servers (EAGAIN), a service name the system
       does not know (EINVAL), no memory (ENOMEM), ... */
    ASYNC_RESOLVE_ERROR
} ASYNC_RESOLVE_RESULT;

/* addresses: valid only until the callback returns; NULL (address_count 0) unless OK. error:
   0 on OK, else the errno value named at the result. */
typedef void (*ON_ASYNC_RESOLVE_COMPLETE)(void* context, ASYNC_RESOLVE_RESULT resolve_result, const ASYNC_RESOLVED_ADDRESS* addresses, uint32_t address_count, int error);

/* Looks host up (a name, or a numeric address, which is returned as it is). service: a port
   number ("443") or a service name ("https"); NULL means port 0. family: which addresses are
   wanted. timeout_ms: 0 means no limit but the system's own. cancellation: NULL or a
   cancellation (asock/async_cancellation.h) that ends the lookup with ASYNC_RESOLVE_CANCELLED.
   Returns 0 when on_resolve_complete will run exactly once on a thread of the engine; non-zero
   (an errno value) and no callback for a NULL engine, host or callback, a host or service longer
   than 255 characters, a family outside the enum (EINVAL), no memory (ENOMEM), or no helper
   thread to take it (EAGAIN: 1024 lookups wait already, or none could be started). The lookup
   holds a reference on the engine until its callback has returned. */
int async_resolve_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_RESOLVE_COMPLETE on_resolve_complete, void* on_resolve_complete_context);

/* Connects to host:port by name, the Happy Eyeballs way (RFC 8305): resolve (IPv6 and IPv4),
   order the addresses alternating families, IPv6 first; start a connect to the first, and to
   the next one when the previous failed or 250 ms passed without an answer; the first connect
   that succeeds wins and every other attempt is cancelled (a socket that connected too late is
   closed). timeout_ms (> 0) bounds it all, resolution included.
   on_connect_complete runs exactly once: ASYNC_SOCKET_CONNECT_OK with the socket; or the
   failure of the last attempt (REFUSED, UNREACHABLE, ERROR); TIMEOUT; CANCELLED;
   NAME_NOT_FOUND when the name has no address (error ENOENT), ERROR with the lookup's error
   when it failed otherwise. A host that is a numeric address is connected to directly.
   Returns as async_socket_connect_async (EINVAL for a NULL engine, host or callback, or
   timeout_ms 0). */
int async_socket_connect_by_name_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* host, uint16_t port, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context);

/* The enumerator's name, or "UNKNOWN" for a value outside the enum. */
const char* ASYNC_RESOLVE_RESULT_to_string(ASYNC_RESOLVE_RESULT value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_ASYNC_RESOLVE_H */
