/* The test-only control of the fault-injection seam (fault.h), as C: the functions that
   src/common/fault.cpp defines in the asock_fault library (the library built with
   ASOCK_FAULT_INJECTION, which only tests and the fuzzer link) and the numbers of the points
   (fault_points.h, the one list). Tests include it through tests/support/fault_injection.h.
   Not a public header: the installed library has none of these functions. */
#ifndef ASOCK_DETAIL_FAULT_CONTROL_H
#define ASOCK_DETAIL_FAULT_CONTROL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The points, numbered as asock::detail::FaultPoint: both come from fault_points.h. */
enum ASOCK_FAULT_POINT
{
#define ASOCK_FAULT_POINT(NAME, name, default_errno) ASOCK_FAULT_POINT_##NAME,
#include "detail/fault_points.h"
#undef ASOCK_FAULT_POINT
    ASOCK_FAULT_POINT_COUNT
};

/* A point as a bit of the mask given to asock_fault_arm. */
#define ASOCK_FAULT_BIT(point) (UINT64_C(1) << (point))
#define ASOCK_FAULT_ALL_POINTS (ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_COUNT) - 1)
#define ASOCK_FAULT_SOCKET_ALLOC ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_SOCKET_ALLOC)
#define ASOCK_FAULT_OP_ALLOC ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_OP_ALLOC)
#define ASOCK_FAULT_THREAD_START ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_THREAD_START)

/* From now on, calls at the points in the mask are counted; the one that finds `skip` calls
   before it fails (skip = 0: the next one). Only one call fails. Resets the counters. */
void asock_fault_arm(uint64_t points, uint64_t skip);
void asock_fault_disarm(void);
/* Every call at the points in the mask fails, besides the one an arm makes fail (0: none);
   these calls are not counted. For walks under a lasting failure (no cancellation, say). */
void asock_fault_fail_always(uint64_t points);
/* Calls seen at armed points, and failures injected, since the last arm. */
uint64_t asock_fault_calls(void);
uint64_t asock_fault_fired(void);
/* Calls seen at one point since the last arm (counted only while the point is armed: arm
   every point with skip = UINT64_MAX to count them all without failing any). */
uint64_t asock_fault_hits(unsigned point);
/* The point's name ("sys_sendmsg", ...); "?" for a number out of range. */
const char* asock_fault_point_name(unsigned point);
/* The errno a failing system call at the point reports; 0 puts back the default. */
void asock_fault_set_errno(unsigned point, int error);
int asock_fault_errno(unsigned point);

/* Name resolution (async_resolve.h). From now on the resolver's helper threads answer a lookup
   of host with addresses (comma-separated numeric addresses, in that order; NULL or "": the
   name does not exist) after sleeping delay_ms, instead of asking the system: a slow resolver,
   or a name with the addresses a test needs. Again for the same host replaces it; host NULL
   removes every override. */
void asock_fault_resolve_override(const char* host, const char* addresses, uint32_t delay_ms);
/* The resolver's helper threads alive now, and how long one waits idle before it ends
   (default 3000 ms). */
uint32_t asock_fault_resolver_threads(void);
void asock_fault_resolver_idle_ms(uint32_t idle_ms);

#ifdef __cplusplus
}
#endif

#endif
