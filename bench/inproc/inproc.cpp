// The shared part of the in-process benchmarks (see inproc.h).
#include "inproc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "heap_counter.h"

namespace inproc {
namespace {

// Descriptors the program needs besides the sockets: stdio, the listener, the library's
// epoll/io_uring/eventfd descriptors, a spare pair for synchronisation.
constexpr rlim_t kSpareDescriptors = 64;

[[noreturn]] void usage()
{
    std::fprintf(stderr,
                 "usage: <program> [--mode ping-pong|allocations|sockets] [--round-trips N] "
                 "[--sockets N] [--backend NAME]\n");
    std::exit(1);
}

uint64_t parse_count(const char* text)
{
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value == 0)
        usage();
    return value;
}

Mode parse_mode(const std::string& text)
{
    if (text == "ping-pong")
        return Mode::ping_pong;
    if (text == "allocations")
        return Mode::allocations;
    if (text == "sockets")
        return Mode::sockets;
    usage();
}

Options parse_options(int argc, char** argv, const Library& library)
{
    Options options;
    for (int i = 1; i < argc; i += 2)
    {
        if (i + 1 >= argc)
            usage();
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        if (name == "--mode")
            options.mode = parse_mode(value);
        else if (name == "--round-trips")
            options.round_trips = parse_count(value);
        else if (name == "--sockets")
            options.socket_count = static_cast<uint32_t>(parse_count(value));
        else if (name == "--backend" && library.has_backends)
            options.backend = value;
        else
            usage();
    }
    if (options.socket_count % 2 != 0)
        fail("--sockets must be even: the sockets are connected pairs");
    return options;
}

void check_system_call(int result, const char* what)
{
    if (result < 0)
        fail(std::string(what) + ": " + std::strerror(errno));
}

int loopback_listener(sockaddr_in& address)
{
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check_system_call(listener, "socket");
    address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check_system_call(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), "bind");
    socklen_t length = sizeof(address);
    check_system_call(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), "getsockname");
    check_system_call(listen(listener, SOMAXCONN), "listen");
    return listener;
}

void set_no_delay(int fd)
{
    const int on = 1;
    check_system_call(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)), "setsockopt(TCP_NODELAY)");
}

// A loopback connect completes from the listen backlog, so connect-then-accept on one
// thread does not block.
SocketPair connect_pair(int listener, const sockaddr_in& address)
{
    const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check_system_call(client, "socket");
    check_system_call(connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), "connect");
    const int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    check_system_call(server, "accept4");
    set_no_delay(client);
    set_no_delay(server);
    return {client, server};
}

void raise_descriptor_limit(uint32_t socket_count)
{
    rlimit limit{};
    check_system_call(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
    const rlim_t needed = socket_count + kSpareDescriptors;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed)
        unavailable("RLIMIT_NOFILE hard limit " + std::to_string(limit.rlim_max) + " is below the " +
                    std::to_string(needed) + " descriptors needed");
    limit.rlim_cur = limit.rlim_max;
    check_system_call(setrlimit(RLIMIT_NOFILE, &limit), "setrlimit");
}

void print_figures(const char* first_name, double first, const char* second_name = nullptr, double second = 0)
{
    std::printf("{\"%s\": %.6g", first_name, first);
    if (second_name != nullptr)
        std::printf(", \"%s\": %.6g", second_name, second);
    std::printf("}\n");
}

void run_ping_pong(const Options& options, const Library& library)
{
    RoundTripPlan plan(options.round_trips, 0);
    library.ping_pong(options, plan);
    print_figures("round_trips", static_cast<double>(options.round_trips));
}

void run_allocations(const Options& options, const Library& library)
{
    RoundTripPlan plan(options.round_trips, options.round_trips);
    library.ping_pong(options, plan);
    print_figures("allocs_per_rt", plan.allocations_per_round_trip());
}

void run_sockets(const Options& options, const Library& library)
{
    raise_descriptor_limit(options.socket_count);
    SocketBytesMeter meter;
    library.measure_sockets(options, meter);
    print_figures("idle_socket_bytes", meter.idle_bytes_per_socket(options.socket_count),
                  "pending_receive_socket_bytes", meter.pending_bytes_per_socket(options.socket_count));
}

}  // namespace

void fail(const std::string& what)
{
    std::fprintf(stderr, "inproc: %s\n", what.c_str());
    std::_Exit(1);
}

void unavailable(const std::string& why)
{
    std::fprintf(stderr, "inproc: not measurable here: %s\n", why.c_str());
    std::exit(kExitUnavailable);
}

void fill_message(uint8_t* message, uint64_t index)
{
    for (uint32_t i = 0; i < kMessageSize; ++i)
        message[i] = static_cast<uint8_t>(index * 131 + i);
}

void check_message(const uint8_t* message, uint32_t received, uint64_t index)
{
    if (received != kMessageSize)
        fail("round trip " + std::to_string(index) + " received " + std::to_string(received) + " bytes");
    uint8_t expected[kMessageSize];
    fill_message(expected, index);
    if (std::memcmp(message, expected, kMessageSize) != 0)
        fail("round trip " + std::to_string(index) + " returned different bytes");
}

RoundTripPlan::RoundTripPlan(uint64_t warm_up, uint64_t measured) : warm_up_(warm_up), total_(warm_up + measured)
{
}

bool RoundTripPlan::finish_round_trip()
{
    ++done_;
    if (done_ == warm_up_)
        allocations_at_start_ = heap_allocation_count();
    if (done_ < total_)
        return false;
    allocations_at_end_ = heap_allocation_count();
    return true;
}

double RoundTripPlan::allocations_per_round_trip() const
{
    const uint64_t measured = total_ - warm_up_;
    if (measured == 0)
        return 0;
    return static_cast<double>(allocations_at_end_ - allocations_at_start_) / static_cast<double>(measured);
}

std::vector<SocketPair> make_tcp_pairs(size_t count)
{
    sockaddr_in address{};
    const int listener = loopback_listener(address);
    std::vector<SocketPair> pairs;
    pairs.reserve(count);
    for (size_t i = 0; i < count; ++i)
        pairs.push_back(connect_pair(listener, address));
    close(listener);
    return pairs;
}

void SocketBytesMeter::start()
{
    at_start_ = heap_live_bytes();
}

void SocketBytesMeter::idle_reached()
{
    at_idle_ = heap_live_bytes();
}

void SocketBytesMeter::pending_reached()
{
    at_pending_ = heap_live_bytes();
}

double SocketBytesMeter::idle_bytes_per_socket(uint32_t socket_count) const
{
    return static_cast<double>(at_idle_ - at_start_) / socket_count;
}

double SocketBytesMeter::pending_bytes_per_socket(uint32_t socket_count) const
{
    return static_cast<double>(at_pending_ - at_start_) / socket_count;
}

int run(int argc, char** argv, const Library& library)
{
    const Options options = parse_options(argc, argv, library);
    switch (options.mode)
    {
    case Mode::ping_pong:
        run_ping_pong(options, library);
        break;
    case Mode::allocations:
        run_allocations(options, library);
        break;
    case Mode::sockets:
        run_sockets(options, library);
        break;
    }
    return 0;
}

}  // namespace inproc
