/* What the two asock programs of the one-way stream share (bench/stream/stream_asock_*.c). */
#pragma once

#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "stream_common.h"

/* An engine of one loop on the backend the options ask for, or NULL after a message naming
   the program; *exit_status is then 3 when io_uring was asked for and this machine cannot run
   it (run_stream.py skips the shape), else 1. */
static inline EXECUTION_ENGINE_HANDLE stream_asock_engine(const STREAM_OPTIONS* options, const char* program, int* exit_status)
{
    const ASOCK_LINUX_BACKEND backend = options->backend == 1   ? ASOCK_LINUX_BACKEND_IO_URING
                                        : options->backend == 2 ? ASOCK_LINUX_BACKEND_EPOLL
                                                                : ASOCK_LINUX_BACKEND_DEFAULT;
    EXECUTION_ENGINE_PARAMETERS parameters = {1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, backend);
    if (engine == NULL)
    {
        fprintf(stderr, "%s: cannot create the engine\n", program);
        *exit_status = backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available() ? 3 : 1;
    }
    return engine;
}
