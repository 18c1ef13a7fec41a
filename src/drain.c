/*-------------------------------------------------------------------------
 * drain.c
 *		One round of the worker: claim, merge, send, settle.
 *
 * Rows are grouped by (server, owner, object type, operation, id
 * property): one group is one job for hs_dispatch(), sent with the owner's
 * token.  Within a group, the pending writes of one record become one
 * input (later properties win, in queue id order).  A record whose rows
 * switch operation mid-round (upsert, then archive) keeps only its first
 * run of rows; the rest wait for the next round, so per record the order
 * of queue ids is what HubSpot sees.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "batch.h"
#include "drain.h"
#include "ratelimit.h"

#define HS_KEY_LEN 512
#define HS_AUTH_PAUSE_MS	(3650L * 86400L * 1000L)

typedef struct HsMerged
{
	HsQueueRow **rows;
	int			nrows;
	int			cap;
	Jsonb	   *props;
} HsMerged;

typedef struct HsGroup
{
	Oid			serverid;
	Oid			owner;
	char	   *object_type;
	HsOp		op;
	char	   *id_property;
	List	   *merged;
	HsServer   *server;
	char	   *token;
	Jsonb	   *error;			/* why the group cannot be sent */
	HsJob	   *job;			/* one input per merged record; holds outcomes */
	HsJob	   *sub;			/* archive by unique value: the resolved inputs */
	int		   *sub_map;		/* sub's input k is job's input sub_map[k] */
} HsGroup;

typedef struct HsRecord
{
	char		key[HS_KEY_LEN];
	HsMerged   *m;
	HsOp		op;
	bool		blocked;
} HsRecord;

/* When the worker should look again at servers skipped this round. */
long		hs_drain_wake_ms = -1;

static void
wake_within(long ms)
{
	if (ms > 0 && (hs_drain_wake_ms < 0 || ms < hs_drain_wake_ms))
		hs_drain_wake_ms = ms;
}

/*
 * Servers not to claim rows for: paused (for auth: while the token is the
 * one that failed), or out of rate budget for a while.
 */
static int
skipped_servers(Oid *skip, int max)
{
	HsServerState st[64];
	int			n = hs_server_states(st, 64);
	int			k = 0;
	int			i;

	hs_drain_wake_ms = -1;
	for (i = 0; i < n && k < max; i++)
	{
		ForeignServer *fs = GetForeignServerExtended(st[i].serverid, FSV_MISSING_OK);
		uint32		hash = 0;
		long		wait = 0;

		if (fs == NULL)
			continue;
		if (st[i].pause_kind == HS_PAUSE_AUTH)
		{
			Oid			owner = hs_queue_pending_owner(st[i].serverid);

			if (OidIsValid(owner))
				hash = hs_token_hash(hs_token_find(st[i].serverid, owner));
		}
		if (hs_server_paused(st[i].serverid, hash, &wait))
		{
			skip[k++] = st[i].serverid;
			wake_within(st[i].pause_kind == HS_PAUSE_AUTH ? 0 : wait);
			continue;
		}
		wait = hs_ratelimit_wait(st[i].serverid, hs_server_get(st[i].serverid)->rate_limit);
		if (wait > HS_BUDGET_STOP_MS)
		{
			skip[k++] = st[i].serverid;
			wake_within(wait);
		}
	}
	return k;
}

static bool
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
resolve_group(HsGroup *g)
{
	ForeignServer *fs = GetForeignServerExtended(g->serverid, FSV_MISSING_OK);

	if (fs == NULL)
	{
		g->error = hs_make_error("NO_SERVER",
								 psprintf("foreign server %u no longer exists", g->serverid), 0);
		return;
	}
	g->server = hs_server_get(g->serverid);
	g->token = hs_token_find(g->serverid, g->owner);
	if (g->token == NULL)
	{
		char	   *role = GetUserNameFromId(g->owner, true);

		g->error = hs_make_error("NO_USER_MAPPING",
								 psprintf("no user mapping with an access_token for role \"%s\" on server \"%s\"",
										  role ? role : "?", fs->servername), 0);
	}
}

