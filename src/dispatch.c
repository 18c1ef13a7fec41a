/*-------------------------------------------------------------------------
 * dispatch.c
 *		Pack inputs into HubSpot batch calls and run them concurrently.
 *
 * Inputs that name the same record go into different "waves": a wave
 * starts only when the previous one of its job is settled, so that no call
 * holds one record twice (HubSpot rejects that) and a record's writes
 * still reach HubSpot in input order.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "dispatch.h"
#include "keys.h"
#include "ratelimit.h"

/* Waits longer than this are not done in place: the job stops instead. */
#define HS_MAX_INPLACE_WAIT_MS	60000
/* Synchronous callers retry transient failures at most this often. */
#define HS_SYNC_MAX_TRIES		3

bool		hs_log_calls = false;

typedef struct HsCall
{
	HsJob	   *job;
	int		   *idx;			/* indexes into job->inputs */
	int			n;
	int			tries;
	TimestampTz not_before;
	HsHttpRequest req;
} HsCall;

typedef struct HsWave
{
	List	   *calls;			/* not yet started, in order */
	int			unsettled;		/* started or queued calls not yet settled */
} HsWave;

static HsCall *
new_call(HsJob *job, int *idx, int n)
{
	HsCall	   *c = palloc0(sizeof(HsCall));

	c->job = job;
	c->idx = idx;
	c->n = n;
	return c;
}

/* The lane of each input: how many earlier inputs share its key. */
static int *
input_lanes(HsJob *job, int *nlanes)
{
	int		   *lane = palloc0(sizeof(int) * Max(job->n, 1));
	HTAB	   *seen = NULL;
	int			i;

	*nlanes = 1;
	for (i = 0; i < job->n; i++)
	{
		struct
		{
			char	   *key;
			int			count;
		}		   *e;
		bool		found;

		if (job->inputs[i]->key == NULL)
			continue;
		if (seen == NULL)
			seen = hs_key_table("hubspot_fdw input keys", job->n, sizeof(*e));
		e = hash_search(seen, &job->inputs[i]->key, HASH_ENTER, &found);
		lane[i] = found ? e->count : 0;
		e->count = found ? e->count + 1 : 1;
		*nlanes = Max(*nlanes, lane[i] + 1);
	}
	if (seen)
		hash_destroy(seen);
	return lane;
}

static void
plan_job(HsJob *job)
{
	int			nlanes;
	int		   *lane = input_lanes(job, &nlanes);
	int			limit = hs_api_batch_limit(job->op, job->read_extra);

	/* batch_size is about object writes; association calls take HubSpot's limit */
	int			bs = HS_OP_IS_ASSOC_WIRE(job->op) ? limit : Min(job->server->batch_size, limit);
	int			l;

	job->waves = NIL;
	for (l = 0; l < nlanes; l++)
	{
		HsWave	   *w = palloc0(sizeof(HsWave));
		int		   *idx = NULL;
		int			n = 0;
		int			i;

		for (i = 0; i < job->n; i++)
		{
			if (lane[i] != l)
				continue;
			if (idx == NULL)
				idx = palloc(sizeof(int) * bs);
			idx[n++] = i;
			if (n == bs)
			{
				w->calls = lappend(w->calls, new_call(job, idx, n));
				idx = NULL;
				n = 0;
			}
		}
		if (n > 0)
			w->calls = lappend(w->calls, new_call(job, idx, n));
		w->unsettled = list_length(w->calls);
		job->waves = lappend(job->waves, w);
	}
}

HsJob *
hs_job_new(HsServer *server, char *token, char *object_type, HsOp op,
		   HsInput **inputs, int n)
{
	HsJob	   *job = palloc0(sizeof(HsJob));

	job->server = server;
	job->token = token;
	job->object_type = object_type;
	job->op = op;
	job->inputs = inputs;
	job->n = n;
	job->out = palloc0(sizeof(HsOutcome) * Max(n, 1));
	job->transient = palloc0(sizeof(bool) * Max(n, 1));
	return job;
}

static HsWave *
current_wave(HsJob *job)
{
	while (job->waves != NIL)
	{
		HsWave	   *w = linitial(job->waves);

		if (w->unsettled > 0)
			return w;
		job->waves = list_delete_first(job->waves);
	}
	return NULL;
}

