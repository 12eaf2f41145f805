// The socket headers and types of this platform, for the code that every platform shares
// (common/detail/net_common.h).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace asock::detail {

using SockLen = socklen_t;
using NativeSocket = int;

}  // namespace asock::detail
