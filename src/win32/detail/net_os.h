// The socket headers and types of this platform, for the code that every platform shares
// (common/detail/net_common.h).
#pragma once

#include <winsock2.h>
#include <ws2tcpip.h>

namespace asock::detail {

using SockLen = int;
using NativeSocket = SOCKET;

}  // namespace asock::detail