static void
stop_job(HsJob *job, HsStop why, HsCallResult *res)
{
	if (job->stop == HS_STOP_NONE)
	{
		job->stop = why;
		if (res)
			job->stop_result = *res;
	}
	job->waves = NIL;
}

static void
start_call(HsCall *c)
{
	HsJob	   *job = c->job;
	HsInput   **ins = palloc(sizeof(HsInput *) * c->n);
	int			i;

	for (i = 0; i < c->n; i++)
		ins[i] = job->inputs[c->idx[i]];
	if (c->req.url == NULL)
	{
		c->req.method = "POST";
		c->req.url = hs_api_batch_url(job->server, job->object_type, job->op, job->read_archived);
		c->req.body = hs_api_body(job->op, ins, c->n, job->read_extra);
		c->req.body_len = strlen(c->req.body);
		c->req.token = job->token;
		c->req.timeout_ms = job->server->timeout_ms;
		c->req.max_response = job->server->max_answer_bytes;
		c->req.ca_file = job->server->ca_file;
		c->req.at_most_once = job->op == HS_OP_CREATE;
		c->req.arg = c;
	}
	pfree(ins);
	hs_http_start(&c->req);
	job->in_flight++;
}

/* Start what may start now; return how long until something else may. */
static long
start_ready_calls(HsJob **jobs, int njobs, bool sync)
{
	long		next = 100;
	TimestampTz now = GetCurrentTimestamp();
	int			j;

	for (j = 0; j < njobs; j++)
	{
		HsJob	   *job = jobs[j];
		HsWave	   *w;
		long		wait;

		while (job->in_flight < job->server->max_concurrency &&
			   (w = current_wave(job)) != NULL && w->calls != NIL)
		{
			HsCall	   *c = linitial(w->calls);

			if (c->not_before > now)
			{
				next = Min(next, (long) ((c->not_before - now) / 1000) + 1);
				break;
			}
			if (hs_server_paused(job->server->serverid, hs_token_hash(job->token), !sync, &wait))
			{
				HsCallResult r = {0};

				if (!sync && wait > 0 && wait < 1000)
				{
					next = Min(next, wait);
					break;
				}
				r.message = "the server is paused";
				stop_job(job, HS_STOP_PAUSED, &r);
				break;
			}
			if (!hs_ratelimit_acquire(job->server->serverid, hs_token_hash(job->token),
									  job->server->rate_limit, &wait))
			{
				/*
				 * The worker leaves a job whose budget is far off to a later
				 * round, so that other servers' rows do not wait behind it.
				 */
				if (!sync && wait > HS_BUDGET_STOP_MS)
				{
					stop_job(job, HS_STOP_BUDGET, NULL);
					break;
				}
				next = Min(next, Max(wait, 1));
				break;
			}
			w->calls = list_delete_first(w->calls);
			start_call(c);
		}
	}
	return next;
}

static void
count_status(HsDispatchStats *stats, long status)
{
	if (status == 0)
		stats->calls_failed++;
	else if (status == 429)
	{
		stats->calls_429++;
		stats->calls_4xx++;
	}
	else if (status >= 500)
		stats->calls_5xx++;
	else if (status >= 400)
		stats->calls_4xx++;
	else
		stats->calls_2xx++;
}

static void
requeue(HsCall *c, HsWave *w, long wait_ms)
{
	c->not_before = GetCurrentTimestamp() + (TimestampTz) wait_ms * 1000;
	w->calls = lcons(c, w->calls);
	w->unsettled++;
}

/* Exponential backoff with full jitter: 0.5 s, 1 s, 2 s ... capped at 30 s. */
static long
backoff_ms(int tries)
{
	long		base = 500L << Min(tries - 1, 6);

	base = Min(base, 30000L);
	return base / 2 + (long) (pg_prng_double(&pg_global_prng_state) * base / 2);
}

/* Every input of the call gets the call's error. */
static void
fail_inputs(HsCall *c, HsCallResult *res, bool transient)
{
	HsJob	   *job = c->job;
	int			i;

	for (i = 0; i < c->n; i++)
	{
		HsOutcome  *o = &job->out[c->idx[i]];

		o->error = res->error;
		/* a create HubSpot may have done is never sent again by itself */
		if (transient && job->op == HS_OP_CREATE && res->maybe_applied)
			o->unknown = true;
		else
			job->transient[c->idx[i]] = transient;
	}
}

