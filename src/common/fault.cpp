// The test-only side of the fault-injection seam (built into the asock_fault library only):
// the C functions of fault_control.h.
#include <atomic>

#include "detail/fault.h"
#include "detail/fault_control.h"

namespace asock::detail {
namespace {

constexpr unsigned kPoints = static_cast<unsigned>(FaultPoint::count_);
static_assert(kPoints == ASOCK_FAULT_POINT_COUNT);
static_assert(kPoints <= 64, "a point is a bit of a 64-bit mask");

constexpr const char* kNames[kPoints] = {
#define ASOCK_FAULT_POINT(NAME, name, default_errno) #name,
#include "detail/fault_points.h"
#undef ASOCK_FAULT_POINT
};

// Counts down over the calls at armed points; the call that finds it at 0 fails. UINT64_MAX
// (never reached) counts without failing.
std::atomic<uint64_t> countdown{0};
std::atomic<uint64_t> armed_points{0};
std::atomic<uint64_t> always_failing{0};
std::atomic<uint64_t> calls{0};
std::atomic<uint64_t> fired{0};
std::atomic<uint64_t> hits[kPoints];
std::atomic<int> errors[kPoints];  // 0: the default

}  // namespace

bool inject_fault(FaultPoint point) noexcept
{
    const auto index = static_cast<unsigned>(point);
    if ((always_failing.load(std::memory_order_acquire) & (uint64_t{1} << index)) != 0)
        return true;
    if ((armed_points.load(std::memory_order_acquire) & (uint64_t{1} << index)) == 0)
        return false;
    calls.fetch_add(1, std::memory_order_relaxed);
    hits[index].fetch_add(1, std::memory_order_relaxed);
    // Decrements only while above zero, so that exactly one call sees 0 and the counter
    // never wraps round to fail again.
    uint64_t left = countdown.load(std::memory_order_relaxed);
    while (left != 0 && left != UINT64_MAX && !countdown.compare_exchange_weak(left, left - 1, std::memory_order_acq_rel))
    {
    }
    if (left != 0)
        return false;
    // Every later call finds 0 too: the first takes the one failure, and fired counts failures
    // injected (0 or 1), not the calls that came after.
    uint64_t none = 0;
    return fired.compare_exchange_strong(none, 1, std::memory_order_acq_rel);
}

int fault_errno(FaultPoint point) noexcept
{
    const int chosen = errors[static_cast<unsigned>(point)].load(std::memory_order_relaxed);
    return chosen != 0 ? chosen : default_fault_errno(point);
}

}  // namespace asock::detail

using namespace asock::detail;

extern "C" void asock_fault_arm(uint64_t points, uint64_t skip)
{
    armed_points.store(0, std::memory_order_release);
    calls = 0;
    fired = 0;
    for (auto& count : hits)
        count = 0;
    countdown = skip;
    armed_points.store(points, std::memory_order_release);
}

extern "C" void asock_fault_disarm(void) { armed_points.store(0, std::memory_order_release); }

extern "C" void asock_fault_fail_always(uint64_t points) { always_failing.store(points, std::memory_order_release); }

extern "C" uint64_t asock_fault_calls(void) { return calls.load(); }
extern "C" uint64_t asock_fault_fired(void) { return fired.load(); }

extern "C" uint64_t asock_fault_hits(unsigned point) { return point < kPoints ? hits[point].load() : 0; }

extern "C" const char* asock_fault_point_name(unsigned point) { return point < kPoints ? kNames[point] : "?"; }

extern "C" void asock_fault_set_errno(unsigned point, int error)
{
    if (point < kPoints)
        errors[point] = error;
}

extern "C" int asock_fault_errno(unsigned point)
{
    return point < kPoints ? fault_errno(static_cast<FaultPoint>(point)) : 0;
}
