/*-------------------------------------------------------------------------
 * batch.h
 *		The hubspot_batch_* SQL functions and the parsing of user-supplied
 *		jsonb inputs, shared with hubspot_enqueue().
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_BATCH_H
#define HUBSPOT_BATCH_H

#include "hubspot_api.h"

typedef struct HsParsedInputs
{
	HsInput   **inputs;
	Jsonb	  **originals;		/* each input as the user wrote it */
	int			n;
	char	   *read_extra;		/* batch/read: "properties":[...] ... */
} HsParsedInputs;

typedef struct HsBatchCall
{
	HsParsedInputs *parsed;
	struct HsJob *job;			/* NULL when there is nothing to send */
} HsBatchCall;

extern HsParsedInputs *hs_parse_inputs(HsOp op, Jsonb *jb);
extern HsBatchCall *hs_batch_prepare(HsOp op, const char *object_type, Jsonb *inputs,
									 const char *servername);
extern void hs_batch_send(HsBatchCall *c, void (*emit) (Jsonb *row, void *arg), void *arg);
extern char *hs_record_key(const char *id_property, const char *id);
extern text *hs_text_arg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void hs_batch_run(HsOp op, const char *object_type, Jsonb *inputs,
						 const char *servername,
						 void (*emit) (Jsonb *row, void *arg), void *arg);

#endif							/* HUBSPOT_BATCH_H */
