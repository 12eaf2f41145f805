// The fake OS itself: the checks the backend's tests rely on do fire.
#include <gtest/gtest.h>

#include "win32/fake_os.h"

namespace asock_test::win32 {
namespace {

const asock::detail::Win32Api& os() { return asock::detail::os(); }

TEST(FakeOs, fail_nth_fails_exactly_that_call_with_its_error)
{
    FakeOs fake;
    fake.install();
    fake.fail_nth("CreateEventW", 2, ERROR_ACCESS_DENIED);
    HANDLE first = os().CreateEventW(nullptr, FALSE, FALSE, nullptr);
    HANDLE second = os().CreateEventW(nullptr, FALSE, FALSE, nullptr);
    EXPECT_EQ(ERROR_ACCESS_DENIED, static_cast<DWORD>(os().WSAGetLastError()));
    HANDLE third = os().CreateEventW(nullptr, FALSE, FALSE, nullptr);
    EXPECT_NE(nullptr, first);
    EXPECT_EQ(nullptr, second);
    EXPECT_NE(nullptr, third);
    EXPECT_EQ(2u, fake.books().events);
    os().CloseHandle(first);
    os().CloseHandle(third);
    EXPECT_TRUE(fake.books().balanced()) << fake.books().describe();
    EXPECT_TRUE(fake.violations().empty());
    fake.uninstall();
    EXPECT_EQ(&asock::detail::real_os(), &asock::detail::os());
}

TEST(FakeOs, books_show_what_is_not_released)
{
    FakeOs fake;
    fake.install();
    void* block = os().malloc(10);
    PTP_POOL pool = os().CreateThreadpool(nullptr);
    TP_CALLBACK_ENVIRON environment{};
    os().InitializeThreadpoolEnvironment(&environment);
    Books books = fake.books();
    EXPECT_EQ(1u, books.blocks);
    EXPECT_EQ(10u, books.bytes);
    EXPECT_EQ(1u, books.pools);
    EXPECT_EQ(1u, books.environments);
    EXPECT_FALSE(books.balanced());
    os().free(block);
    os().CloseThreadpool(pool);
    os().DestroyThreadpoolEnvironment(&environment);
    EXPECT_TRUE(fake.books().balanced()) << fake.books().describe();
    EXPECT_FALSE(fake.block_live(block));
}

TEST(FakeOs, releasing_twice_is_a_violation)
{
    FakeOs fake;
    fake.install();
    void* block = os().malloc(4);
    os().free(block);
    os().free(block);
    HANDLE event = os().CreateEventW(nullptr, FALSE, FALSE, nullptr);
    EXPECT_TRUE(os().CloseHandle(event));
    EXPECT_FALSE(os().CloseHandle(event));
    EXPECT_EQ(2u, fake.violations().size()) << fake.describe_violations();
}

VOID CALLBACK wait_from_own_callback(PTP_CALLBACK_INSTANCE, PVOID, PVOID, ULONG, ULONG_PTR, PTP_IO io) { os().WaitForThreadpoolIoCallbacks(io, FALSE); }

TEST(FakeOs, waiting_for_an_io_from_its_own_callback_is_a_deadlock)
{
    FakeOs fake;
    fake.install();
    const SOCKET s = fake.new_socket();
    PTP_POOL pool = os().CreateThreadpool(nullptr);
    TP_CALLBACK_ENVIRON environment{};
    os().InitializeThreadpoolEnvironment(&environment);
    os().SetThreadpoolCallbackPool(&environment, pool);
    PTP_IO io = os().CreateThreadpoolIo(reinterpret_cast<HANDLE>(s), wait_from_own_callback, nullptr, &environment);
    ASSERT_NE(nullptr, io);
    fake.deliver_raw(fake.last_io(), nullptr, NO_ERROR, 0);
    ASSERT_EQ(1u, fake.violations().size());
    EXPECT_NE(std::string::npos, fake.violations()[0].find("deadlock"));
    os().CloseThreadpoolIo(io);
    os().DestroyThreadpoolEnvironment(&environment);
    os().CloseThreadpool(pool);
    os().closesocket(s);
    EXPECT_TRUE(fake.books().balanced()) << fake.books().describe();
}

TEST(FakeOs, an_operation_without_start_or_left_started_is_a_violation)
{
    FakeOs fake;
    fake.install();
    const SOCKET s = fake.new_socket();
    PTP_POOL pool = os().CreateThreadpool(nullptr);
    TP_CALLBACK_ENVIRON environment{};
    os().InitializeThreadpoolEnvironment(&environment);
    os().SetThreadpoolCallbackPool(&environment, pool);
    PTP_IO io = os().CreateThreadpoolIo(reinterpret_cast<HANDLE>(s), wait_from_own_callback, nullptr, &environment);
    char byte = 0;
    WSABUF buffer{1, &byte};
    OVERLAPPED overlapped{};
    EXPECT_EQ(SOCKET_ERROR, os().WSASend(s, &buffer, 1, nullptr, 0, &overlapped, nullptr));  // no StartThreadpoolIo
    EXPECT_EQ(WSA_IO_PENDING, os().WSAGetLastError());
    os().StartThreadpoolIo(io);
    os().CloseThreadpoolIo(io);  // one start never matched
    const auto violations = fake.violations();
    ASSERT_EQ(2u, violations.size()) << fake.describe_violations();
    EXPECT_NE(std::string::npos, violations[0].find("without StartThreadpoolIo"));
    EXPECT_NE(std::string::npos, violations[1].find("neither completed nor cancelled"));
    os().DestroyThreadpoolEnvironment(&environment);
    os().CloseThreadpool(pool);
    os().closesocket(s);
}

}  // namespace
}  // namespace asock_test::win32