static HsGroup *
group_for(HsDrainPlan *plan, HsQueueRow *r)
{
	ListCell   *lc;
	HsGroup    *g;

	foreach(lc, plan->groups)
	{
		g = lfirst(lc);
		if (g->serverid == r->serverid && g->owner == r->owner && g->op == r->op &&
			strcmp(g->object_type, r->object_type) == 0 &&
			same_text(g->id_property, r->id_property))
			return g;
	}
	g = palloc0(sizeof(HsGroup));
	g->serverid = r->serverid;
	g->owner = r->owner;
	g->object_type = r->object_type;
	g->op = r->op;
	g->id_property = r->id_property;
	resolve_group(g);
	plan->groups = lappend(plan->groups, g);
	return g;
}

static void
merge_row(HsMerged *m, HsQueueRow *r)
{
	if (m->nrows == m->cap)
	{
		m->cap = m->cap ? m->cap * 2 : 2;
		m->rows = m->rows ? repalloc(m->rows, sizeof(HsQueueRow *) * m->cap)
			: palloc(sizeof(HsQueueRow *) * m->cap);
	}
	m->rows[m->nrows++] = r;
	if (r->properties == NULL)
		return;
	if (m->props == NULL)
		m->props = r->properties;
	else
		m->props = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
													  JsonbPGetDatum(m->props),
													  JsonbPGetDatum(r->properties)));
}

static HsMerged *
new_merged(HsGroup *g)
{
	HsMerged   *m = palloc0(sizeof(HsMerged));

	g->merged = lappend(g->merged, m);
	return m;
}

static void
add_row(HsDrainPlan *plan, HTAB *records, HsQueueRow *r)
{
	HsGroup    *g = group_for(plan, r);
	char		key[HS_KEY_LEN];
	HsRecord   *rec;
	bool		found;

	if (r->op == HS_OP_CREATE || r->record_key == NULL)
	{
		merge_row(new_merged(g), r);
		return;
	}
	snprintf(key, sizeof(key), "%u:%u:%s:%s", r->serverid, r->owner, r->object_type,
			 hs_record_key(r->id_property, r->record_key));
	rec = hash_search(records, key, HASH_ENTER, &found);
	if (!found)
	{
		rec->m = new_merged(g);
		rec->op = r->op;
		rec->blocked = false;
	}
	else if (rec->blocked || rec->op != r->op)
	{
		rec->blocked = true;
		plan->deferred = lappend(plan->deferred, r);
		return;
	}
	merge_row(rec->m, r);
}

static void
build_job(HsGroup *g)
{
	int			n = list_length(g->merged);
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, g->merged)
	{
		HsMerged   *m = lfirst(lc);
		HsQueueRow *last = m->rows[m->nrows - 1];
		HsInput    *in = palloc0(sizeof(HsInput));

		in->id = last->record_key;
		in->id_property = last->id_property;
		in->key = hs_record_key(in->id_property, in->id);
		in->trace_id = last->id;
		if (g->op != HS_OP_ARCHIVE)
			in->properties = m->props ? JsonbToCString(NULL, &m->props->root, VARSIZE(m->props))
				: "{}";
		ins[i++] = in;
	}
	g->job = hs_job_new(g->server, g->token, g->object_type, g->op, ins, n);
}

/*
 * Called inside a transaction with SPI connected; SPI calls switch memory
 * contexts, so the caller's context is kept and restored here.
 */
HsDrainPlan *
hs_drain_claim(int limit, int *unpacked)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			skip[64];
	int			nskip = skipped_servers(skip, 64);
	HsDrainPlan *plan;
	HASHCTL		ctl;
	HTAB	   *records;
	ListCell   *lc;
	int			i;

	MemoryContextSwitchTo(cxt);
	plan = palloc0(sizeof(HsDrainPlan));
	plan->rows = hs_queue_claim(cxt, limit, skip, nskip, &plan->nrows, unpacked);
	MemoryContextSwitchTo(cxt);
	if (plan->nrows == 0)
		return NULL;

	ctl.keysize = HS_KEY_LEN;
	ctl.entrysize = sizeof(HsRecord);
	ctl.hcxt = CurrentMemoryContext;
	records = hash_create("hubspot_fdw records", plan->nrows, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = 0; i < plan->nrows; i++)
		add_row(plan, records, &plan->rows[i]);
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->error == NULL)
			build_job(g);
	}
	return plan;
}

