// Operation memory: a per-thread cache backed by one shared depot.
//
// Operations are usually freed on the loop thread that completed them and allocated either
// there (the echo pattern: a callback starts the next operation) or on an application
// thread. A thread's cache serves the first case without locks; the depot moves blocks from
// threads that free more than they allocate to threads that allocate more than they free,
// a batch at a time, so neither pattern reaches the heap in steady state.
//
// fork(): the depot's lock is held across fork (pthread_atfork), so that a child never
// inherits it locked by a thread it does not have; a child may then free and allocate, and
// exit (which gives the forking thread's cache back to the depot).
#include <pthread.h>

#include <mutex>
#include <new>
#include <utility>

#include "detail/fault.h"
#include "detail/handler_heap.h"
#include "asock/asock.hpp"
#include "detail/op.h"

namespace asock::detail {
namespace {

constexpr uint32_t kThreadCacheMax = 128;
constexpr uint32_t kBatch = 32;
constexpr uint32_t kDepotMax = 16384;

// A free block is just the memory of an Op; its first word links the free list.
struct FreeBlock
{
    FreeBlock* next;
};
static_assert(sizeof(FreeBlock) <= sizeof(Op));

class Depot
{
public:
    Depot() noexcept
    {
        // Registered once, with the depot itself. A failure (ENOMEM) leaves fork as unsafe
        // as it was: nothing better can be done in a constructor that must not throw.
        (void)pthread_atfork(&lock_for_fork, &unlock_after_fork, &unlock_after_fork);
    }

    ~Depot()
    {
        while (blocks_ != nullptr)
        {
            FreeBlock* block = blocks_;
            blocks_ = block->next;
            ::operator delete(block);
        }
    }

    // Takes up to kBatch blocks; returns the chain and its length through count.
    FreeBlock* take(uint32_t& count) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        FreeBlock* first = blocks_;
        FreeBlock* last = nullptr;
        count = 0;
        while (blocks_ != nullptr && count < kBatch)
        {
            last = blocks_;
            blocks_ = blocks_->next;
            ++count;
        }
        if (last != nullptr)
            last->next = nullptr;
        size_ -= count;
        return count == 0 ? nullptr : first;
    }

    // Gives a chain back; what does not fit is freed.
    void give(FreeBlock* chain) noexcept
    {
        std::unique_lock<std::mutex> lock(mutex_);
        while (chain != nullptr && size_ < kDepotMax)
        {
            FreeBlock* block = chain;
            chain = chain->next;
            block->next = blocks_;
            blocks_ = block;
            ++size_;
        }
        lock.unlock();
        free_chain(chain);
    }

    static void free_chain(FreeBlock* chain) noexcept
    {
        while (chain != nullptr)
        {
            FreeBlock* block = chain;
            chain = chain->next;
            ::operator delete(block);
        }
    }

private:
    static void lock_for_fork() noexcept;
    static void unlock_after_fork() noexcept;

    std::mutex mutex_;
    FreeBlock* blocks_ = nullptr;
    uint32_t size_ = 0;
};

Depot& depot()
{
    // Never destroyed: threads may still free operations while static objects go away. Built
    // in static storage: a heap allocation failing here would throw out of noexcept code.
    alignas(Depot) static unsigned char storage[sizeof(Depot)];
    static Depot* instance = new (storage) Depot();
    return *instance;
}

// The thread that forks holds the lock through fork; the parent and the child (where that
// thread goes on) each unlock it.
void Depot::lock_for_fork() noexcept { depot().mutex_.lock(); }
void Depot::unlock_after_fork() noexcept { depot().mutex_.unlock(); }

// Where a thread's cache stands. unused: never held a block, nothing to give back when the
// thread ends; active: gives its blocks back when the thread ends (CacheRelease); retired:
// the thread is ending and has given them back.
enum class CacheState : uint8_t
{
    unused,
    active,
    retired,
};

void arm_release() noexcept;

// A thread's cache. Plain data without a destructor of its own, so that it stays usable in
// every thread_local destructor of the thread, also those that run after it was given back
// (a retired cache takes from the heap and gives to the depot one block at a time).
class ThreadCache
{
public:
    void* get() noexcept
    {
        if (blocks_ == nullptr)
            refill();
        if (blocks_ == nullptr)
            return inject_fault(FaultPoint::op_block_alloc) ? nullptr : ::operator new(sizeof(Op), std::nothrow);
        FreeBlock* block = blocks_;
        blocks_ = block->next;
        --count_;
        return block;
    }

