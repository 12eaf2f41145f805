// asock-echo-coro: an echo server in C++ with coroutines (asock/asock.hpp).
//
//   asock-echo-coro [--port N] [--address A]     (defaults: port 7000, address "::")
//
// One coroutine accepts; each connection gets a coroutine that receives and sends back what it
// received until the peer leaves. Runs until killed.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <thread>

#include "asock/asock.hpp"

namespace {

asock::task echo(asock::socket s)
{
    std::array<std::byte, 4096> buffer;
    for (;;)
    {
        asock::io_result in = co_await s.receive(std::span(buffer));
        if (!in)
            co_return;  // in.error(): asock::result::abandoned when the peer left
        if (!co_await s.send(std::span<const std::byte>(buffer).first(in.bytes)))
            co_return;
    }
}

asock::task serve(asock::listener& listener)
{
    for (;;)
    {
        asock::connection c = co_await listener.accept();
        if (c)
            echo(std::move(c.socket));
        else if (c.error == asock::result::abandoned)
            co_return;  // the listener was closed
    }
}

}  // namespace

int main(int argc, char** argv)
{
    const char* address = "::";
    unsigned long port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
    {
        if (std::strcmp(argv[i], "--port") == 0)
            port = std::strtoul(argv[i + 1], nullptr, 10);
        else if (std::strcmp(argv[i], "--address") == 0)
            address = argv[i + 1];
    }
    try
    {
        asock::engine engine;
        asock::listener listener(engine, address, static_cast<std::uint16_t>(port));
        std::printf("listening on [%s]:%u\n", address, static_cast<unsigned>(listener.port()));
        std::fflush(stdout);
        serve(listener);
        for (;;)
            std::this_thread::sleep_for(std::chrono::hours(1));
    }
    catch (const std::system_error& e)
    {
        std::fprintf(stderr, "asock-echo-coro: %s\n", e.what());
        return 1;
    }
}
