// Per-loop listeners (async_socket_listener_create_per_loop), on every backend of the platform,
// with an engine of two loops: every connection is accepted exactly once and its socket works;
// get_port, close, destroy (also from an accept callback) and cancel_accepts act on every
// listening socket; bad arguments and a port in use are refused and leave nothing behind.
// What only Linux shows (each connection stays on the loop that accepted it, the system
// spreads connections over the loops) is in per_loop_listener_linux_test.cpp. On Windows the
// call makes one listener: the same promises hold.
// Requirements: docs/requirements/per_loop_listener.md (SRS_ASOCK_PER_LOOP_13_*).
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "asock/async_socket_deadline.h"
#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

constexpr uint32_t kLoops = 2;

class PerLoopListener : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << backend_name(GetParam()) << " cannot be used on this machine";
        engine = make_engine(GetParam(), kLoops);
        ASSERT_NE(nullptr, engine);
    }
    void TearDown() override
    {
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
    }

    ASYNC_SOCKET_LISTENER_HANDLE listen(uint16_t port = 0)
    {
        ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
        int error = -1;
        const auto result = async_socket_listener_create_per_loop(engine, "127.0.0.1", port, 64, &listener, &error);
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, result) << ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(result) << ", errno " << error;
        EXPECT_EQ(0, error);
        return listener;
    }

    EXECUTION_ENGINE_HANDLE engine = nullptr;
};

// A server that keeps `pending` accepts going: each callback takes its socket and starts the
// next accept (from the callback, as the header recommends).
struct AcceptingServer
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    std::atomic<int> accepted{0};
    std::atomic<int> not_ok{0};
    std::atomic<bool> rearm{true};
    std::mutex mutex;
    std::vector<ASYNC_SOCKET_HANDLE> sockets;
    Counter done;

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<AcceptingServer*>(context);
        if (result == ASYNC_SOCKET_ACCEPT_OK)
        {
            {
                std::lock_guard<std::mutex> lock(self->mutex);
                self->sockets.push_back(socket);
            }
            self->accepted++;
            if (self->rearm.load())
            {
                EXPECT_EQ(0, async_socket_listener_accept_async(self->listener, on_accept, self));
            }
        }
        else
        {
            self->not_ok++;
        }
        self->done.add();
    }
    ~AcceptingServer()
    {
        for (ASYNC_SOCKET_HANDLE socket : sockets)
            async_socket_destroy(socket);
    }
};

// Tests_SRS_ASOCK_PER_LOOP_13_001, Tests_SRS_ASOCK_PER_LOOP_13_002
TEST_P(PerLoopListener, every_connection_is_accepted_exactly_once_and_its_socket_exchanges_bytes)
{
    AcceptingServer server;
    server.listener = listen();
    ASSERT_NE(nullptr, server.listener);
    const uint16_t port = async_socket_listener_get_port(server.listener);
    ASSERT_NE(0, port);
    for (uint32_t i = 0; i < 2 * kLoops; ++i)
        ASSERT_EQ(0, async_socket_listener_accept_async(server.listener, AcceptingServer::on_accept, &server));
    constexpr int kConnections = 64;
    std::vector<std::unique_ptr<ScopedSocket>> clients;
    for (int i = 0; i < kConnections; ++i)
    {
        clients.push_back(std::make_unique<ScopedSocket>(plain_connect(port)));
        ASSERT_NE(kNoSocket, clients.back()->get());
    }
    ASSERT_TRUE(server.done.wait_for(kConnections)) << server.accepted.load() << " of " << kConnections << " accepted";
    server.rearm = false;
    EXPECT_EQ(kConnections, server.accepted.load());
    EXPECT_EQ(0, server.not_ok.load());
    // Every accepted socket receives what its client sent (which socket is whose: by the byte).
    for (int i = 0; i < kConnections; ++i)
    {
        const uint8_t byte = static_cast<uint8_t>(i);
        ASSERT_TRUE(write_all(clients[static_cast<size_t>(i)]->get(), &byte, 1));
    }
    std::vector<int> seen(kConnections, 0);
    for (ASYNC_SOCKET_HANDLE socket : server.sockets)
    {
        const auto got = receive_exactly(socket, 1);
        ASSERT_EQ(1u, got.size());
        ASSERT_LT(got[0], kConnections);
        seen[got[0]]++;
    }
    for (int i = 0; i < kConnections; ++i)
        EXPECT_EQ(1, seen[static_cast<size_t>(i)]) << "connection " << i;
    async_socket_listener_destroy(server.listener);
    // The accepts still pending (2 x loops) end ABANDONED, once each.
    EXPECT_TRUE(server.done.wait_for(kConnections + 2 * kLoops));
    EXPECT_EQ(static_cast<int>(2 * kLoops), server.not_ok.load());
}