    void put(void* memory) noexcept
    {
        auto* block = static_cast<FreeBlock*>(memory);
        if (state_ != CacheState::active)
            return put_outside_active(block);
        block->next = blocks_;
        blocks_ = block;
        if (++count_ > kThreadCacheMax)
            give_batch();
    }

    // The thread is ending: everything goes back to the depot, and the fields are cleared, as
    // a later thread_local destructor may still allocate and free here.
    void retire() noexcept
    {
        state_ = CacheState::retired;
        count_ = 0;
        depot().give(std::exchange(blocks_, nullptr));
    }

private:
    void refill() noexcept
    {
        if (state_ == CacheState::retired)
            return;
        activate();
        blocks_ = depot().take(count_);
    }

    void put_outside_active(FreeBlock* block) noexcept
    {
        if (state_ == CacheState::retired)
        {
            block->next = nullptr;
            depot().give(block);
            return;
        }
        activate();
        put(block);
    }

    void activate() noexcept
    {
        if (state_ != CacheState::unused)
            return;
        arm_release();
        state_ = CacheState::active;
    }

    void give_batch() noexcept
    {
        FreeBlock* first = blocks_;
        FreeBlock* last = first;
        for (uint32_t i = 1; i < kBatch; ++i)
            last = last->next;
        blocks_ = last->next;
        last->next = nullptr;
        count_ -= kBatch;
        depot().give(first);
    }

    FreeBlock* blocks_ = nullptr;
    uint32_t count_ = 0;
    CacheState state_ = CacheState::unused;
};

// Constant-initialised and trivially destructible: reading it never runs an initialiser or
// registers a destructor, and it outlives every thread_local destructor of its thread.
constinit thread_local ThreadCache tls_cache;

// Gives the thread's cache back when the thread ends. Built at the cache's first use (its
// constructor is not constexpr, so it is built then, not at the thread's start): thread_local
// objects built before that are destroyed after it, and may still use the retired cache.
struct CacheRelease
{
    CacheRelease() noexcept {}
    ~CacheRelease() { tls_cache.retire(); }
    void arm() noexcept {}
};

thread_local CacheRelease tls_cache_release;

void arm_release() noexcept { tls_cache_release.arm(); }

}  // namespace

Op* op_alloc(uint32_t buffer_count, uint32_t inline_capacity) noexcept
{
    if (inject_fault(FaultPoint::op_alloc))
        return nullptr;
    iovec* heap_iov = nullptr;
    if (buffer_count > inline_capacity)
    {
        heap_iov = inject_fault(FaultPoint::op_iov_alloc) ? nullptr : new (std::nothrow) iovec[buffer_count];
        if (heap_iov == nullptr)
            return nullptr;
    }
    void* memory = tls_cache.get();
    if (memory == nullptr)
    {
        delete[] heap_iov;
        return nullptr;
    }
    // Default-initialised: the inline iovec array is left as it is (the caller fills what it
    // uses), which saves zeroing 128 bytes per operation.
    Op* op = new (memory) Op;
    op->io.heap = heap_iov;
    op->io.iov = heap_iov != nullptr ? heap_iov : op->io.inline_iov;
    op->io.count = buffer_count;
    return op;
}

void op_free(Op* op) noexcept
{
    if (op->kind == ItemKind::receive || op->kind == ItemKind::send)
        delete[] op->io.heap;
    else if (op->kind == ItemKind::connect && op->connect.on_heap())
        delete[] reinterpret_cast<char*>(op->connect.heap_address());
    op->~Op();
    tls_cache.put(op);
}

}  // namespace asock::detail

// The C++ API's handlers (asock.hpp) share the operations' recycled blocks: the same threads
// allocate and free both, in the same patterns. The blocks come from ::operator new(sizeof(Op)),
// so they are aligned for the default new alignment and no more; a handler that needs more,
// or more room, comes from the heap.
namespace asock::detail {

static_assert(kSmallHandler <= sizeof(Op));
static_assert(kSmallHandlerAlignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);

namespace {

bool fits_block(std::size_t size, std::size_t alignment) noexcept { return size <= sizeof(Op) && alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__; }

}  // namespace

void* handler_allocate(std::size_t size, std::size_t alignment) noexcept
{
    if (inject_fault(FaultPoint::op_alloc))
        return nullptr;
    return fits_block(size, alignment) ? tls_cache.get() : handler_heap_allocate(size, alignment);
}

void handler_deallocate(void* memory, std::size_t size, std::size_t alignment) noexcept
{
    if (fits_block(size, alignment))
        tls_cache.put(memory);
    else
        handler_heap_deallocate(memory, alignment);
}

}  // namespace asock::detail