/*
 * batch/archive takes record ids only: a record keyed by a unique value
 * (email, say) is looked up with batch/read first.  One already gone
 * counts as archived.
 */
static List *
lookup_jobs(List *groups)
{
	List	   *lookups = NIL;
	ListCell   *lc;

	foreach(lc, groups)
	{
		HsGroup    *g = lfirst(lc);
		HsJob	   *read;

		if (g->job == NULL || g->op != HS_OP_ARCHIVE || g->id_property == NULL)
			continue;
		read = hs_job_new(g->server, g->token, g->object_type, HS_OP_READ,
						  g->job->inputs, g->job->n);
		read->read_extra = psprintf("\"properties\":[\"%s\"]", g->id_property);
		g->sub = read;
		lookups = lappend(lookups, read);
	}
	return lookups;
}

static void
use_lookup(HsGroup *g)
{
	HsJob	   *read = g->sub;
	HsJob	   *job = g->job;
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(job->n, 1));
	int			n = 0;
	int			i;

	g->sub_map = palloc(sizeof(int) * Max(job->n, 1));
	for (i = 0; i < job->n; i++)
	{
		JsonbValue	v;
		HsOutcome  *o = &read->out[i];
		char	   *cat = o->error ?
			hs_jsonb_scalar_text(hs_jsonb_get(&o->error->root, "category", &v)) : NULL;

		if (o->result)
		{
			HsInput    *in = palloc0(sizeof(HsInput));

			in->id = hs_jsonb_scalar_text(hs_jsonb_get(&o->result->root, "id", &v));
			in->key = in->id;
			in->trace_id = job->inputs[i]->trace_id;
			g->sub_map[n] = i;
			ins[n++] = in;
		}
		else if (cat && strcmp(cat, "OBJECT_NOT_FOUND") == 0)
			job->out[i].result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum("{\"archived\": true, \"found\": false}")));
		else
		{
			job->out[i] = *o;
			job->transient[i] = read->transient[i];
		}
	}
	job->stop = read->stop;
	job->stop_result = read->stop_result;
	g->sub = n > 0 && read->stop == HS_STOP_NONE ?
		hs_job_new(g->server, g->token, g->object_type, HS_OP_ARCHIVE, ins, n) : NULL;
}

void
hs_drain_send(HsDrainPlan *plan, HsDrainResult *r)
{
	HsJob	  **jobs = palloc(sizeof(HsJob *) * Max(list_length(plan->groups), 1));
	List	   *lookups = lookup_jobs(plan->groups);
	int			n = 0;
	ListCell   *lc;

	if (lookups != NIL)
	{
		int			k = 0;

		foreach(lc, lookups)
			jobs[k++] = lfirst(lc);
		hs_dispatch(jobs, k, false, &r->calls);
		foreach(lc, plan->groups)
		{
			HsGroup    *g = lfirst(lc);

			if (g->sub)
				use_lookup(g);
		}
	}
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->sub)
			jobs[n++] = g->sub;
		else if (g->job && !(g->op == HS_OP_ARCHIVE && g->id_property))
			jobs[n++] = g->job;
	}
	if (n > 0)
		hs_dispatch(jobs, n, false, &r->calls);
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);
		int			k;

		if (g->sub == NULL)
			continue;
		for (k = 0; k < g->sub->n; k++)
		{
			g->job->out[g->sub_map[k]] = g->sub->out[k];
			g->job->transient[g->sub_map[k]] = g->sub->transient[k];
		}
		if (g->sub->stop != HS_STOP_NONE)
		{
			g->job->stop = g->sub->stop;
			g->job->stop_result = g->sub->stop_result;
		}
	}
}

static char *
error_message(Jsonb *error)
{
	JsonbValue	v;
	char	   *msg = error ? hs_jsonb_scalar_text(hs_jsonb_get(&error->root, "message", &v)) : NULL;

	return msg ? msg : "unknown error";
}

