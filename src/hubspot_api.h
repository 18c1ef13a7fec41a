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
#include "keys.h"
#include "options.h"

typedef enum HsOp
{
	HS_OP_UPSERT,
	HS_OP_UPDATE,
	HS_OP_CREATE,
	HS_OP_ARCHIVE,
	HS_OP_READ,
	/* associations as the queue and the SQL functions name them */
	HS_OP_ASSOCIATE,			/* link a pair, with a label or the default */
	HS_OP_DISSOCIATE,			/* unlink a pair: one label, or every type */
	/* associations as HubSpot's v4 batch endpoints name them */
	HS_OP_ASSOC_DEFAULT,		/* batch/associate/default */
	HS_OP_ASSOC_CREATE,			/* batch/create: replaces the pair's labels */
	HS_OP_ASSOC_ARCHIVE,		/* batch/archive: every type of a pair */
	HS_OP_ASSOC_LABELS_ARCHIVE, /* batch/labels/archive: the given types */
	HS_OP_ASSOC_READ			/* batch/read: the associations of records */
} HsOp;

#define HS_OP_IS_ASSOC_WIRE(op)	((op) >= HS_OP_ASSOC_DEFAULT)
#define HS_OP_IS_ASSOC(op)		((op) >= HS_OP_ASSOCIATE)

/* HubSpot's limits on association calls (REFERENCE.md section 13) */
#define HS_ASSOC_BATCH_MAX		2000
#define HS_ASSOC_READ_MAX		1000

/* One input of a batch call, ready to serialize. */
typedef struct HsInput
{
	char	   *id;				/* record id or unique value; NULL for create */
	char	   *id_property;	/* NULL: id is the record id */
	char	   *properties;		/* JSON object text, values all strings */
	char	   *extra;			/* further members ("associations":[...]), or NULL */
	char	   *key;			/* identity for duplicate checks; NULL: none */
	char	   *trace;			/* objectWriteTraceId, unique within a job */
	char	   *to_id;			/* associations: the to record's id (id: from's) */
	char	   *types;			/* associations: JSON array of types, or NULL */
} HsInput;

typedef enum HsCallClass
{
	HS_CALL_OK,					/* every input got its own outcome */
	HS_CALL_REJECTED,			/* refused for some input's fault: split it */
	HS_CALL_FAILED,				/* refused as a whole (not any input's own fault) */
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
	bool		maybe_applied;	/* HubSpot may have done it though we can't tell */
} HsCallResult;

/*
 * What became of one input: a result, an error, or neither (not tried).
 * unknown: HubSpot may or may not have applied it (a create whose answer
 * was lost); such an input is never re-sent by itself.  retry: nothing is
 * known of it but re-sending is harmless (idempotent operations).
 */
typedef struct HsOutcome
{
	Jsonb	   *result;
	Jsonb	   *error;
	bool		unknown;
	bool		retry;
} HsOutcome;

extern const char *hs_op_name(HsOp op);
extern bool hs_op_from_name(const char *name, HsOp *op);
extern char *hs_api_batch_url(const HsServer *server, const char *object_type, HsOp op,
							  bool archived);
extern char *hs_api_list_url(const HsServer *server, const char *object_type,
							 const char *query);
extern char *hs_api_search_url(const HsServer *server, const char *object_type);
extern char *hs_api_properties_url(const HsServer *server, const char *object_type);
extern char *hs_api_assoc_labels_url(const HsServer *server, const char *from_type,
									 const char *to_type);
extern bool hs_api_split_pair(const char *pair, char **from_type, char **to_type);
extern char *hs_api_body(HsOp op, HsInput **inputs, int n, const char *read_extra);
extern void hs_api_parse(HsOp op, HsHttpRequest *req, HsInput **inputs, int n,
						 HsOutcome *out, HsCallResult *res);
extern Jsonb *hs_api_parse_json(const char *text, size_t len, const char **why);
extern Jsonb *hs_api_error_of(Jsonb *body, long status);
extern int	hs_api_batch_limit(HsOp op, const char *read_extra);
extern Jsonb *hs_make_error(const char *category, const char *message, long status);

/* jsonb helpers shared with the SQL-facing code */
extern JsonbValue *hs_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *out);
extern char *hs_jsonb_scalar_text(JsonbValue *v);

#endif							/* HUBSPOT_API_H */
