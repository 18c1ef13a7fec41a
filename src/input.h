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

/* One side of an association: the record, by id or by a property's value. */
typedef struct HsAssocSide
{
	char	   *type;			/* object type */
	char	   *property;		/* NULL: value is the record id */
	char	   *value;
	char	   *id;				/* the record id, once known */
	Jsonb	   *error;			/* why it is not known */
	bool		retry;			/* ... for now only */
	bool		absent;			/* search found none: it may still appear */
	bool		cached;			/* id from an earlier round's lookup */
} HsAssocSide;

/* One association input: link or unlink two records. */
typedef struct HsAssoc
{
	HsOp		op;				/* HS_OP_ASSOCIATE or HS_OP_DISSOCIATE */
	HsAssocSide side[2];		/* from, to */
	char	   *label;			/* a name or CATEGORY:typeId; NULL: default/all */
	Jsonb	   *original;		/* as the caller wrote it */
	/* the outcome */
	Jsonb	   *result;
	Jsonb	   *error;
	bool		retry;			/* worth another round */
	bool		wait;			/* a side not found by search yet */
} HsAssoc;

#define HS_FROM 0
#define HS_TO	1

extern HsAssoc **hs_parse_assoc_inputs(HsOp op, const char *pair, Jsonb *jb, int *n);
extern HsAssoc *hs_make_assoc(HsOp op, const char *from_type, const char *to_type,
							  char *from_property, char *from_value, char *to_property,
							  char *to_value, char *label, const char *what);
extern HsAssoc *hs_parse_assoc_input(HsOp op, const char *from_type, const char *to_type,
									 JsonbContainer *obj, const char *what);
extern Jsonb *hs_assoc_input_jsonb(HsAssoc *a);
extern char *hs_assoc_key(HsAssoc *a);

#endif							/* HUBSPOT_INPUT_H */
