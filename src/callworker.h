/*-------------------------------------------------------------------------
 * callworker.h
 *		Synchronous calls made by a background worker on a backend's
 *		behalf: the hubspot_batch_* functions hand their work over through
 *		shared memory and wait for the rows, cancellably.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_CALLWORKER_H
#define HUBSPOT_CALLWORKER_H

#include "hubspot_api.h"

extern void hs_call_in_worker(HsOp op, const char *object_type, Jsonb *inputs,
							  const char *servername,
							  void (*emit) (Jsonb *row, void *arg), void *arg);

PGDLLEXPORT void hs_call_worker_main(Datum arg);

#endif							/* HUBSPOT_CALLWORKER_H */
