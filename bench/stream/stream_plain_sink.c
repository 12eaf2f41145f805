/* bench-stream-plain-sink --port N [--epoll]: half of this machine's limit for a one-way stream.
   Blocking accept of one connection on 127.0.0.1, then blocking recv into a 64 KiB buffer until
   end of stream; prints "listening on 127.0.0.1:PORT" first and a JSON line at the end
   (stream_common.h). --port 0 picks a free port.
   --epoll: the same receiver written the way an event loop works, with no library: the socket
   non-blocking, recv until EAGAIN, then epoll_wait (edge-triggered) for more. The reference for
   what any event-driven sink gets on this machine. */
#define _GNU_SOURCE /* accept4 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream_common.h"

static unsigned char buffer[STREAM_BUFFER_SIZE];

/* Takes --epoll out of argv; 1 if it was there. */
static int take_epoll_flag(int* argc, char** argv)
{
    for (int i = 1; i < *argc; ++i)
    {
        if (strcmp(argv[i], "--epoll") != 0)
            continue;
        for (int j = i; j + 1 < *argc; ++j)
            argv[j] = argv[j + 1];
        --*argc;
        return 1;
    }
    return 0;
}

/* Waits until the non-blocking connection is readable again; 0, or -1 on failure. */
static int wait_readable(int epoll)
{
    if (epoll < 0)
        return 0;  /* blocking mode: recv itself waits */
    struct epoll_event event;
    while (epoll_wait(epoll, &event, 1, -1) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

int main(int argc, char** argv)
{
    const int use_epoll = take_epoll_flag(&argc, argv);
    STREAM_OPTIONS options;
    if (stream_parse(argc, argv, &options) != 0)
    {
        fprintf(stderr, "usage: %s --port N [--epoll]\n", argv[0]);
        return 1;
    }
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)options.port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listener, (struct sockaddr*)&address, sizeof(address)) != 0 || listen(listener, 16) != 0 ||
        getsockname(listener, (struct sockaddr*)&address, &length) != 0)
    {
        perror("bench-stream-plain-sink: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(address.sin_port));
    fflush(stdout);

    const int connection = accept4(listener, NULL, NULL, use_epoll ? SOCK_NONBLOCK : 0);
    if (connection < 0)
    {
        perror("bench-stream-plain-sink: accept");
        return 1;
    }
    close(listener);
    int epoll = -1;
    if (use_epoll)
    {
        struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
        epoll = epoll_create1(EPOLL_CLOEXEC);
        if (epoll < 0 || epoll_ctl(epoll, EPOLL_CTL_ADD, connection, &event) != 0)
        {
            perror("bench-stream-plain-sink: epoll");
            return 1;
        }
    }
    uint64_t total = 0;
    for (;;)
    {
        const ssize_t received = recv(connection, buffer, sizeof(buffer), 0);
        if (received > 0)
            total += (uint64_t)received;
        else if (received == 0)
            break;
        else if (errno == EAGAIN && wait_readable(epoll) == 0)
            continue;
        else if (errno != EINTR)
        {
            perror("bench-stream-plain-sink: recv");
            return 1;
        }
    }
    close(connection);
    if (epoll >= 0)
        close(epoll);
    stream_print_sink(total, stream_cpu_seconds());
    return 0;
}
