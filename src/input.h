/*-------------------------------------------------------------------------
 * input.h
 *		The input model: a user's jsonb inputs for a batch operation, parsed
 *		into HsInputs (hubspot_batch_* and hubspot_enqueue share it).
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_INPUT_H
#define HUBSPOT_INPUT_H

#include "hubspot_api.h"

typedef struct HsParsedInputs
{
	HsInput   **inputs;
	Jsonb	  **originals;		/* each input as the user wrote it */
	int			n;
	char	   *read_extra;		/* batch/read: "properties":[...] ... */
} HsParsedInputs;

extern HsParsedInputs *hs_parse_inputs(HsOp op, Jsonb *jb);

#endif							/* HUBSPOT_INPUT_H */
