/*-------------------------------------------------------------------------
 * dispatch.h
 *		Turn lists of inputs into HubSpot batch calls and run them.
 *
 * A job is a list of inputs for one server, token, object type and
 * operation.  hs_dispatch() packs each job into calls of at most batch_size
 * inputs with no record twice in a call, keeps up to max_concurrency calls
 * per server in flight within the shared rate budget, splits calls HubSpot
 * rejects as a whole until the bad inputs stand alone, waits out 429/423,
 * and leaves one outcome per input.  It knows nothing of queue tables.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_DISPATCH_H
#define HUBSPOT_DISPATCH_H

#include "hubspot_api.h"

/* The worker stops a job rather than wait this long for rate budget. */
#define HS_BUDGET_STOP_MS	2000

/* Why a job stopped before all its inputs were tried. */
typedef enum HsStop
{
	HS_STOP_NONE,
	HS_STOP_AUTH,				/* 401/403 */
	HS_STOP_DAILY,				/* 429 DAILY */
	HS_STOP_LONG_WAIT,			/* 477 or Retry-After beyond what we wait in place */
	HS_STOP_PAUSED,				/* the server was already paused */
	HS_STOP_TRANSIENT,			/* a call failed for now: try again later */
	HS_STOP_BUDGET				/* the worker does not wait long for budget */
} HsStop;

typedef struct HsJob
{
	HsServer   *server;
	char	   *token;
	char	   *object_type;
	HsOp		op;
	char	   *read_extra;		/* batch/read: "properties":[...] etc. */
	bool		read_archived;	/* batch/read of archived records */
	HsInput   **inputs;
	int			n;

	/*
	 * Filled by hs_dispatch: out[i] has a result, an error, or neither (the
	 * input was not tried because the job stopped).  transient[i] marks an
	 * error worth retrying later.
	 */
	HsOutcome  *out;
	bool	   *transient;
	HsStop		stop;
	HsCallResult stop_result;

	/* private */
	List	   *waves;
	int			in_flight;
} HsJob;

typedef struct HsDispatchStats
{
	int64		calls_2xx;
	int64		calls_4xx;
	int64		calls_5xx;
	int64		calls_failed;	/* no answer */
	int64		calls_429;
} HsDispatchStats;

extern bool hs_log_calls;

extern HsJob *hs_job_new(HsServer *server, char *token, char *object_type, HsOp op,
						 HsInput **inputs, int n);
extern void hs_dispatch(HsJob **jobs, int njobs, bool sync, HsDispatchStats *stats);
extern void hs_job_raise(HsJob *job);
extern Jsonb *hs_call_get(HsServer *server, const char *token, const char *url);
extern Jsonb *hs_call_read(HsServer *server, const char *token, const char *url,
						   const char *body, bool search);

#endif							/* HUBSPOT_DISPATCH_H */
