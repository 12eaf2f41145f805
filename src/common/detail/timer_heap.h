// Deadlines: an intrusive pairing heap, ordered by deadline, then by the order of arming. The
// nodes live inside what has a deadline (a Linux operation, a Windows timer), so arming and
// disarming never allocate; insert is O(1), removing the earliest or any node O(log n)
// amortized. A Linux loop sleeps until the earliest deadline (timers, timed receives,
// connects); a Windows engine sets its one threadpool timer for it (win32/timer_win32.cpp,
// deadlines on QueryPerformanceCounter in nanoseconds). Platform-free.
#pragma once

#include <chrono>
#include <cstdint>

namespace asock::detail {
// CLOCK_MONOTONIC (steady_clock), in nanoseconds: the clock of every deadline.
inline uint64_t monotonic_now_ns() noexcept
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
inline uint64_t deadline_after_ms(uint32_t ms) noexcept { return monotonic_now_ns() + static_cast<uint64_t>(ms) * 1000000u; }

// Trivial on purpose (it sits in a union of Op): TimerHeap::arm sets every field.
struct TimerNode
{
    uint64_t deadline_ns;  // CLOCK_MONOTONIC
    uint64_t sequence;     // the order of arming: equal deadlines end in that order
    TimerNode* child;
    TimerNode* sibling;
    // The left sibling, or the parent for a first child; nullptr for the root and for a node
    // that is not armed.
    TimerNode* back;
    void* owner;  // what has the deadline (an operation)
};

// A node not armed, with the deadline arm will use (0: none): disarm may be called on it.
inline void timer_node_init(TimerNode& node, uint64_t deadline_ns) noexcept { node = TimerNode{deadline_ns, 0, nullptr, nullptr, nullptr, nullptr}; }

class TimerHeap
{
public:
    bool empty() const noexcept { return root_ == nullptr; }
    TimerNode* top() const noexcept { return root_; }
    bool armed(const TimerNode& node) const noexcept { return &node == root_ || node.back != nullptr; }

    void arm(TimerNode& node, uint64_t deadline_ns, void* owner) noexcept
    {
        node.deadline_ns = deadline_ns;
        node.sequence = next_sequence_++;
        node.owner = owner;
        node.child = node.sibling = node.back = nullptr;
        root_ = meld(root_, &node);
    }

    void disarm(TimerNode& node) noexcept
    {
        if (!armed(node))
            return;
        if (&node == root_)
        {
            root_ = merge_pairs(node.child);
            if (root_ != nullptr)
                root_->back = nullptr;
        }
        else
        {
            unlink(node);
            TimerNode* children = merge_pairs(node.child);
            if (children != nullptr)
                children->back = nullptr;
            root_ = meld(root_, children);
        }
        node.child = node.sibling = node.back = nullptr;
    }

private:
    // Makes the later of two roots the first child of the earlier one.
    static TimerNode* meld(TimerNode* a, TimerNode* b) noexcept
    {
        if (a == nullptr)
            return b;
        if (b == nullptr)
            return a;
        if (b->deadline_ns < a->deadline_ns || (b->deadline_ns == a->deadline_ns && b->sequence < a->sequence))
        {
            TimerNode* t = a;
            a = b;
            b = t;
        }
        b->back = a;
        b->sibling = a->child;
        if (a->child != nullptr)
            a->child->back = b;
        a->child = b;
        a->sibling = nullptr;
        a->back = nullptr;
        return a;
    }

    // Takes a non-root node (and its subtree) out of its sibling list.
    static void unlink(TimerNode& node) noexcept
    {
        if (node.back->child == &node)
            node.back->child = node.sibling;
        else
            node.back->sibling = node.sibling;
        if (node.sibling != nullptr)
            node.sibling->back = node.back;
        node.sibling = nullptr;
        node.back = nullptr;
    }

    // The two-pass pairing of a sibling list into one tree: pairs melded left to right, then
    // the pairs melded right to left (iteratively, through the pairs' sibling links).
    static TimerNode* merge_pairs(TimerNode* first) noexcept
    {
        TimerNode* pairs = nullptr;  // the melded pairs, in reverse order
        while (first != nullptr)
        {
            TimerNode* a = first;
            TimerNode* b = a->sibling;
            first = b != nullptr ? b->sibling : nullptr;
            a->sibling = a->back = nullptr;
            if (b != nullptr)
                b->sibling = b->back = nullptr;
            TimerNode* pair = meld(a, b);
            pair->sibling = pairs;
            pairs = pair;
        }
        TimerNode* result = nullptr;
        while (pairs != nullptr)
        {
            TimerNode* next = pairs->sibling;
            pairs->sibling = nullptr;
            result = meld(result, pairs);
            pairs = next;
        }
        return result;
    }

    TimerNode* root_ = nullptr;
    uint64_t next_sequence_ = 0;
};

}  // namespace asock::detail
