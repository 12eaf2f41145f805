// The loop's heap of deadlines (src/common/detail/timer_heap.h), against a sorted reference:
// arming, disarming any node and taking the earliest, in random order.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "detail/timer_heap.h"

namespace asock_test {
namespace {

using asock::detail::TimerHeap;
using asock::detail::TimerNode;

TEST(TimerHeap, gives_the_earliest_deadline_first_through_random_arms_and_disarms)
{
    std::mt19937 random(11);
    std::vector<TimerNode> nodes(2000);
    std::vector<bool> armed(nodes.size(), false);
    std::multiset<std::pair<uint64_t, TimerNode*>> reference;
    TimerHeap heap;
    for (int step = 0; step < 200000; ++step)
    {
        const size_t i = random() % nodes.size();
        const uint32_t action = random() % 10;
        if (action < 5 && !armed[i])
        {
            const uint64_t deadline = random() % 1000;  // many equal deadlines
            heap.arm(nodes[i], deadline, &nodes[i]);
            reference.insert({deadline, &nodes[i]});
            armed[i] = true;
        }
        else if (action < 8 && armed[i])
        {
            heap.disarm(nodes[i]);
            reference.erase(reference.find({nodes[i].deadline_ns, &nodes[i]}));
            armed[i] = false;
        }
        else if (!heap.empty())
        {
            TimerNode* top = heap.top();
            ASSERT_EQ(reference.begin()->first, top->deadline_ns) << "step " << step;
            heap.disarm(*top);
            reference.erase(reference.find({top->deadline_ns, top}));
            armed[static_cast<size_t>(top - nodes.data())] = false;
        }
        ASSERT_EQ(reference.empty(), heap.empty());
        for (size_t k = 0; k < 3 && k < nodes.size(); ++k)
            ASSERT_EQ(static_cast<bool>(armed[(i + k) % nodes.size()]), heap.armed(nodes[(i + k) % nodes.size()]));
    }
    // What is left comes out in order.
    uint64_t last = 0;
    while (!heap.empty())
    {
        TimerNode* top = heap.top();
        EXPECT_GE(top->deadline_ns, last);
        last = top->deadline_ns;
        heap.disarm(*top);
    }
}

TEST(TimerHeap, disarming_a_node_that_is_not_armed_changes_nothing)
{
    TimerHeap heap;
    TimerNode a{}, b{};
    heap.disarm(a);
    EXPECT_TRUE(heap.empty());
    heap.arm(a, 5, &a);
    heap.disarm(b);
    EXPECT_EQ(&a, heap.top());
    heap.disarm(a);
    heap.disarm(a);
    EXPECT_TRUE(heap.empty());
    EXPECT_FALSE(heap.armed(a));
}

}  // namespace
}  // namespace asock_test
