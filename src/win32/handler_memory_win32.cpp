// The C++ API's handler memory on Windows: the heap, of the handler's alignment. (The Win32
// backend allocates a context per operation anyway, as the seed designs it.)
#include "asock/asock.hpp"
#include "detail/handler_heap.h"

namespace asock::detail {

void* handler_allocate(std::size_t size, std::size_t alignment) noexcept { return handler_heap_allocate(size, alignment); }

void handler_deallocate(void* memory, std::size_t, std::size_t alignment) noexcept { handler_heap_deallocate(memory, alignment); }

}  // namespace asock::detail
