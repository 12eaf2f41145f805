// Closes made from callbacks that wait on each other: handles whose callbacks close (or
// destroy) each other, listeners and sockets alike (SRS_ASYNC_SOCKET_WIN32_77_003, 77_008).
// Whatever the backend, every close returns, nothing hangs, every operation completes
// exactly once, and a destroy frees nothing still in use (ASan checks that on Linux). The one
// thing these tests do not check is whether a close waited for the other handle's running
// callback: the close that would close the cycle may not (docs/requirements/).
//
// Each handle ("party") of a round has two operations pending; the first one to complete OK
// runs the party's action once all parties' callbacks have arrived (a rendezvous, so that the
// callbacks really run at the same moment). A round that does not end in time is reported as
// a deadlock and its state, handles and engines are leaked: threads stuck in them may still
// touch them.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "contract/accept_connect_helpers.h"
#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

constexpr int kRounds = 20;
constexpr auto kRendezvous = std::chrono::milliseconds(1000);

struct Round;

// One handle of a round, a socket or a listener, with its two pending operations.
struct Party
{
    struct Op
    {
        Party* party = nullptr;
        std::atomic<int> calls{0};
        std::atomic<int> result{-1};
        std::atomic<ASYNC_SOCKET_HANDLE> accepted{nullptr};
        std::array<uint8_t, 16> buffer{};
    };

    Round* round = nullptr;
    ASYNC_SOCKET_HANDLE socket = nullptr;
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    NativeSocket peer = kNoSocket;
    std::function<void()> action;
    std::atomic<bool> triggered{false};
    std::atomic<bool> acting{false};
    std::atomic<bool> destroyed{false};  // by another party's action
    Op ops[2];
};

// One round: its parties and how far their callbacks got.
struct Round
{
    std::vector<Party> parties;
    std::atomic<int> arrived{0};
    std::atomic<int> missed_rendezvous{0};
    // Set by trigger, after the parties' actions are written: the callbacks read them after
    // they see it (the byte or connection that wakes them goes through the kernel, which a
    // thread sanitizer cannot see as an order).
    std::atomic<bool> armed{false};
    Counter callbacks_returned;

    explicit Round(size_t count) : parties(count)
    {
        for (Party& party : parties)
        {
            party.round = this;
            for (Party::Op& op : party.ops)
                op.party = &party;
        }
    }
    uint64_t operation_count() const { return 2 * parties.size(); }
    // The operations that complete before the test destroys what is left: all of them, but for
    // a party nobody closes (its second operation completes when the test destroys it).
    uint64_t completed_by_the_round = 0;
};

// The first OK completion of a party: meet the other parties' callbacks, then act.
void run_action(Party& party)
{
    Round& round = *party.round;
    while (!round.armed.load(std::memory_order_acquire))
        std::this_thread::yield();
    round.arrived++;
    const int everyone = static_cast<int>(round.parties.size());
    if (!wait_until([&] { return round.arrived.load() >= everyone; }, kRendezvous))
        round.missed_rendezvous++;
    party.acting = true;
    party.action();
}

void completed(Party::Op& op, int result, bool ok)
{
    op.result = result;
    op.calls++;
    if (ok && !op.party->triggered.exchange(true))
        run_action(*op.party);
    op.party->round->callbacks_returned.add();
}

void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
{
    completed(*static_cast<Party::Op*>(context), result, result == ASYNC_SOCKET_RECEIVE_OK);
}

void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE accepted, int)
{
    auto& op = *static_cast<Party::Op*>(context);
    op.accepted = accepted;
    completed(op, result, result == ASYNC_SOCKET_ACCEPT_OK);
}

class CloseCycles : public Contract
{
protected:
    void TearDown() override
    {
        if (!leaked_)
            for (EXECUTION_ENGINE_HANDLE e : engines_)
                execution_engine_dec_ref(e);
        Contract::TearDown();
    }

    // An engine of its own for each party: on Linux each party then has its own loop thread,
    // so that their callbacks can run at the same moment.
    EXECUTION_ENGINE_HANDLE engine_of(size_t party)
    {
        while (engines_.size() <= party)
            engines_.push_back(make_engine(GetParam(), 1));
        return engines_[party];
    }

    // A socket with two receives pending; the trigger is one byte from the peer.
    void make_socket_party(Round& round, size_t index)
    {
        Party& party = round.parties[index];
        Connection c = tcp_connection();
        party.peer = c.peer;
        party.socket = create_and_open(engine_of(index), c.ours);
        for (Party::Op& op : party.ops)
        {
            ASYNC_SOCKET_BUFFER buffer{op.buffer.data(), static_cast<uint32_t>(op.buffer.size())};
            EXPECT_EQ(0, async_socket_receive_async(party.socket, &buffer, 1, on_receive, &op));
        }
    }

