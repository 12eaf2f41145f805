// The C++ API's handler memory on Windows: the heap. (The Win32 backend allocates a context
// per operation anyway, as the seed designs it.)
#include <new>

#include "asock/asock.hpp"

namespace asock::detail {

void* handler_allocate(std::size_t size) noexcept { return ::operator new(size, std::nothrow); }

void handler_deallocate(void* memory, std::size_t) noexcept { ::operator delete(memory); }

}  // namespace asock::detail
