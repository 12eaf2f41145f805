/* asock: choosing the Linux backend of an execution engine.

   By default an engine uses io_uring where the kernel allows it and epoll otherwise. The
   environment variable ASOCK_BACKEND=io_uring|epoll forces one for engines created with
   execution_engine_create (an unknown value makes the create fail). The functions below do the
   same in code; an explicit backend wins over the environment variable. */
#ifndef ASOCK_EXECUTION_ENGINE_LINUX_H
#define ASOCK_EXECUTION_ENGINE_LINUX_H

#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ASOCK_LINUX_BACKEND_TAG
{
    ASOCK_LINUX_BACKEND_DEFAULT,  /* ASOCK_BACKEND if set, else io_uring if usable, else epoll */
    ASOCK_LINUX_BACKEND_IO_URING,
    ASOCK_LINUX_BACKEND_EPOLL
} ASOCK_LINUX_BACKEND;

/* Like execution_engine_create, with the backend chosen by the caller. Asking for io_uring
   where the kernel forbids it fails (returns NULL): there is no silent fallback. */
EXECUTION_ENGINE_HANDLE execution_engine_linux_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters, ASOCK_LINUX_BACKEND backend);

/* The backend an engine runs on (never ASOCK_LINUX_BACKEND_DEFAULT for a valid engine);
   ASOCK_LINUX_BACKEND_DEFAULT for NULL. */
ASOCK_LINUX_BACKEND execution_engine_linux_get_backend(EXECUTION_ENGINE_HANDLE execution_engine);

/* Whether io_uring can be used on this machine (probed once, then cached). */
int execution_engine_linux_io_uring_available(void);

/* Opt-in low-latency mode (off by default): before one of the engine's loop threads goes to
   sleep in the kernel, it keeps polling for completions for up to spin_microseconds. This cuts
   the wake-up latency of a lightly loaded socket at the price of CPU time burnt while the loop
   waits; 0 turns it off again. It may be called at any time; loops pick the new value up on
   their next wait. Returns 0 on success, non-zero for a NULL engine or more than 1,000,000 us. */
int execution_engine_linux_set_busy_poll(EXECUTION_ENGINE_HANDLE execution_engine, uint32_t spin_microseconds);

/* "ASOCK_LINUX_BACKEND_DEFAULT", ...; "UNKNOWN" for a value outside the enum. */
const char* ASOCK_LINUX_BACKEND_to_string(ASOCK_LINUX_BACKEND value);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_EXECUTION_ENGINE_LINUX_H */
