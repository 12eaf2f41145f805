// Reading a C enum that a C caller may have set to any int.
#pragma once

#include <cstring>

namespace asock::detail {

// The int a C enum argument holds, read from its bytes: C lets a caller pass any int where
// the enum is expected, and loading such a value as the C++ enum type is undefined.
template <typename Enum>
int enum_as_int(const Enum& value) noexcept
{
    static_assert(sizeof(Enum) == sizeof(int));
    int raw;
    std::memcpy(&raw, &value, sizeof(raw));
    return raw;
}

}  // namespace asock::detail
