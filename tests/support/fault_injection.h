/* Test-only control of the library's fault-injection seam (src/detail/fault.h). Available
   when linking asock_fault, the build of the library with ASOCK_FAULT_INJECTION. */
#ifndef ASOCK_TEST_FAULT_INJECTION_H
#define ASOCK_TEST_FAULT_INJECTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Points, as bits of the mask given to asock_fault_arm (values of asock::detail::FaultPoint). */
#define ASOCK_FAULT_SOCKET_ALLOC (1u << 0)
#define ASOCK_FAULT_OP_ALLOC (1u << 1)
#define ASOCK_FAULT_THREAD_START (1u << 2)

/* From now on, calls at the points in the mask are counted; the one that finds `skip` calls
   before it fails (skip = 0: the next one). Only one call fails. Resets the counters. */
void asock_fault_arm(uint64_t points, uint64_t skip);
void asock_fault_disarm(void);
/* Calls seen at armed points, and failures injected, since the last arm. */
uint64_t asock_fault_calls(void);
uint64_t asock_fault_fired(void);

#ifdef __cplusplus
}
#endif

#endif
