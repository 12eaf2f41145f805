// Uses the installed package from C++: a coroutine receives what the peer wrote and echoes it.
// Exit status 0 on success.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <future>
#include <span>

#include "asock/asock.hpp"

namespace {

asock::task echo_once(asock::socket& s, std::promise<asock::io_result>& done)
{
    if (asock::io_result opened = co_await s.open(); !opened)
    {
        done.set_value(opened);
        co_return;
    }
    std::array<std::byte, 64> buffer{};
    asock::io_result received = co_await s.receive(std::span(buffer));
    if (received)
        received = co_await s.send(std::span<const std::byte>(buffer).first(received.bytes));
    done.set_value(received);
}

}  // namespace

int main()
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return 1;
    asock::engine engine;
    asock::socket socket(engine, fds[0]);
    std::promise<asock::io_result> done;
    echo_once(socket, done);

    const char message[] = "hello from C++";
    if (write(fds[1], message, sizeof(message)) != static_cast<ssize_t>(sizeof(message)))
        return 2;
    const asock::io_result result = done.get_future().get();
    char in[sizeof(message)] = {};
    size_t got = 0;
    while (got < sizeof(in))
    {
        const ssize_t n = read(fds[1], in + got, sizeof(in) - got);
        if (n <= 0)
            return 3;
        got += static_cast<size_t>(n);
    }
    close(fds[1]);
    if (!result || std::memcmp(in, message, sizeof(in)) != 0)
    {
        std::printf("consumer (C++): failed: %s\n", result.error().message().c_str());
        return 4;
    }
    std::printf("consumer (C++): %s\n", in);
    return 0;
}
