/* asock: the execution engine, the threads on which socket completions run.

   An engine owns its threads. It is reference counted: execution_engine_create returns it
   with one reference, every async socket created on it holds one more, and the threads end
   when the last reference goes. */
#ifndef ASOCK_EXECUTION_ENGINE_H
#define ASOCK_EXECUTION_ENGINE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EXECUTION_ENGINE* EXECUTION_ENGINE_HANDLE;

typedef struct EXECUTION_ENGINE_PARAMETERS_TAG
{
    /* Linux: the number of event-loop threads (0 is taken as 1).
       Windows: the minimum thread count of the PTP_POOL. */
    uint32_t min_thread_count;
    /* 0 means no maximum. Linux: caps the loop count. Windows: the PTP_POOL maximum.
       A maximum below a non-zero minimum is invalid: execution_engine_create fails. */
    uint32_t max_thread_count;
} EXECUTION_ENGINE_PARAMETERS;

/* Creates an engine. NULL parameters mean the defaults (Linux: one loop per online CPU, no
   maximum). Returns NULL on failure (invalid parameters, no backend available, out of
   resources). */
EXECUTION_ENGINE_HANDLE execution_engine_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters);

/* Adds a reference. NULL is ignored. */
void execution_engine_inc_ref(EXECUTION_ENGINE_HANDLE execution_engine);

/* Drops a reference; the last one stops and joins the engine's threads and frees it.
   NULL is ignored. */
void execution_engine_dec_ref(EXECUTION_ENGINE_HANDLE execution_engine);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_EXECUTION_ENGINE_H */