static void
settle_call(HsCall *c, HsOutcome *out, HsCallResult *res, bool sync)
{
	HsJob	   *job = c->job;
	HsWave	   *w = job->waves != NIL ? linitial(job->waves) : NULL;
	int			i;

	if (w)
		w->unsettled--;
	switch (res->cls)
	{
		case HS_CALL_OK:
			hs_server_ok(job->server->serverid);
			for (i = 0; i < c->n; i++)
				job->out[c->idx[i]] = out[i];
			return;
		case HS_CALL_REJECTED:
			if (c->n > 1 && w)
			{
				int			half = c->n / 2;

				/* the halves go first, in order, so the wave finishes soon */
				w->calls = lcons(new_call(job, c->idx + half, c->n - half), w->calls);
				w->calls = lcons(new_call(job, c->idx, half), w->calls);
				w->unsettled += 2;
				return;
			}
			fail_inputs(c, res, false);
			return;
		case HS_CALL_FAILED:
			fail_inputs(c, res, false);
			return;
		case HS_CALL_AUTH:
			stop_job(job, HS_STOP_AUTH, res);
			return;
		case HS_CALL_RATE_LIMITED:
			if (res->policy && strcmp(res->policy, "DAILY") == 0)
			{
				stop_job(job, HS_STOP_DAILY, res);
				return;
			}
			hs_ratelimit_limited(hs_token_hash(job->token), res->policy, res->wait_ms);
			if (w)
				requeue(c, w, 0);
			return;
		case HS_CALL_WAIT:
			if (res->wait_ms > HS_MAX_INPLACE_WAIT_MS || w == NULL)
			{
				stop_job(job, HS_STOP_LONG_WAIT, res);
				return;
			}
			requeue(c, w, res->wait_ms);
			return;
		case HS_CALL_RETRY:
			c->tries++;
			if (sync && w && !(job->op == HS_OP_CREATE && res->maybe_applied) &&
				c->tries < Min(HS_SYNC_MAX_TRIES, job->server->max_attempts))
			{
				requeue(c, w, backoff_ms(c->tries));
				return;
			}
			fail_inputs(c, res, true);
			/* the worker probes with one call, not with the whole backlog */
			if (!sync)
				stop_job(job, HS_STOP_TRANSIENT, res);
			return;
	}
}

/* HubSpot's rate headers, less any nonsense (said once per process). */
static void
observe_rate(HsServer *server, const char *token, HsRateHeaders *rate)
{
	static bool said = false;

	if (rate->nonsense && !said)
	{
		said = true;
		ereport(LOG,
				(errmsg("hubspot_fdw: ignored rate-limit or Retry-After headers out of any sane range from server \"%s\"",
						server->servername)));
	}
	hs_ratelimit_observe(hs_token_hash(token), rate);
}

static void
finish_call(HsHttpRequest *req, bool sync, HsDispatchStats *stats)
{
	HsCall	   *c = (HsCall *) req->arg;
	HsJob	   *job = c->job;
	HsInput   **ins = palloc(sizeof(HsInput *) * c->n);
	HsOutcome  *out = palloc0(sizeof(HsOutcome) * c->n);
	HsCallResult res;
	int			i;

	job->in_flight--;
	for (i = 0; i < c->n; i++)
		ins[i] = job->inputs[c->idx[i]];
	if (stats)
		count_status(stats, req->status);
	if (hs_log_calls)
		ereport(LOG,
				(errmsg("hubspot_fdw: POST %s -> %ld, %d inputs, %.1f ms%s%s",
						req->url, req->status, c->n, req->elapsed_ms,
						req->status == 0 ? ": " : "", req->status == 0 ? req->error : "")));
	observe_rate(job->server, job->token, &req->rate);
	CHECK_FOR_INTERRUPTS();
	hs_api_parse(job->op, req, ins, c->n, out, &res);
	CHECK_FOR_INTERRUPTS();
	if (job->stop != HS_STOP_NONE)
	{
		/* a stopped job still keeps what its last calls achieved */
		if (res.cls == HS_CALL_OK)
			for (i = 0; i < c->n; i++)
				job->out[c->idx[i]] = out[i];
		return;
	}
	settle_call(c, out, &res, sync);
	if (req->response)
		pfree(req->response);
	req->response = NULL;
}

