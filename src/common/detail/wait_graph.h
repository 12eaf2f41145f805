// Who waits for whom among closes made from callbacks, so that a close never waits in a cycle.
//
// A close called from a callback may have to wait for another party: on Linux for the loop
// that owns the handle (which runs its closes), on Windows for the handle's running
// callbacks. When that party is itself waiting, through a chain of such closes, for the
// caller, waiting would deadlock. Each waiting thread registers one edge "from waits for to"
// (on its own stack) while it waits. Windows: the thread whose edge would close a cycle is
// told so (add returns false) and does not wait. Linux: a waiting loop keeps serving closes,
// and asks (reaches) whether a thread waiting for it is part of a cycle. Edges are added and
// searched under one process-wide mutex: two threads closing each other's handles at the same
// moment cannot both miss a cycle. The nodes are opaque addresses chosen by the platform (a
// loop, a handle).
#pragma once

namespace asock::detail {

class WaitEdge
{
public:
    WaitEdge() noexcept = default;
    ~WaitEdge();
    WaitEdge(const WaitEdge&) = delete;
    WaitEdge& operator=(const WaitEdge&) = delete;

    // Registers "from waits for to" unless that closes a cycle (to already waits, directly or
    // through other edges, for from; or to is from). Returns true when it registered the edge:
    // the caller may wait; false: the caller must not wait (nothing is registered).
    bool add(const void* from, const void* to) noexcept;
    // Registers "from waits for to" whatever else waits.
    void add_unchecked(const void* from, const void* to) noexcept;
    // Whether from waits, through the registered edges, for to.
    static bool reaches(const void* from, const void* to) noexcept;
    // Unregisters the edge (the wait is over). Safe to call when nothing is registered.
    void remove() noexcept;

private:
    friend struct WaitGraphAccess;
    const void* from_ = nullptr;
    const void* to_ = nullptr;
    WaitEdge* next_ = nullptr;
    bool registered_ = false;
    bool visited_ = false;  // search mark, under the graph's mutex
};

// fork(): the graph's mutex, taken before a fork and let go in parent and child, so that a
// child never inherits it locked by a thread it does not have (the platform registers these
// with pthread_atfork where there is fork).
void wait_graph_lock_for_fork() noexcept;
void wait_graph_unlock_after_fork() noexcept;

}  // namespace asock::detail
