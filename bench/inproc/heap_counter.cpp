// Counting replacements of the C and C++ allocation functions (see heap_counter.h).
//
// glibc supports replacing malloc in the executable: every caller, libc itself and the
// libraries under test included, then reaches these definitions, and __libc_malloc & co.
// are glibc's own allocator under its exported internal names. Counters are relaxed
// atomics: the benchmarks read them only at points where the threads that allocate are
// known to be idle or are the reader itself.
#include "heap_counter.h"

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* block, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
void __libc_free(void* block);
}

namespace {

constinit std::atomic<uint64_t> allocation_count{0};
constinit std::atomic<int64_t> live_bytes{0};

void* counted(void* block) noexcept
{
    if (block != nullptr)
    {
        allocation_count.fetch_add(1, std::memory_order_relaxed);
        live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(block)), std::memory_order_relaxed);
    }
    return block;
}

void uncount(void* block) noexcept
{
    live_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(block)), std::memory_order_relaxed);
}

bool is_valid_alignment(size_t alignment) noexcept
{
    return alignment % sizeof(void*) == 0 && (alignment & (alignment - 1)) == 0;
}

}  // namespace

namespace inproc {

uint64_t heap_allocation_count() noexcept
{
    return allocation_count.load(std::memory_order_relaxed);
}

int64_t heap_live_bytes() noexcept
{
    return live_bytes.load(std::memory_order_relaxed);
}

}  // namespace inproc

extern "C" {

void* malloc(size_t size) noexcept
{
    return counted(__libc_malloc(size));
}

void* calloc(size_t count, size_t size) noexcept
{
    return counted(__libc_calloc(count, size));
}

void* realloc(void* block, size_t size) noexcept
{
    const size_t old_size = malloc_usable_size(block);
    void* resized = __libc_realloc(block, size);
    if (resized == nullptr && size != 0)
        return nullptr;  // failed: the old block is still live and unchanged
    live_bytes.fetch_sub(static_cast<int64_t>(old_size), std::memory_order_relaxed);
    return counted(resized);
}

void free(void* block) noexcept
{
    uncount(block);
    __libc_free(block);
}

void* aligned_alloc(size_t alignment, size_t size) noexcept
{
    return counted(__libc_memalign(alignment, size));
}

void* memalign(size_t alignment, size_t size) noexcept
{
    return counted(__libc_memalign(alignment, size));
}

int posix_memalign(void** result, size_t alignment, size_t size) noexcept
{
    if (!is_valid_alignment(alignment))
        return EINVAL;
    void* block = counted(__libc_memalign(alignment, size));
    if (block == nullptr)
        return ENOMEM;
    *result = block;
    return 0;
}

// Obsolete, but a library calling them would otherwise hand free() blocks it never counted.
void* valloc(size_t size) noexcept
{
    return counted(__libc_valloc(size));
}

void* pvalloc(size_t size) noexcept
{
    return counted(__libc_pvalloc(size));
}

}  // extern "C"

// libstdc++'s other forms (array, nothrow) call these two, and its aligned forms call
// aligned_alloc and free, so replacing these is enough to count every C++ allocation once.
void* operator new(std::size_t size)
{
    void* block = malloc(size == 0 ? 1 : size);
    if (block == nullptr)
        throw std::bad_alloc();
    return block;
}

void operator delete(void* block) noexcept
{
    free(block);
}

// The compiler calls the sized form for complete types (C++14 sized deallocation).
void operator delete(void* block, std::size_t) noexcept
{
    free(block);
}