/* After a job: pause its server when HubSpot said so. */
static void
apply_stop(HsGroup *g, bool transient_seen, HsDrainResult *r)
{
	HsJob	   *job = g->job;
	const char *msg = job->stop_result.message ? job->stop_result.message : "";

	switch (job->stop)
	{
		case HS_STOP_AUTH:
			hs_server_pause(g->serverid, HS_PAUSE_AUTH, HS_AUTH_PAUSE_MS,
							hs_token_hash(g->token),
							psprintf("%ld %s: %s", job->stop_result.status,
									 job->stop_result.category ? job->stop_result.category : "", msg));
			strlcpy(r->last_error, msg, sizeof(r->last_error));
			break;
		case HS_STOP_DAILY:
			hs_server_pause(g->serverid, HS_PAUSE_DAILY, hs_ms_until_daily_reset(), 0,
							psprintf("429 DAILY: %s", msg));
			strlcpy(r->last_error, msg, sizeof(r->last_error));
			break;
		case HS_STOP_LONG_WAIT:
			hs_server_pause(g->serverid, HS_PAUSE_BACKOFF, job->stop_result.wait_ms, 0,
							psprintf("%ld: %s", job->stop_result.status, msg));
			break;
		default:
			break;
	}
	if (transient_seen)
		hs_server_backoff(g->serverid, g->server->max_attempts, r->last_error);
}

/*
 * HubSpot out of reach is nobody's row's fault: once a server has failed
 * this many calls in a row, calls that get no answer stop counting as
 * attempts, so an outage of any length leaves the queue intact.  Answers
 * (5xx included) always count.
 */
#define HS_OUTAGE_FAILURES 3

static bool
no_answer(Jsonb *error)
{
	JsonbValue	v;
	char	   *cat = hs_jsonb_scalar_text(hs_jsonb_get(&error->root, "category", &v));

	return cat && strcmp(cat, "NETWORK_ERROR") == 0;
}

static void
settle_row(HsSettle *s, HsQueueRow *row, HsGroup *g, HsOutcome *o, bool transient,
		   bool outage, HsDrainResult *r)
{
	s->id = row->id;
	s->result = NULL;
	s->error = NULL;
	s->attempt = 0;
	s->state = "pending";
	if (o == NULL)
		return;
	if (o->result)
	{
		s->state = "done";
		s->result = o->result;
		s->attempt = 1;
		r->rows_done++;
		return;
	}
	if (o->error == NULL)
		return;
	s->error = o->error;
	s->attempt = (transient && outage && no_answer(o->error)) ? 0 : 1;
	if (!transient ||
		(s->attempt && row->attempts + 1 >= (g->server ? g->server->max_attempts : 1)))
	{
		s->state = "failed";
		r->rows_failed++;
	}
	strlcpy(r->last_error, error_message(o->error), sizeof(r->last_error));
}

void
hs_drain_settle(HsDrainPlan *plan, HsDrainResult *r)
{
	MemoryContext cxt = CurrentMemoryContext;
	HsSettle   *s = palloc(sizeof(HsSettle) * plan->nrows);
	int			n = 0;
	ListCell   *lc;

	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);
		HsOutcome	unsendable = {NULL, g->error};
		bool		transient_seen = false;
		bool		outage = hs_server_failures(g->serverid) >= HS_OUTAGE_FAILURES;
		ListCell   *lc2;
		int			i = 0;

		foreach(lc2, g->merged)
		{
			HsMerged   *m = lfirst(lc2);
			HsOutcome  *o = g->job ? &g->job->out[i] : &unsendable;
			bool		transient = g->job ? g->job->transient[i] : false;
			int			k;

			transient_seen |= transient;
			for (k = 0; k < m->nrows; k++)
				settle_row(&s[n++], m->rows[k], g, o, transient, outage, r);
			i++;
		}
		if (g->job)
			apply_stop(g, transient_seen, r);
	}
	foreach(lc, plan->deferred)
		settle_row(&s[n++], lfirst(lc), NULL, NULL, false, false, r);
	hs_queue_settle(s, n);
	MemoryContextSwitchTo(cxt);
}
