// The Linux connect behind async_socket_connect_async. The socket is made on the calling
// thread (so that running out of descriptors is reported at once); the connect itself is
// handed to a loop, whose backend runs it (Backend::start_connect) and reports its end to
// connect_finished.
#include <sys/socket.h>

#include <cerrno>
#include <new>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/net.h"
#include "detail/platform_net.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

void run_start(void* owner) noexcept
{
    Connect& connect = *static_cast<Connect*>(owner);
    connect.loop->backend().start_connect(connect);
}

}  // namespace

Connect::Connect(Engine& e, Loop& l, int handle) noexcept : NetTarget(NetKind::connect), engine(&e), loop(&l), fd(handle), start(&run_start, this) {}

void connect_finished(Connect& connect, int error) noexcept
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    if (error == 0)
        socket = adopt_connected_socket(*connect.loop, connect.fd, error);
    if (socket == nullptr)
        sys::close(connect.fd);
    const auto callback = connect.callback;
    void* context = connect.context;
    Engine& engine = *connect.engine;
    delete &connect;
    callback(context, connect_result_for(error), socket, error);
    // After the callback: an engine whose last other reference went while the connect was
    // pending stops now (on this thread: Engine::dec_ref handles that).
    engine.dec_ref();
}

void connect_start_later(Connect& connect) noexcept { connect.loop->post(&connect.start); }

// --- The platform interface (detail/platform_net.h) -------------------------------------------

int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_storage peer;
    socklen_t length;
    if (!parse_address(address, port, peer, length))
        return EINVAL;
    Engine& engine = *Engine::from_handle(execution_engine);
    Loop& loop = engine.pick_loop();
    const int fd = make_stream_socket(peer, loop);
    if (fd < 0)
        return errno;
    auto* connect = inject_fault(FaultPoint::connect_alloc) ? nullptr : new (std::nothrow) Connect(engine, loop, fd);
    if (connect == nullptr)
    {
        sys::close(fd);
        return ENOMEM;
    }
    connect->address = peer;
    connect->address_length = length;
    connect->timeout_ms = timeout_ms;
    connect->callback = on_connect_complete;
    connect->context = context;
    engine.inc_ref();
    // Through the inbox also on the loop's own thread: the callback must not run inside this
    // call (a refused or unreachable connect may end at once).
    loop.post(&connect->start);
    return 0;
}

}  // namespace asock::detail
