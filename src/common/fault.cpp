// The test-only side of the fault-injection seam (built into the asock_fault library only).
#include <atomic>

#include "detail/fault.h"
#include "support/fault_injection.h"

namespace asock::detail {
namespace {

// Counts down over the calls at armed points; the call that finds it at 0 fails.
std::atomic<int64_t> countdown{-1};
std::atomic<uint64_t> armed_points{0};
std::atomic<uint64_t> calls{0};
std::atomic<uint64_t> fired{0};

}  // namespace

bool inject_fault(FaultPoint point) noexcept
{
    if ((armed_points.load(std::memory_order_relaxed) & (uint64_t{1} << static_cast<unsigned>(point))) == 0)
        return false;
    calls.fetch_add(1, std::memory_order_relaxed);
    if (countdown.fetch_sub(1, std::memory_order_acq_rel) != 0)
        return false;
    fired.fetch_add(1, std::memory_order_relaxed);
    return true;
}

}  // namespace asock::detail

using namespace asock::detail;

extern "C" void asock_fault_arm(uint64_t points, uint64_t skip)
{
    calls = 0;
    fired = 0;
    countdown = static_cast<int64_t>(skip);
    armed_points = points;
}

extern "C" void asock_fault_disarm(void)
{
    armed_points = 0;
    countdown = -1;
}

extern "C" uint64_t asock_fault_calls(void) { return calls.load(); }
extern "C" uint64_t asock_fault_fired(void) { return fired.load(); }
