// Built instead of io_uring_backend.cpp when asock is configured without liburing.
#include "detail/backend.h"

namespace asock::detail {

bool io_uring_usable() noexcept { return false; }

std::unique_ptr<Backend> make_io_uring_backend() noexcept { return nullptr; }

}  // namespace asock::detail
