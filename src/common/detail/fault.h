// The fault-injection seam: every allocation and (through sys.h) every system call asks
// inject_fault first. In the library users link it is a constant false that the compiler
// removes; the test build of the library (ASOCK_FAULT_INJECTION, the asock_fault library) lets
// a test make the N-th call at chosen points fail (fault_control.h, the C functions fault.cpp
// defines for tests).
//
// The points, and the error a failing system call at each reports, are listed once, in
// fault_points.h. A failing system call returns what the real one returns on failure (-1 and
// errno; liburing: -errno) with the error of its point (fault_errno; a test may choose another).
#pragma once

#include <cerrno>
#include <cstdint>
#include <new>

namespace asock::detail {

enum class FaultPoint : uint8_t
{
#define ASOCK_FAULT_POINT(NAME, name, default_errno) name,
#include "detail/fault_points.h"
#undef ASOCK_FAULT_POINT
    count_,
};

// The error a failing system call at the point reports by default (fault_points.h).
constexpr int default_fault_errno(FaultPoint point) noexcept
{
    switch (point)
    {
#define ASOCK_FAULT_POINT(NAME, name, default_errno) \
    case FaultPoint::name:                           \
        return default_errno;
#include "detail/fault_points.h"
#undef ASOCK_FAULT_POINT
    case FaultPoint::count_:
        break;
    }
    return ENOMEM;
}

#if defined(ASOCK_FAULT_INJECTION)
bool inject_fault(FaultPoint point) noexcept;
int fault_errno(FaultPoint point) noexcept;
#else
constexpr bool inject_fault(FaultPoint) noexcept { return false; }
constexpr int fault_errno(FaultPoint point) noexcept { return default_fault_errno(point); }
#endif

// For a system call: true when this call must fail, with errno set to the point's error.
inline bool inject_call_fault(FaultPoint point) noexcept
{
    if (!inject_fault(point))
        return false;
    errno = fault_errno(point);
    return true;
}

// For an allocation that reports failure by throwing (std::vector, std::make_unique): throws
// std::bad_alloc, as the allocation would, when it must fail.
inline void throw_on_alloc_fault(FaultPoint point)
{
    if (inject_fault(point))
        throw std::bad_alloc();
}

}  // namespace asock::detail