static bool
work_left(HsJob **jobs, int njobs)
{
	int			j;

	for (j = 0; j < njobs; j++)
		if (jobs[j]->in_flight > 0 || current_wave(jobs[j]) != NULL)
			return true;
	return false;
}

static void
dispatch_loop(HsJob **jobs, int njobs, bool sync, HsDispatchStats *stats)
{
	while (work_left(jobs, njobs))
	{
		long		next = start_ready_calls(jobs, njobs, sync);
		HsHttpRequest *req;

		if (hs_http_in_flight() == 0)
		{
			if (!work_left(jobs, njobs))
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 next, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		req = hs_http_wait(next);
		if (req)
			finish_call(req, sync, stats);
	}
}

/*
 * Run every job to the end.  sync: the caller waits for the answer, so
 * transient failures are retried here a few times; the worker instead
 * gets them back as transient outcomes and retries them later.
 */
void
hs_dispatch(HsJob **jobs, int njobs, bool sync, HsDispatchStats *stats)
{
	int			j;

	for (j = 0; j < njobs; j++)
		plan_job(jobs[j]);
	PG_TRY();
	{
		dispatch_loop(jobs, njobs, sync, stats);
	}
	PG_CATCH();
	{
		hs_http_abort_all();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* For synchronous callers: a job that could not finish is an ERROR. */
void
hs_job_raise(HsJob *job)
{
	HsCallResult *r = &job->stop_result;
	const char *srv = job->server->servername;
	int			i;

	switch (job->stop)
	{
		case HS_STOP_AUTH:
			ereport(ERROR,
					(errcode(r->status == 403 ? ERRCODE_INSUFFICIENT_PRIVILEGE
							 : ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("HubSpot refused the access token of server \"%s\": %s",
							srv, r->category ? r->category : "HTTP error"),
					 errdetail("HubSpot answered %ld: %s", r->status, r->message),
					 r->status == 403 ?
					 errhint("Give the private app the scopes HubSpot names, or use another token.") :
					 errhint("Check the access_token option of the user mapping for server \"%s\".", srv)));
			break;
		case HS_STOP_DAILY:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("HubSpot's daily API limit is used up for server \"%s\"", srv),
					 errdetail("HubSpot answered 429: %s", r->message),
					 errhint("The limit resets at midnight in the HubSpot account's time zone.")));
			break;
		case HS_STOP_LONG_WAIT:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("HubSpot asked server \"%s\" to wait %ld s before the next call",
							srv, r->wait_ms / 1000),
					 errdetail("HubSpot answered %ld: %s", r->status, r->message)));
			break;
		case HS_STOP_PAUSED:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("server \"%s\" is paused", srv),
					 errhint("See hubspot_queue_status for the reason.")));
			break;
		case HS_STOP_NONE:
		case HS_STOP_TRANSIENT:
		case HS_STOP_BUDGET:
			break;
	}
	for (i = 0; i < job->n; i++)
	{
		JsonbValue	v;
		char	   *msg;
		char	   *cat;

		if (!job->transient[i])
			continue;
		msg = hs_jsonb_scalar_text(hs_jsonb_get(&job->out[i].error->root, "message", &v));
		cat = hs_jsonb_scalar_text(hs_jsonb_get(&job->out[i].error->root, "category", &v));
		ereport(ERROR,
				(errcode(strcmp(cat ? cat : "", "NETWORK_ERROR") == 0 ?
						 ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION :
						 ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not complete a HubSpot call for server \"%s\": %s",
						srv, strcmp(cat ? cat : "", "NETWORK_ERROR") == 0 ? "no answer" :
						strcmp(cat ? cat : "", "INVALID_RESPONSE") == 0 ? "HubSpot's answer is unreadable" :
						strcmp(cat ? cat : "", "INCOMPLETE_BATCH") == 0 ? "HubSpot did not complete the batch" :
						"HubSpot failed"),
				 errdetail("%s%s%s (after %d tries)", cat ? cat : "", cat ? ": " : "",
						   msg ? msg : "unknown error",
						   Min(HS_SYNC_MAX_TRIES, job->server->max_attempts))));
	}
}

