/* Test-only control of the library's fault-injection seam (src/common/detail/fault.h, which
   documents each point and the error a failing system call reports). Available when linking
   asock_fault, the build of the library with ASOCK_FAULT_INJECTION. */
#ifndef ASOCK_TEST_FAULT_INJECTION_H
#define ASOCK_TEST_FAULT_INJECTION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The points, numbered as asock::detail::FaultPoint (fault.cpp checks that they agree). */
enum ASOCK_FAULT_POINT
{
    ASOCK_FAULT_POINT_SOCKET_ALLOC,
    ASOCK_FAULT_POINT_OP_ALLOC,
    ASOCK_FAULT_POINT_THREAD_START,
    ASOCK_FAULT_POINT_OP_BLOCK_ALLOC,
    ASOCK_FAULT_POINT_OP_IOV_ALLOC,
    ASOCK_FAULT_POINT_ENGINE_ALLOC,
    ASOCK_FAULT_POINT_LOOP_ALLOC,
    ASOCK_FAULT_POINT_BACKEND_ALLOC,
    ASOCK_FAULT_POINT_STASH_ALLOC,
    ASOCK_FAULT_POINT_SYS_CLOSE,
    ASOCK_FAULT_POINT_SYS_SENDMSG,
    ASOCK_FAULT_POINT_SYS_RECVMSG,
    ASOCK_FAULT_POINT_SYS_GETSOCKOPT,
    ASOCK_FAULT_POINT_SYS_SHUTDOWN,
    ASOCK_FAULT_POINT_SYS_EPOLL_CREATE,
    ASOCK_FAULT_POINT_SYS_EPOLL_CTL,
    ASOCK_FAULT_POINT_SYS_EPOLL_WAIT,
    ASOCK_FAULT_POINT_SYS_EVENTFD,
    ASOCK_FAULT_POINT_SYS_EVENTFD_READ,
    ASOCK_FAULT_POINT_SYS_EVENTFD_WRITE,
    ASOCK_FAULT_POINT_URING_SETUP,
    ASOCK_FAULT_POINT_URING_SUBMIT,
    ASOCK_FAULT_POINT_URING_SUBMIT_AND_WAIT,
    ASOCK_FAULT_POINT_URING_GET_EVENTS,
    ASOCK_FAULT_POINT_URING_WAIT_CQE,
    ASOCK_FAULT_POINT_URING_SYNC_CANCEL,
    ASOCK_FAULT_POINT_URING_ENABLE_RINGS,
    ASOCK_FAULT_POINT_LISTENER_ALLOC,
    ASOCK_FAULT_POINT_ACCEPT_ALLOC,
    ASOCK_FAULT_POINT_CONNECT_ALLOC,
    ASOCK_FAULT_POINT_SYS_SOCKET,
    ASOCK_FAULT_POINT_SYS_SETSOCKOPT,
    ASOCK_FAULT_POINT_SYS_BIND,
    ASOCK_FAULT_POINT_SYS_LISTEN,
    ASOCK_FAULT_POINT_SYS_GETSOCKNAME,
    ASOCK_FAULT_POINT_SYS_ACCEPT,
    ASOCK_FAULT_POINT_SYS_CONNECT,
    ASOCK_FAULT_POINT_SYS_TIMERFD_CREATE,
    ASOCK_FAULT_POINT_SYS_TIMERFD_SETTIME,
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

#ifdef __cplusplus
}
#endif

#endif
