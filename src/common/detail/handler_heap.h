// The C++ API's handler memory that the heap provides (asock.hpp, detail::handler_allocate):
// handlers too large for a platform's recycled memory, or more aligned than it, and every
// handler where nothing is recycled. An over-aligned handler gets memory of its alignment.
#pragma once

#include <cstddef>
#include <new>

namespace asock::detail {

inline bool over_aligned(std::size_t alignment) noexcept { return alignment > __STDCPP_DEFAULT_NEW_ALIGNMENT__; }

// nullptr when out of memory.
inline void* handler_heap_allocate(std::size_t size, std::size_t alignment) noexcept
{
    if (over_aligned(alignment))
        return ::operator new(size, std::align_val_t(alignment), std::nothrow);
    return ::operator new(size, std::nothrow);
}

// The alignment must be that of the allocation: it chooses the matching operator delete.
inline void handler_heap_deallocate(void* memory, std::size_t alignment) noexcept
{
    if (over_aligned(alignment))
        ::operator delete(memory, std::align_val_t(alignment));
    else
        ::operator delete(memory);
}

}  // namespace asock::detail
