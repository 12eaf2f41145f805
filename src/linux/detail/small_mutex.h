// A mutex of 4 bytes (std::mutex takes 40): every socket has one, and the per-socket memory
// budget is 192 bytes. A futex-based lock with three states, the classic design: 0 free,
// 1 held, 2 held with sleepers. The uncontended lock and unlock are one atomic instruction
// each; a sleeper is woken only when there may be one. Satisfies Lockable, so that
// std::lock_guard and std::unique_lock work with it.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace asock::detail {

// Tells the CPU that this thread spins (frees resources for the other hyperthread).
inline void cpu_relax() noexcept
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

class SmallMutex
{
public:
    void lock() noexcept
    {
        uint32_t expected = 0;
        if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed))
            lock_contended(expected);
    }

    bool try_lock() noexcept
    {
        uint32_t expected = 0;
        return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }

    void unlock() noexcept
    {
        if (state_.exchange(0, std::memory_order_release) == 2)
            futex(FUTEX_WAKE_PRIVATE, 1);
    }

private:
    void lock_contended(uint32_t seen) noexcept
    {
        // The holders of a socket's mutex keep it for a few instructions: spin a little first.
        for (int i = 0; i < 64 && seen == 1; ++i)
        {
            cpu_relax();
            seen = 0;
            if (state_.compare_exchange_weak(seen, 1, std::memory_order_acquire, std::memory_order_relaxed))
                return;
        }
        // Announce a sleeper (state 2) and sleep until the holder lets go. Taking the lock
        // with 2 (not 1) is conservative: another sleeper may still be there.
        while (state_.exchange(2, std::memory_order_acquire) != 0)
            futex(FUTEX_WAIT_PRIVATE, 2);
    }

    void futex(int operation, uint32_t value) noexcept
    {
        // A failed wait (EAGAIN: the state changed, EINTR) just goes round the loop again.
        (void)syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), operation, value, nullptr, nullptr, 0);
    }

    std::atomic<uint32_t> state_{0};
};

static_assert(sizeof(SmallMutex) == 4);

}  // namespace asock::detail
