// asock-echo-client-coro: connects to an echo server with a coroutine, sends N messages one at
// a time and checks that each comes back. Exit status 0 when every byte matched.
//
//   asock-echo-client-coro [--port N] [--address A] [--count N]   (7000, "::1", 1000)
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <span>

#include "asock/asock.hpp"

namespace {

using namespace std::chrono_literals;


asock::task run(asock::engine& engine, const char* address, std::uint16_t port, int count, std::promise<std::error_code>& done)
{
    asock::connection c = co_await asock::connect(engine, address, port, 2s);
    if (!c)
    {
        done.set_value(c.error);
        co_return;
    }
    std::array<std::byte, 64> out;
    std::array<std::byte, 64> in;
    for (int m = 0; m < count; ++m)
    {
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<std::byte>(m * 31 + static_cast<int>(i));
        if (asock::io_result sent = co_await c.socket.send(std::span<const std::byte>(out)); !sent)
        {
            done.set_value(sent.error());
            co_return;
        }
        for (std::size_t got = 0; got < in.size();)
        {
            asock::io_result r = co_await c.socket.receive(std::span(in).subspan(got));
            if (!r)
            {
                done.set_value(r.error());
                co_return;
            }
            got += r.bytes;
        }
        if (in != out)
        {
            done.set_value(std::make_error_code(std::errc::bad_message));
            co_return;
        }
    }
    done.set_value({});
}

}  // namespace

int main(int argc, char** argv)
{
    const char* address = "::1";
    unsigned long port = 7000;
    int count = 1000;
    for (int i = 1; i + 1 < argc; i += 2)
    {
        if (std::strcmp(argv[i], "--port") == 0)
            port = std::strtoul(argv[i + 1], nullptr, 10);
        else if (std::strcmp(argv[i], "--address") == 0)
            address = argv[i + 1];
        else if (std::strcmp(argv[i], "--count") == 0)
            count = std::atoi(argv[i + 1]);
    }
    asock::engine engine;
    std::promise<std::error_code> done;
    run(engine, address, static_cast<std::uint16_t>(port), count, done);
    const std::error_code error = done.get_future().get();
    if (error)
    {
        std::fprintf(stderr, "asock-echo-client-coro: %s\n", error.message().c_str());
        return 1;
    }
    std::printf("asock-echo-client-coro: %d messages echoed intact\n", count);
    return 0;
}
