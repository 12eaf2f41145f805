/* The one-way stream benchmark (issue 13, item 4): what its four programs share.

   One connection on 127.0.0.1, the source writes 64 KiB buffers as fast as the sink takes
   them, nothing comes back. The plain pair (blocking send/recv, one process each) is this
   machine's limit; the asock sink and source put asock on one side of the same connection.
   Each program reports on stdout one JSON line when it is done, with the CPU time its whole
   process used (getrusage, every thread). bench/stream/run_stream.py runs them. */
#ifndef BENCH_STREAM_COMMON_H
#define BENCH_STREAM_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define STREAM_BUFFER_SIZE (64 * 1024)

typedef struct STREAM_OPTIONS
{
    long port;
    double seconds;
    double warmup;
    int backend; /* 0: default, 1: io_uring, 2: epoll */
} STREAM_OPTIONS;

/* Parses --port N [--seconds S] [--warmup W] [--backend io_uring|epoll]; 0 on success. */
static inline int stream_parse(int argc, char** argv, STREAM_OPTIONS* options)
{
    options->port = -1;
    options->seconds = 2.0;
    options->warmup = 0.5;
    options->backend = 0;
    for (int i = 1; i + 1 < argc; i += 2)
    {
        const char* value = argv[i + 1];
        if (strcmp(argv[i], "--port") == 0)
            options->port = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            options->seconds = strtod(value, NULL);
        else if (strcmp(argv[i], "--warmup") == 0)
            options->warmup = strtod(value, NULL);
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "io_uring") == 0)
            options->backend = 1;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "epoll") == 0)
            options->backend = 2;
        else
            return 1;
    }
    if (argc % 2 != 1 || options->port < 0 || options->port > 65535 || !(options->seconds > 0) || options->seconds > 3600 ||
        !(options->warmup >= 0) || options->warmup > 3600)
        return 1;
    return 0;
}

static inline double stream_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of the whole process so far. */
static inline double stream_cpu_seconds(void)
{
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1;
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* The source's report: bytes in the measured window, its length, the bytes of the whole run
   (warm-up included) and the process's CPU time over the whole run. */
static inline void stream_print_source(uint64_t measured_bytes, double measured_seconds, uint64_t total_bytes, double cpu_seconds)
{
    const double mib_per_sec = measured_seconds > 0 ? (double)measured_bytes / (1024.0 * 1024.0) / measured_seconds : 0;
    printf("{\"role\": \"source\", \"bytes\": %llu, \"seconds\": %.6f, \"mib_per_sec\": %.3f, \"total_bytes\": %llu, \"cpu_seconds\": %.6f}\n",
           (unsigned long long)measured_bytes, measured_seconds, mib_per_sec, (unsigned long long)total_bytes, cpu_seconds);
    fflush(stdout);
}

/* The sink's report, at end of stream: the bytes it received and its CPU time. */
static inline void stream_print_sink(uint64_t total_bytes, double cpu_seconds)
{
    printf("{\"role\": \"sink\", \"total_bytes\": %llu, \"cpu_seconds\": %.6f}\n", (unsigned long long)total_bytes, cpu_seconds);
    fflush(stdout);
}

#endif