    // A listener with two accepts pending; the trigger is a connection.
    void make_listener_party(Round& round, size_t index)
    {
        Party& party = round.parties[index];
        int error = -1;
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine_of(index), "127.0.0.1", 0, 16, &party.listener, &error)) << error;
        for (Party::Op& op : party.ops)
            EXPECT_EQ(0, async_socket_listener_accept_async(party.listener, on_accept, &op));
    }

    // Makes every party's first operation complete (a byte, a connection).
    static void trigger(Round& round)
    {
        round.armed.store(true, std::memory_order_release);
        for (Party& party : round.parties)
        {
            if (party.socket != nullptr)
                EXPECT_TRUE(write_all(party.peer, "x", 1));
            else
                party.peer = plain_connect(async_socket_listener_get_port(party.listener));  // refused if already closed
        }
    }

    // Waits for the round to end, then destroys what is left and checks that every operation
    // completed exactly once. False when something hung (everything is then leaked).
    bool finish(Round* round, int index)
    {
        const uint64_t expected = round->completed_by_the_round != 0 ? round->completed_by_the_round : round->operation_count();
        if (!round->callbacks_returned.wait_for(expected, kHangTimeout))
        {
            ADD_FAILURE() << "round " << index << ": the closes made from the callbacks deadlocked (" << round->callbacks_returned.value() << " of " << expected
                          << " callbacks returned;" << describe(*round) << ")";
            leaked_ = true;
            return false;
        }
        const bool cleaned = finishes_within(kHangTimeout, [round] {
            for (Party& party : round->parties)
            {
                if (party.socket != nullptr && !party.destroyed)
                    async_socket_destroy(party.socket);
                async_socket_listener_destroy(party.listener);
                for (Party::Op& op : party.ops)
                    async_socket_destroy(op.accepted.load());
            }
        });
        if (!cleaned)
        {
            ADD_FAILURE() << "round " << index << ": destroying the handles afterwards hung";
            leaked_ = true;
            return false;
        }
        EXPECT_TRUE(round->callbacks_returned.wait_for(round->operation_count(), kHangTimeout)) << "round " << index << ":" << describe(*round);
        for (size_t p = 0; p < round->parties.size(); ++p)
        {
            Party& party = round->parties[p];
            for (Party::Op& op : party.ops)
                EXPECT_EQ(1, op.calls.load()) << "round " << index << ", party " << p << ": an operation did not complete exactly once";
            if (party.peer != kNoSocket)
                close_socket(party.peer);
        }
        missed_ += round->missed_rendezvous.load() != 0;
        delete round;
        return true;
    }

    // Where each party's callbacks got to.
    static std::string describe(const Round& round)
    {
        std::string text;
        for (size_t p = 0; p < round.parties.size(); ++p)
        {
            const Party& party = round.parties[p];
            text += " party " + std::to_string(p) + (party.acting ? " acting" : party.triggered ? " triggered" : "") + ", calls";
            for (const Party::Op& op : party.ops)
                text += " " + std::to_string(op.calls.load()) + "(result " + std::to_string(op.result.load()) + ")";
            text += ";";
        }
        return text;
    }

    // Most rounds really had the callbacks running at the same moment.
    void expect_rendezvous_met(int rounds) { EXPECT_LT(missed_, rounds / 2) << "the callbacks seldom ran at the same moment: the cycle was not tested"; }

    std::vector<EXECUTION_ENGINE_HANDLE> engines_;
    bool leaked_ = false;
    int missed_ = 0;
};

// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
// Tests_SRS_ASYNC_SOCKET_WIN32_77_008
TEST_P(CloseCycles, two_listeners_whose_accept_callbacks_close_each_other_do_not_hang)
{
    for (int i = 0; i < kRounds; ++i)
    {
        auto* round = new Round(2);
        make_listener_party(*round, 0);
        make_listener_party(*round, 1);
        Party& first = round->parties[0];
        Party& second = round->parties[1];
        first.action = [&second] { async_socket_listener_close(second.listener); };
        second.action = [&first] { async_socket_listener_close(first.listener); };
        trigger(*round);
        if (!finish(round, i))
            return;
        if (HasFailure())
            break;
    }
    expect_rendezvous_met(kRounds);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
// Tests_SRS_ASYNC_SOCKET_WIN32_77_008
TEST_P(CloseCycles, a_socket_and_a_listener_whose_callbacks_close_each_other_do_not_hang)
{
    for (int i = 0; i < kRounds; ++i)
    {
        auto* round = new Round(2);
        make_socket_party(*round, 0);
        make_listener_party(*round, 1);
        Party& socket = round->parties[0];
        Party& listener = round->parties[1];
        socket.action = [&listener] { async_socket_listener_close(listener.listener); };
        listener.action = [&socket] { async_socket_close(socket.socket); };
        trigger(*round);
        if (!finish(round, i))
            return;
        if (HasFailure())
            break;
    }
    expect_rendezvous_met(kRounds);
}

// Two sockets closing each other from their callbacks, and a third socket's callback
// destroying one of them meanwhile: the destroy waits for the close under way (01_093), which
// is part of the cycle the other two make.
// Tests_SRS_ASYNC_SOCKET_WIN32_01_093
// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
// Tests_SRS_ASYNC_SOCKET_WIN32_77_008
TEST_P(CloseCycles, a_destroy_from_a_third_callback_during_two_sockets_closing_each_other_does_not_hang)
{
    for (int i = 0; i < kRounds; ++i)
    {
        auto* round = new Round(3);
        for (size_t p = 0; p < 3; ++p)
            make_socket_party(*round, p);
        round->completed_by_the_round = 5;  // the third socket's second receive waits for the end
        Party& a = round->parties[0];
        Party& b = round->parties[1];
        Party& c = round->parties[2];
        a.action = [&b] { async_socket_close(b.socket); };
        b.action = [&a] { async_socket_close(a.socket); };
        c.action = [&a, &b] {
            // Once both closes are under way (b's close of a has begun: a refuses operations),
            // so that this destroy meets the close of a. If b never got that far, a is left to
            // the end of the round: b's close of a may still come.
            (void)wait_until([&] { return a.acting.load() && b.acting.load(); }, kRendezvous);
            if (!wait_until_not_open(a.socket, kRendezvous))
                return;
            a.destroyed = true;
            async_socket_destroy(a.socket);
        };
        trigger(*round);
        if (!finish(round, i))
            return;
        if (HasFailure())
            break;
    }
    expect_rendezvous_met(kRounds);
}

ASOCK_INSTANTIATE_CONTRACT(CloseCycles);

}  // namespace
}  // namespace asock_test
