// Per-loop listeners on Linux, where an engine has loops: the system spreads connections over
// the loops' listening sockets, and each connection is served by the loop that accepted it
// (its callbacks run on the thread of the accept callback that handed it over).
// Requirements: docs/requirements/per_loop_listener.md (SRS_ASOCK_PER_LOOP_13_002).
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

constexpr uint32_t kLoops = 2;

// Per accepted socket: the thread of its accept callback, then that of its receive callback.
struct ServedConnection
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::thread::id accepted_on;
    std::atomic<std::thread::id> received_on{};
    uint8_t byte = 0;
    Counter received;

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<ServedConnection*>(context);
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, result);
        EXPECT_EQ(1u, bytes);
        self->received_on = std::this_thread::get_id();
        self->received.add();
    }
};

struct ThreadRecordingServer
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    std::mutex mutex;
    std::vector<std::unique_ptr<ServedConnection>> connections;
    Counter accepted;
    std::atomic<bool> rearm{true};

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<ThreadRecordingServer*>(context);
        if (result != ASYNC_SOCKET_ACCEPT_OK)
            return;
        auto connection = std::make_unique<ServedConnection>();
        connection->socket = socket;
        connection->accepted_on = std::this_thread::get_id();
        ASYNC_SOCKET_BUFFER buffer{&connection->byte, 1};
        EXPECT_EQ(0, async_socket_receive_async(socket, &buffer, 1, ServedConnection::on_receive, connection.get()));
        {
            std::lock_guard<std::mutex> lock(self->mutex);
            self->connections.push_back(std::move(connection));
        }
        if (self->rearm.load())
        {
            EXPECT_EQ(0, async_socket_listener_accept_async(self->listener, on_accept, self));
        }
        self->accepted.add();
    }
};

class PerLoopListenerLinux : public ::testing::TestWithParam<Backend>
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
    EXECUTION_ENGINE_HANDLE engine = nullptr;
};

// Tests_SRS_ASOCK_PER_LOOP_13_002
TEST_P(PerLoopListenerLinux, connections_are_spread_over_the_loops_and_each_is_served_by_the_loop_that_accepted_it)
{
    ThreadRecordingServer server;
    int error = -1;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create_per_loop(engine, "127.0.0.1", 0, 128, &server.listener, &error));
    for (uint32_t i = 0; i < 2 * kLoops; ++i)
        ASSERT_EQ(0, async_socket_listener_accept_async(server.listener, ThreadRecordingServer::on_accept, &server));
    // 64 connections from 64 source ports: the system's hash gives both sockets some (all on
    // one of two has a probability of 2^-63).
    constexpr int kConnections = 64;
    std::vector<std::unique_ptr<ScopedSocket>> clients;
    for (int i = 0; i < kConnections; ++i)
        clients.push_back(std::make_unique<ScopedSocket>(plain_connect(async_socket_listener_get_port(server.listener))));
    ASSERT_TRUE(server.accepted.wait_for(kConnections));
    server.rearm = false;
    const uint8_t byte = 7;
    for (auto& client : clients)
        ASSERT_TRUE(write_all(client->get(), &byte, 1));
    std::set<std::thread::id> accepting_threads;
    for (auto& connection : server.connections)
    {
        ASSERT_TRUE(connection->received.wait_for(1));
        EXPECT_EQ(connection->accepted_on, connection->received_on.load()) << "a connection moved to another loop";
        accepting_threads.insert(connection->accepted_on);
    }
    EXPECT_EQ(kLoops, accepting_threads.size()) << "the system gave every connection to one loop";
    async_socket_listener_destroy(server.listener);
    for (auto& connection : server.connections)
        async_socket_destroy(connection->socket);
}

ASOCK_INSTANTIATE_CONTRACT(PerLoopListenerLinux);

}  // namespace
}  // namespace asock_test