/* How long to wait before asking again after a failed GET. */
static long
get_retry_ms(HsHttpRequest *req, Jsonb *body, int tries)
{
	JsonbValue	v;
	char	   *policy = NULL;

	if (req->rate.retry_after_ms >= 0)
		return req->rate.retry_after_ms;
	if (req->status == 429)
	{
		if (body && JB_ROOT_IS_OBJECT(body))
			policy = hs_jsonb_scalar_text(hs_jsonb_get(&body->root, "policyName", &v));
		if (policy && strcmp(policy, "SECONDLY") == 0)
			return 1000;
		/* TEN_SECONDLY_ROLLING: the rest of HubSpot's window */
		return req->rate.interval_ms > 0 ? req->rate.interval_ms : 10000;
	}
	if (req->status == 423)
		return 2000;
	return backoff_ms(tries);
}

/* One call, waited for; a cancel or an error ends it. */
static void
run_request(HsHttpRequest *req)
{
	PG_TRY();
	{
		hs_http_start(req);
		while (hs_http_wait(1000) == NULL)
			;
	}
	PG_CATCH();
	{
		hs_http_abort_all();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * One GET or POST, for reads and IMPORT FOREIGN SCHEMA: within the budget,
 * waiting out 429s as HubSpot says (the caller's statement_timeout and
 * cancel end the wait), and an ERROR for anything but a JSON object answer.
 */
Jsonb *
hs_call_read(HsServer *server, const char *token, const char *url, const char *body_text,
			 bool search)
{
	HsHttpRequest req;
	int			tries = 0;

	for (;;)
	{
		long		wait = 0;
		Jsonb	   *body = NULL;
		const char *why = NULL;

		memset(&req, 0, sizeof(req));
		req.method = body_text ? "POST" : "GET";
		req.url = (char *) url;
		req.body = (char *) body_text;
		req.body_len = body_text ? strlen(body_text) : 0;
		req.token = token;
		req.timeout_ms = server->timeout_ms;
		req.max_response = server->max_answer_bytes;
		req.ca_file = server->ca_file;
		while (search ? !hs_ratelimit_acquire_search(hs_token_hash(token), &wait) :
			   !hs_ratelimit_acquire(server->serverid, hs_token_hash(token), server->rate_limit, &wait))
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(wait, 1), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		run_request(&req);
		observe_rate(server, token, &req.rate);
		if (hs_log_calls)
			ereport(LOG, (errmsg("hubspot_fdw: %s %s -> %ld, %.1f ms", req.method, url,
								 req.status, req.elapsed_ms)));
		if (req.response_len)
			body = hs_api_parse_json(req.response, req.response_len, &why);
		if (req.status == 200 && body && JB_ROOT_IS_OBJECT(body) && !JB_ROOT_IS_SCALAR(body))
			return body;
		/* rate limits are waited out for as long as the caller lets us */
		if (req.status == 429 || req.status == 423 ||
			((req.status >= 500 || req.status == 0 || req.status == 200) &&
			 ++tries < HS_SYNC_MAX_TRIES))
		{
			long		ms = get_retry_ms(&req, body, tries);

			if (req.status == 429 && !search)
				hs_ratelimit_limited(hs_token_hash(token), NULL, ms);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Min(ms, HS_MAX_INPLACE_WAIT_MS), PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		{
			JsonbValue	v;
			char	   *msg = (body && JB_ROOT_IS_OBJECT(body)) ?
				hs_jsonb_scalar_text(hs_jsonb_get(&body->root, "message", &v)) : NULL;

			ereport(ERROR,
					(errcode(req.status == 0 ? ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION :
							 req.status == 401 ? ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
							 req.status == 403 ? ERRCODE_INSUFFICIENT_PRIVILEGE :
							 req.status == 200 ? ERRCODE_FDW_INVALID_DATA_TYPE : ERRCODE_FDW_ERROR),
					 errmsg("HubSpot call for server \"%s\" failed", server->servername),
					 req.status == 0 ? errdetail("%s", req.error) :
					 req.status == 200 ?
					 errdetail("HubSpot's answer could not be read: %s", why ? why : "it is not a JSON object") :
					 errdetail("HubSpot answered %ld: %s", req.status,
							   msg ? msg : "(no message)")));
		}
	}
}

Jsonb *
hs_call_get(HsServer *server, const char *token, const char *url)
{
	return hs_call_read(server, token, url, NULL, false);
}
