// The one seam between the Win32 backend and the operating system: every Windows call the
// backend makes (threadpool, Winsock, events, memory) goes through this table, so that the
// unit tests can put a fake operating system in its place (tests/win32). Production code
// uses the real table; nothing else differs.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <cstddef>

namespace asock::detail {

struct Win32Api
{
    // Memory (the engine, the socket, the per-operation context).
    void* (*malloc)(size_t size);
    void (*free)(void* memory);

    // Threadpool.
    PTP_POOL(WINAPI* CreateThreadpool)(PVOID reserved);
    BOOL(WINAPI* SetThreadpoolThreadMinimum)(PTP_POOL pool, DWORD minimum);
    VOID(WINAPI* SetThreadpoolThreadMaximum)(PTP_POOL pool, DWORD maximum);
    VOID(WINAPI* CloseThreadpool)(PTP_POOL pool);
    // These three are inline functions in the SDK headers; the table holds wrappers.
    void (*InitializeThreadpoolEnvironment)(PTP_CALLBACK_ENVIRON environment);
    void (*SetThreadpoolCallbackPool)(PTP_CALLBACK_ENVIRON environment, PTP_POOL pool);
    void (*DestroyThreadpoolEnvironment)(PTP_CALLBACK_ENVIRON environment);
    PTP_IO(WINAPI* CreateThreadpoolIo)(HANDLE handle, PTP_WIN32_IO_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment);
    VOID(WINAPI* StartThreadpoolIo)(PTP_IO io);
    VOID(WINAPI* CancelThreadpoolIo)(PTP_IO io);
    VOID(WINAPI* WaitForThreadpoolIoCallbacks)(PTP_IO io, BOOL cancel_pending_callbacks);
    VOID(WINAPI* CloseThreadpoolIo)(PTP_IO io);
    VOID(WINAPI* DisassociateCurrentThreadFromCallback)(PTP_CALLBACK_INSTANCE instance);

    // Events and handles.
    HANDLE(WINAPI* CreateEventW)(LPSECURITY_ATTRIBUTES attributes, BOOL manual_reset, BOOL initial_state, LPCWSTR name);
    BOOL(WINAPI* CloseHandle)(HANDLE handle);
    BOOL(WINAPI* CancelIoEx)(HANDLE handle, LPOVERLAPPED overlapped);

    // Winsock.
    int(WSAAPI* WSASend)(SOCKET socket, LPWSABUF buffers, DWORD buffer_count, LPDWORD bytes_sent, DWORD flags, LPWSAOVERLAPPED overlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE completion_routine);
    int(WSAAPI* WSARecv)(SOCKET socket, LPWSABUF buffers, DWORD buffer_count, LPDWORD bytes_received, LPDWORD flags, LPWSAOVERLAPPED overlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE completion_routine);
    int(WSAAPI* WSAGetLastError)(void);
    int(WSAAPI* closesocket)(SOCKET socket);

    // Listeners and connects (net_win32.cpp).
    int(WSAAPI* WSAStartup)(WORD version, LPWSADATA data);
    SOCKET(WSAAPI* WSASocketW)(int family, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP group, DWORD flags);
    int(WSAAPI* bind)(SOCKET socket, const sockaddr* address, int length);
    int(WSAAPI* listen)(SOCKET socket, int backlog);
    int(WSAAPI* getsockname)(SOCKET socket, sockaddr* address, int* length);
    int(WSAAPI* setsockopt)(SOCKET socket, int level, int name, const char* value, int length);
    int(WSAAPI* WSAIoctl)(SOCKET socket, DWORD code, LPVOID in, DWORD in_length, LPVOID out, DWORD out_length, LPDWORD returned, LPWSAOVERLAPPED overlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE completion_routine);
    int(WSAAPI* inet_pton)(int family, const char* text, void* address);
    PTP_TIMER(WINAPI* CreateThreadpoolTimer)(PTP_TIMER_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment);
    VOID(WINAPI* SetThreadpoolTimer)(PTP_TIMER timer, PFILETIME due_time, DWORD period_ms, DWORD window_ms);
    VOID(WINAPI* WaitForThreadpoolTimerCallbacks)(PTP_TIMER timer, BOOL cancel_pending_callbacks);
    VOID(WINAPI* CloseThreadpoolTimer)(PTP_TIMER timer);

    // Timers (timer_win32.cpp): the work item that delivers their completions, and the clock
    // their deadlines are measured on.
    PTP_WORK(WINAPI* CreateThreadpoolWork)(PTP_WORK_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment);
    VOID(WINAPI* SubmitThreadpoolWork)(PTP_WORK work);
    VOID(WINAPI* WaitForThreadpoolWorkCallbacks)(PTP_WORK work, BOOL cancel_pending_callbacks);
    VOID(WINAPI* CloseThreadpoolWork)(PTP_WORK work);
    BOOL(WINAPI* QueryPerformanceCounter)(LARGE_INTEGER* count);
    BOOL(WINAPI* QueryPerformanceFrequency)(LARGE_INTEGER* frequency);
};

// The table in use: the real operating system unless a test installed another.
const Win32Api& os() noexcept;

// The real operating system's table (a fake may forward to it).
const Win32Api& real_os() noexcept;

// For the fake-OS unit tests (tests/win32): installs a table; nullptr restores the real one.
void install_os(const Win32Api* api) noexcept;

}  // namespace asock::detail
