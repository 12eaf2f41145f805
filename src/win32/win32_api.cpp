// The real operating system behind the Win32 seam.
#include <atomic>
#include <cstdlib>

#include <ws2tcpip.h>

#include "detail/win32_api.h"

namespace asock::detail {
namespace {

void initialize_environment(PTP_CALLBACK_ENVIRON environment) { InitializeThreadpoolEnvironment(environment); }
void set_callback_pool(PTP_CALLBACK_ENVIRON environment, PTP_POOL pool) { SetThreadpoolCallbackPool(environment, pool); }
void destroy_environment(PTP_CALLBACK_ENVIRON environment) { DestroyThreadpoolEnvironment(environment); }
int WSAAPI pton(int family, const char* text, void* address) { return InetPtonA(family, text, address); }

const Win32Api real_api = {
    std::malloc,
    std::free,
    CreateThreadpool,
    SetThreadpoolThreadMinimum,
    SetThreadpoolThreadMaximum,
    CloseThreadpool,
    initialize_environment,
    set_callback_pool,
    destroy_environment,
    CreateThreadpoolIo,
    StartThreadpoolIo,
    CancelThreadpoolIo,
    WaitForThreadpoolIoCallbacks,
    CloseThreadpoolIo,
    DisassociateCurrentThreadFromCallback,
    CreateEventW,
    CloseHandle,
    CancelIoEx,
    WSASend,
    WSARecv,
    WSAGetLastError,
    closesocket,
    WSAStartup,
    WSASocketW,
    bind,
    listen,
    getsockname,
    setsockopt,
    WSAIoctl,
    pton,
    CreateThreadpoolTimer,
    SetThreadpoolTimer,
    WaitForThreadpoolTimerCallbacks,
    CloseThreadpoolTimer,
    CreateThreadpoolWork,
    SubmitThreadpoolWork,
    WaitForThreadpoolWorkCallbacks,
    CloseThreadpoolWork,
    QueryPerformanceCounter,
    QueryPerformanceFrequency,
};

std::atomic<const Win32Api*> current{&real_api};

}  // namespace

const Win32Api& os() noexcept { return *current.load(std::memory_order_acquire); }

const Win32Api& real_os() noexcept { return real_api; }

// Called only by the fake-OS unit tests (tests/win32, which see the library's internal
// headers); production code never changes the table.
void install_os(const Win32Api* api) noexcept { current.store(api != nullptr ? api : &real_api, std::memory_order_release); }

}  // namespace asock::detail
