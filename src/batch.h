/*-------------------------------------------------------------------------
 * batch.h
 *		The hubspot_batch_* SQL functions.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_BATCH_H
#define HUBSPOT_BATCH_H

#include "input.h"

typedef struct HsBatchCall
{
	HsParsedInputs *parsed;
	struct HsJob *job;			/* NULL when there is nothing to send */
	struct HsAssocRun *assoc;	/* associations instead of a job */
} HsBatchCall;

extern HsBatchCall *hs_batch_prepare(HsOp op, const char *object_type, Jsonb *inputs,
									 const char *servername);
extern void hs_batch_send(HsBatchCall *c, void (*emit) (Jsonb *row, void *arg), void *arg);
extern text *hs_text_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void hs_batch_run(HsOp op, const char *object_type, Jsonb *inputs,
						 const char *servername,
						 void (*emit) (Jsonb *row, void *arg), void *arg);

#endif							/* HUBSPOT_BATCH_H */
