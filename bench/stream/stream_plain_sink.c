/* bench-stream-plain-sink --port N: half of this machine's limit for a one-way stream.
   Blocking accept of one connection on 127.0.0.1, then blocking recv into a 64 KiB buffer until
   end of stream; prints "listening on 127.0.0.1:PORT" first and a JSON line at the end
   (stream_common.h). --port 0 picks a free port. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream_common.h"

static unsigned char buffer[STREAM_BUFFER_SIZE];

int main(int argc, char** argv)
{
    STREAM_OPTIONS options;
    if (stream_parse(argc, argv, &options) != 0)
    {
        fprintf(stderr, "usage: %s --port N\n", argv[0]);
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

    const int connection = accept(listener, NULL, NULL);
    if (connection < 0)
    {
        perror("bench-stream-plain-sink: accept");
        return 1;
    }
    close(listener);
    uint64_t total = 0;
    for (;;)
    {
        const ssize_t received = recv(connection, buffer, sizeof(buffer), 0);
        if (received > 0)
            total += (uint64_t)received;
        else if (received == 0)
            break;
        else if (errno != EINTR)
        {
            perror("bench-stream-plain-sink: recv");
            return 1;
        }
    }
    close(connection);
    stream_print_sink(total, stream_cpu_seconds());
    return 0;
}
