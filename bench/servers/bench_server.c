/* The shared part of the benchmark echo servers: see bench_server.h. */
#include "bench_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GATHER_HEAD_BYTES 16

static int usage(const char* program, unsigned accepted)
{
    fprintf(stderr, "usage: %s --port N%s%s%s\n", program, (accepted & BENCH_OPTION_NO_GATHER) ? "" : " [--gather]",
            (accepted & BENCH_OPTION_BACKEND) ? " [--backend io_uring|epoll]" : "",
            (accepted & BENCH_OPTION_BUSY_POLL) ? " [--busy-poll MICROSECONDS]" : "");
    return 1;
}

/* A whole decimal number in [0, max], or -1. */
static long parse_number(const char* text, long max)
{
    char* end = NULL;
    const long value = text != NULL ? strtol(text, &end, 10) : -1;
    return (text == NULL || *text == '\0' || *end != '\0' || value < 0 || value > max) ? -1 : value;
}

int bench_parse_options(int argc, char** argv, unsigned accepted, BENCH_OPTIONS* options)
{
    memset(options, 0, sizeof(*options));
    options->port = -1;
    for (int i = 1; i < argc; ++i)
    {
        const char* value = i + 1 < argc ? argv[i + 1] : NULL;
        long number = 0;
        if (strcmp(argv[i], "--gather") == 0 && !(accepted & BENCH_OPTION_NO_GATHER))
        {
            options->gather = 1;
            continue;
        }
        if (strcmp(argv[i], "--port") == 0 && (number = parse_number(value, 65535)) >= 0)
            options->port = (int)number;
        else if (strcmp(argv[i], "--backend") == 0 && (accepted & BENCH_OPTION_BACKEND) && value != NULL)
            options->backend = value;
        else if (strcmp(argv[i], "--busy-poll") == 0 && (accepted & BENCH_OPTION_BUSY_POLL) &&
                 (number = parse_number(value, 1000000)) >= 0)
            options->busy_poll_us = (unsigned)number;
        else
            return usage(argv[0], accepted);
        ++i;
    }
    return options->port < 0 ? usage(argv[0], accepted) : 0;
}

int bench_listen(int port, int nonblocking)
{
    signal(SIGPIPE, SIG_IGN);
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    const int one = 1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listener, (struct sockaddr*)&address, sizeof(address)) != 0 || listen(listener, SOMAXCONN) != 0)
    {
        perror("listen on 127.0.0.1");
        if (listener >= 0)
            close(listener);
        return -1;
    }
    return listener;
}

void bench_announce(int listener)
{
    struct sockaddr_in address;
    socklen_t length = sizeof(address);
    memset(&address, 0, sizeof(address));
    getsockname(listener, (struct sockaddr*)&address, &length);
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
    fflush(stdout);
}

void bench_set_nodelay(int fd)
{
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

size_t bench_gather_head(size_t n)
{
    return n < GATHER_HEAD_BYTES ? n : GATHER_HEAD_BYTES;
}

int bench_echo_iovecs(unsigned char* buffer, size_t from, size_t head, size_t end, struct iovec out[2])
{
    if (from < head && head < end)
    {
        out[0] = (struct iovec){buffer + from, head - from};
        out[1] = (struct iovec){buffer + head, end - head};
        return 2;
    }
    out[0] = (struct iovec){buffer + from, end - from};
    return 1;
}
