// The fault-injection seam: every allocation (and, through sys.h, every system call) asks
// inject_fault first. In the library users link it is a constant false that the compiler
// removes; the test build of the library (ASOCK_FAULT_INJECTION) lets a test make the N-th
// call at chosen points fail (tests/support/fault_injection.h).
#pragma once

#include <cstdint>

namespace asock::detail {

enum class FaultPoint : uint8_t
{
    socket_alloc,
    op_alloc,
    thread_start,
    count_,
};

#if defined(ASOCK_FAULT_INJECTION)
bool inject_fault(FaultPoint point) noexcept;
#else
constexpr bool inject_fault(FaultPoint) noexcept { return false; }
#endif

}  // namespace asock::detail
