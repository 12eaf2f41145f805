// UNIX domain stream sockets on Linux (async_socket_unix.h): a listener on a path (or an
// abstract name, "@name") and a connect to one. Past the address they are the TCP listener and
// connect: the same handle, operations and completions (without TCP options).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <new>
#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/listener.h"
#include "detail/loop.h"
#include "detail/platform_net.h"
#include "detail/sys.h"
namespace asock::detail {
namespace {
// path is valid (unix_path_valid): at most 107 bytes. "@name" is the abstract name "\0name",
// whose length counts exactly its bytes (no NUL at the end).
socklen_t unix_address(const char* path, sockaddr_un& address) noexcept
{
    std::memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    const size_t length = std::strlen(path);
    std::memcpy(address.sun_path, path, length);
    if (path[0] != '@')
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + 1);
    address.sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
}
// The file a listener removes when it goes (nullptr for an abstract name), or false when out
// of memory.
bool path_copy(const char* path, char*& copy) noexcept
{
    copy = nullptr;
    if (path[0] == '@')
        return true;
    const size_t length = std::strlen(path);
    copy = inject_fault(FaultPoint::listener_alloc) ? nullptr : new (std::nothrow) char[length + 1];
    if (copy != nullptr)
        std::memcpy(copy, path, length + 1);
    return copy != nullptr;
}
}  // namespace
Listener::~Listener()
{
    delete[] members;  // destroyed already (listener_destroy): only the array is left
    if (path_to_remove == nullptr)
        return;
    (void)::unlink(path_to_remove);  // the file it made; gone already is fine
    delete[] path_to_remove;
}
namespace {
// Binds and listens; on success the file (if any) is the listener's to remove.
int listen_on(int fd, const sockaddr_un& address, socklen_t length, int32_t backlog, char* to_remove) noexcept
{
    if (sys::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0)
        return errno;  // EADDRINUSE when the file exists: not ours to remove
    if (sys::listen(fd, backlog == 0 ? SOMAXCONN : backlog) == 0)
        return 0;
    const int error = errno;
    if (to_remove != nullptr)
        (void)::unlink(to_remove);
    return error;
}
}  // namespace

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, int32_t backlog, Listener*& listener, int& error) noexcept
{
    sockaddr_un address;
    const socklen_t length = unix_address(path, address);
    char* to_remove = nullptr;
    if (!path_copy(path, to_remove))
    {
        error = ENOMEM;
        return create_result_for(error);
    }
    Engine& engine = *Engine::from_handle(execution_engine);
    Loop& loop = engine.pick_loop();
    const int fd = sys::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | loop.backend().socket_flags(), 0);
    error = fd < 0 ? errno : listen_on(fd, address, length, backlog, to_remove);
    if (error != 0)
    {
        if (fd >= 0)
            sys::close(fd);
        delete[] to_remove;
        return create_result_for(error);
    }
    // From here the listener (or, if it cannot be made, this function) removes the file.
    error = make_listener(engine, loop, fd, 0, listener);
    if (error != 0)
    {
        if (to_remove != nullptr)
            (void)::unlink(to_remove);
        delete[] to_remove;
        return create_result_for(error);
    }
    listener->unix_domain = true;
    listener->path_to_remove = to_remove;
    return ASYNC_SOCKET_LISTENER_CREATE_OK;
}

int connect_start_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, uint32_t timeout_ms, Cancellation* cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_un address;
    const socklen_t length = unix_address(path, address);
    const ConnectRequest request{reinterpret_cast<const sockaddr*>(&address), length, timeout_ms, cancellation, on_connect_complete, context};
    return connect_start_to(*Engine::from_handle(execution_engine), request);
}
}  // namespace asock::detail
