/* bench-stream-plain-source --port P --seconds S [--warmup W]: the other half of this
   machine's limit. Connects to 127.0.0.1:P and writes 64 KiB buffers with blocking send for
   W + S seconds; prints the bytes of the last S seconds and MiB/s (stream_common.h). */
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
    if (stream_parse(argc, argv, &options) != 0 || options.port == 0)
    {
        fprintf(stderr, "usage: %s --port P --seconds S [--warmup W]\n", argv[0]);
        return 1;
    }
    memset(buffer, 'x', sizeof(buffer));
    const int connection = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)options.port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connection < 0 || connect(connection, (struct sockaddr*)&address, sizeof(address)) != 0)
    {
        perror("bench-stream-plain-source: connect");
        return 1;
    }
    const double start = stream_now();
    const double measure_from = start + options.warmup;
    const double end = measure_from + options.seconds;
    double measured_start = 0;
    uint64_t total = 0;
    uint64_t at_measure_start = 0;
    int measuring = 0;
    double now = start;
    while (now < end)
    {
        size_t offset = 0;
        while (offset < sizeof(buffer))
        {
            const ssize_t sent = send(connection, buffer + offset, sizeof(buffer) - offset, MSG_NOSIGNAL);
            if (sent < 0)
            {
                if (errno == EINTR)
                    continue;
                perror("bench-stream-plain-source: send");
                return 1;
            }
            offset += (size_t)sent;
        }
        total += sizeof(buffer);
        now = stream_now();
        if (!measuring && now >= measure_from)
        {
            measuring = 1;
            measured_start = now;
            at_measure_start = total;
        }
    }
    close(connection);
    stream_print_source(total - at_measure_start, now - measured_start, total, stream_cpu_seconds());
    return 0;
}
