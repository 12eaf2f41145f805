// The ledger of the hostile-peer and stress tests: operations accepted and completions
// delivered, counted by kind and result, so that a test can show that every accepted
// operation completed exactly once (accepted == delivered at the end, no duplicate) and that
// no callback arrived after its socket's close had returned (late). Counters only: callbacks
// on any thread may use it, and it never blocks them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>

#include "asock/async_socket.h"

namespace asock_test {

class Ledger
{
public:
    enum class Kind
    {
        open,
        send,
        receive,
    };

    // The call returned 0 (open, receive) or ASYNC_SOCKET_SEND_SYNC_OK (send): exactly one
    // completion is owed.
    void accepted(Kind kind) { slot(kind).accepted.fetch_add(1, std::memory_order_relaxed); }
    // The call refused the operation (socket not open): no completion may ever come.
    void refused(Kind kind) { slot(kind).refused.fetch_add(1, std::memory_order_relaxed); }
    void accepted_or_refused(Kind kind, bool was_accepted) { was_accepted ? accepted(kind) : refused(kind); }

    void delivered(ASYNC_SOCKET_OPEN_RESULT result) { count_result(opens_, static_cast<int>(result)); }
    void delivered(ASYNC_SOCKET_SEND_RESULT result) { count_result(sends_, static_cast<int>(result)); }
    void delivered(ASYNC_SOCKET_RECEIVE_RESULT result) { count_result(receives_, static_cast<int>(result)); }

    // A callback that came after the close of its socket had returned (02_011).
    void late() { late_.fetch_add(1, std::memory_order_relaxed); }
    // A second callback for one operation (02_002).
    void duplicate() { duplicates_.fetch_add(1, std::memory_order_relaxed); }

    uint64_t accepted_count() const { return opens_.accepted.load() + sends_.accepted.load() + receives_.accepted.load(); }
    uint64_t refused_count() const { return opens_.refused.load() + sends_.refused.load() + receives_.refused.load(); }
    uint64_t delivered_count() const { return delivered_of(opens_) + delivered_of(sends_) + delivered_of(receives_); }
    uint64_t delivered_count(ASYNC_SOCKET_OPEN_RESULT result) const { return opens_.results[index(static_cast<int>(result))].load(); }
    uint64_t delivered_count(ASYNC_SOCKET_SEND_RESULT result) const { return sends_.results[index(static_cast<int>(result))].load(); }
    uint64_t delivered_count(ASYNC_SOCKET_RECEIVE_RESULT result) const { return receives_.results[index(static_cast<int>(result))].load(); }
    uint64_t late_count() const { return late_.load(); }
    uint64_t duplicate_count() const { return duplicates_.load(); }

    // Waits (bounded) until every accepted operation has been delivered.
    bool wait_until_balanced(std::chrono::milliseconds timeout) const
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (delivered_count() < accepted_count())
        {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return true;
    }

    // accepted == delivered, per kind, and nothing late or doubled.
    bool balanced() const
    {
        return opens_.accepted.load() == delivered_of(opens_) && sends_.accepted.load() == delivered_of(sends_) &&
               receives_.accepted.load() == delivered_of(receives_) && late_.load() == 0 && duplicates_.load() == 0 && unknown_.load() == 0;
    }

    // One line for logs and docs: "operations accepted 10, completions delivered 10 (opens 2
    // accepted, 0 refused -> OK 2, ERROR 0; sends ...".
    std::string figures() const
    {
        std::ostringstream out;
        out << "operations accepted " << accepted_count() << ", completions delivered " << delivered_count() << " (opens "
            << opens_.accepted.load() << " accepted, " << opens_.refused.load() << " refused -> OK " << delivered_count(ASYNC_SOCKET_OPEN_OK) << ", ERROR "
            << delivered_count(ASYNC_SOCKET_OPEN_ERROR) << "; sends " << sends_.accepted.load() << " accepted, " << sends_.refused.load() << " refused -> OK " << delivered_count(ASYNC_SOCKET_SEND_OK) << ", ERROR "
            << delivered_count(ASYNC_SOCKET_SEND_ERROR) << ", ABANDONED " << delivered_count(ASYNC_SOCKET_SEND_ABANDONED) << "; receives "
            << receives_.accepted.load() << " accepted, " << receives_.refused.load() << " refused -> OK " << delivered_count(ASYNC_SOCKET_RECEIVE_OK)
            << ", ERROR " << delivered_count(ASYNC_SOCKET_RECEIVE_ERROR) << ", ABANDONED " << delivered_count(ASYNC_SOCKET_RECEIVE_ABANDONED)
            << "); late callbacks " << late_.load() << ", duplicate callbacks " << duplicates_.load() << ", unknown results " << unknown_.load();
        return out.str();
    }

private:
    // OK, ERROR, ABANDONED for sends and receives; OK, ERROR for opens.
    static constexpr int kResults = 3;

    struct Counts
    {
        std::atomic<uint64_t> accepted{0};
        std::atomic<uint64_t> refused{0};
        std::array<std::atomic<uint64_t>, kResults> results{};
    };

    Counts& slot(Kind kind) { return kind == Kind::open ? opens_ : kind == Kind::send ? sends_ : receives_; }

    static int index(int result) { return result >= 0 && result < kResults ? result : 0; }

    void count_result(Counts& counts, int result)
    {
        if (result < 0 || result >= kResults)
        {
            // Not a value of the enum: counted apart, so that the totals stay unbalanced.
            unknown_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        counts.results[static_cast<size_t>(result)].fetch_add(1);  // ordered: whoever sees the count sees what the callback did before
    }

    static uint64_t delivered_of(const Counts& counts)
    {
        uint64_t total = 0;
        for (const auto& n : counts.results)
            total += n.load();
        return total;
    }

    Counts opens_;
    Counts sends_;
    Counts receives_;
    std::atomic<uint64_t> late_{0};
    std::atomic<uint64_t> duplicates_{0};
    std::atomic<uint64_t> unknown_{0};
};

}  // namespace asock_test