// Tests_SRS_ASOCK_PER_LOOP_13_003
TEST_P(PerLoopListener, destroy_completes_every_pending_accept_of_every_socket_once_with_abandoned)
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = listen();
    ASSERT_NE(nullptr, listener);
    constexpr int kAccepts = 7;
    AcceptRecord records[kAccepts];
    for (AcceptRecord& record : records)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener, AcceptRecord::callback, &record));
    async_socket_listener_destroy(listener);
    for (AcceptRecord& record : records)
    {
        EXPECT_EQ(1, record.calls.load()) << "completed by the time destroy returned";
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, record.result.load());
    }
}

// Tests_SRS_ASOCK_PER_LOOP_13_003
TEST_P(PerLoopListener, after_close_accepts_are_refused_with_ebadf_and_the_port_is_free)
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = listen();
    ASSERT_NE(nullptr, listener);
    const uint16_t port = async_socket_listener_get_port(listener);
    async_socket_listener_close(listener);
    AcceptRecord record;
    for (uint32_t i = 0; i < 2 * kLoops; ++i)  // every socket of it refuses
        EXPECT_EQ(EBADF, async_socket_listener_accept_async(listener, AcceptRecord::callback, &record));
    EXPECT_EQ(0, record.calls.load());
    // Nothing listens there any more: a plain listener can take the port.
    ASYNC_SOCKET_LISTENER_HANDLE again = nullptr;
    int error = -1;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine, "127.0.0.1", port, 4, &again, &error)) << "errno " << error;
    async_socket_listener_destroy(again);
    async_socket_listener_destroy(listener);
}

// Tests_SRS_ASOCK_PER_LOOP_13_004
TEST_P(PerLoopListener, cancel_accepts_cancels_the_accepts_of_every_socket_and_the_listener_still_accepts)
{
    AcceptingServer server;
    server.listener = listen();
    ASSERT_NE(nullptr, server.listener);
    constexpr int kAccepts = 6;
    AcceptRecord records[kAccepts];
    for (AcceptRecord& record : records)
        ASSERT_EQ(0, async_socket_listener_accept_async(server.listener, AcceptRecord::callback, &record));
    EXPECT_EQ(0, async_socket_listener_cancel_accepts(server.listener));
    for (AcceptRecord& record : records)
    {
        ASSERT_TRUE(record.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, record.result.load());
        EXPECT_EQ(1, record.calls.load());
    }
    // New accepts on every socket still get connections.
    for (uint32_t i = 0; i < 2 * kLoops; ++i)
        ASSERT_EQ(0, async_socket_listener_accept_async(server.listener, AcceptingServer::on_accept, &server));
    std::vector<std::unique_ptr<ScopedSocket>> clients;
    for (int i = 0; i < 16; ++i)
        clients.push_back(std::make_unique<ScopedSocket>(plain_connect(async_socket_listener_get_port(server.listener))));
    EXPECT_TRUE(server.done.wait_for(16));
    server.rearm = false;
    async_socket_listener_destroy(server.listener);
    EXPECT_EQ(16, server.accepted.load());
}

