// The heap counter linked into every in-process benchmark: global malloc, calloc, realloc,
// free, the aligned allocators and operator new/delete are replaced by thin wrappers that
// count and forward to glibc's allocator (__libc_malloc, ...). Whatever a library allocates,
// through C or C++, is therefore seen here.
#pragma once

#include <cstdint>

namespace inproc {

// Calls that allocated or resized a block (malloc, calloc, realloc, aligned allocations,
// operator new) since the start of the process. Frees are not counted.
uint64_t heap_allocation_count() noexcept;

// Bytes of the live blocks: malloc_usable_size of each block, added when it is allocated and
// subtracted when it is freed (the usable size, not the requested one, so that both sides
// agree without a size header and the figure includes the allocator's rounding).
int64_t heap_live_bytes() noexcept;

}  // namespace inproc
