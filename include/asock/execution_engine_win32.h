/* asock: the Windows execution engine's threadpool. */
#ifndef ASOCK_EXECUTION_ENGINE_WIN32_H
#define ASOCK_EXECUTION_ENGINE_WIN32_H

/* winsock2.h first: after windows.h it would clash with the winsock.h that windows.h pulls in. */
#include <winsock2.h>
#include <windows.h>

#include "asock/execution_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The PTP_POOL the engine wraps (created by execution_engine_create with the parameters'
   minimum and maximum thread counts); NULL for a NULL engine. The pool lives as long as the
   engine. */
PTP_POOL execution_engine_win32_get_threadpool(EXECUTION_ENGINE_HANDLE execution_engine);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_EXECUTION_ENGINE_WIN32_H */