// An accept callback that destroys the listener while the other sockets have accepts pending.
struct DestroyingAccept
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    std::atomic<int> ok{0};
    std::atomic<int> abandoned{0};
    std::atomic<int> after_destroy{0};
    std::atomic<bool> destroyed{false};
    Counter done;

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<DestroyingAccept*>(context);
        if (self->destroyed.load())
            self->after_destroy++;
        if (result == ASYNC_SOCKET_ACCEPT_OK)
        {
            async_socket_destroy(socket);
            if (self->ok.fetch_add(1) == 0)
            {
                async_socket_listener_destroy(self->listener);
                self->destroyed = true;
            }
        }
        else if (result == ASYNC_SOCKET_ACCEPT_ABANDONED)
        {
            self->abandoned++;
        }
        self->done.add();
    }
};

// Tests_SRS_ASOCK_PER_LOOP_13_003
TEST_P(PerLoopListener, an_accept_callback_that_destroys_the_listener_ends_the_accepts_of_every_socket)
{
    DestroyingAccept state;
    state.listener = listen();
    ASSERT_NE(nullptr, state.listener);
    const uint16_t port = async_socket_listener_get_port(state.listener);
    constexpr int kAccepts = 8;
    for (int i = 0; i < kAccepts; ++i)
        ASSERT_EQ(0, async_socket_listener_accept_async(state.listener, DestroyingAccept::on_accept, &state));
    std::vector<std::unique_ptr<ScopedSocket>> clients;
    clients.push_back(std::make_unique<ScopedSocket>(plain_connect(port)));
    ASSERT_TRUE(state.done.wait_for(kAccepts)) << state.done.value() << " of " << kAccepts << " completed";
    EXPECT_EQ(kAccepts, state.ok.load() + state.abandoned.load());
    EXPECT_GE(state.ok.load(), 1);
    EXPECT_EQ(0, state.after_destroy.load()) << "a callback ran after the destroy returned";
}

// Tests_SRS_ASOCK_PER_LOOP_13_005
TEST_P(PerLoopListener, bad_arguments_are_refused_and_create_nothing)
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(0x1);
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_per_loop(nullptr, "127.0.0.1", 0, 0, &listener, &error));
    EXPECT_EQ(nullptr, listener);
    EXPECT_EQ(EINVAL, error);
    listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(0x1);
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_per_loop(engine, nullptr, 0, 0, &listener, &error));
    EXPECT_EQ(nullptr, listener);
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_per_loop(engine, "not an address", 0, 0, &listener, &error));
    EXPECT_EQ(nullptr, listener);
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_per_loop(engine, "127.0.0.1", 0, -1, &listener, &error));
    EXPECT_EQ(nullptr, listener);
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_per_loop(engine, "127.0.0.1", 0, 0, nullptr, &error));
}

// Tests_SRS_ASOCK_PER_LOOP_13_005
TEST_P(PerLoopListener, a_port_a_plain_listener_holds_is_refused_as_in_use_and_leaves_no_descriptor)
{
    ASYNC_SOCKET_LISTENER_HANDLE held = nullptr;
    int held_error = -1;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine, "127.0.0.1", 0, 4, &held, &held_error));
    OwnedListener plain(held);
    const uint16_t port = async_socket_listener_get_port(plain.get());
    const size_t descriptors = open_fd_count();
    ASYNC_SOCKET_LISTENER_HANDLE listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(0x1);
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE, async_socket_listener_create_per_loop(engine, "127.0.0.1", port, 0, &listener, &error));
    EXPECT_EQ(nullptr, listener);
    EXPECT_EQ(EADDRINUSE, error);
    EXPECT_EQ(descriptors, open_fd_count());
}

ASOCK_INSTANTIATE_CONTRACT(PerLoopListener);

}  // namespace
}  // namespace asock_test
