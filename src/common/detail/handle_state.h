// The life of every handle (socket, listener) on every platform.
#pragma once

#include <cstdint>

namespace asock::detail {

enum class HandleState : uint8_t
{
    created,  // not opened yet (a socket): its descriptor is still the owner's to close on destroy
    opening,  // inside async_socket_open_async, or connecting (a socket made by a connect)
    open,
    closing,  // a close has started: no new operation is accepted; pending ones are being completed
    closed,   // the descriptor is closed and every operation completed; cannot re-open
};

}  // namespace asock::detail
