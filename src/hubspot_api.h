/*-------------------------------------------------------------------------
 * hubspot_api.h
 *		HubSpot's batch API: paths, request bodies, answers and errors.
 *
 * Knows HubSpot's wire format and nothing of PostgreSQL tables.  Answers
 * are turned into one outcome per input (HubSpot's result object or an
 * error object) plus a classification of the call as a whole.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_API_H
#define HUBSPOT_API_H

#include "utils/jsonb.h"

#include "http.h"
#include "options.h"

typedef enum HsOp
{
	HS_OP_UPSERT,
	HS_OP_UPDATE,
	HS_OP_CREATE,
	HS_OP_ARCHIVE,
	HS_OP_READ
} HsOp;

/* One input of a batch call, ready to serialize. */
typedef struct HsInput
{
	char	   *id;				/* record id or unique value; NULL for create */
	char	   *id_property;	/* NULL: id is the record id */
	char	   *properties;		/* JSON object text, values all strings */
	char	   *extra;			/* further members ("associations":[...]), or NULL */
	char	   *key;			/* identity for duplicate checks; NULL: none */
	int64		trace_id;		/* objectWriteTraceId */
} HsInput;

typedef enum HsCallClass
{
	HS_CALL_OK,					/* every input got its own result or error */
	HS_CALL_REJECTED,			/* whole batch refused (400/409): split it */
	HS_CALL_FAILED,				/* whole call failed for every input alike */
	HS_CALL_AUTH,				/* 401/403: nothing works with this token */
	HS_CALL_RATE_LIMITED,		/* 429 */
	HS_CALL_WAIT,				/* 423, 477: wait as told, no attempt counted */
	HS_CALL_RETRY				/* 5xx, transport error, garbage: attempt counted */
} HsCallClass;

typedef struct HsCallResult
{
	HsCallClass cls;
	long		status;
	Jsonb	   *error;			/* the call's error as jsonb, NULL on success */
	char	   *message;		/* short text of it, for ERROR messages */
	char	   *category;
	char	   *policy;			/* 429 policyName */
	long		wait_ms;		/* advised wait, -1 if none */
} HsCallResult;

typedef struct HsOutcome
{
	Jsonb	   *result;
	Jsonb	   *error;
} HsOutcome;

extern const char *hs_op_name(HsOp op);
extern bool hs_op_from_name(const char *name, HsOp *op);
extern char *hs_api_batch_url(const HsServer *server, const char *object_type, HsOp op);
extern char *hs_api_list_url(const HsServer *server, const char *object_type,
							 const char *query);
extern char *hs_api_properties_url(const HsServer *server, const char *object_type);
extern char *hs_api_body(HsOp op, HsInput **inputs, int n, const char *read_extra);
extern void hs_api_parse(HsOp op, HsHttpRequest *req, HsInput **inputs, int n,
						 HsOutcome *out, HsCallResult *res);
extern Jsonb *hs_api_parse_json(const char *text, size_t len);
extern Jsonb *hs_make_error(const char *category, const char *message, long status);

/* jsonb helpers shared with the SQL-facing code */
extern JsonbValue *hs_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *out);
extern char *hs_jsonb_scalar_text(JsonbValue *v);

#endif							/* HUBSPOT_API_H */
