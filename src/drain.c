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

#include <limits.h>

#include "commands/async.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "assoc.h"
#include "drain.h"
#include "keys.h"
#include "ratelimit.h"
#include "resolve.h"


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
	char	   *server_name;
	char	   *owner_name;
	char	   *object_type;
	HsOp		op;
	char	   *id_property;
	List	   *merged;
	HsServer   *server;
	char	   *token;
	Jsonb	   *error;			/* why the group cannot be sent */
	HsJob	   *job;			/* one input per merged record; holds outcomes */
	HsResolve	resolve;		/* archive by unique value: the ids first */
	bool		resolving;
	HsAssocRun *assoc;			/* associations: their run instead of a job */
	HsQueueRow **item_rows;		/* assoc->items[i] came from item_rows[i] */
	bool		assoc_sent;		/* hs_assoc_run has run */
} HsGroup;

typedef struct HsRecord
{
	char	   *key;			/* server, owner, type and record key: whole */
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
 * What not to claim this round: servers paused as a whole (daily limit,
 * backoff) or out of rate budget for a while, and the rows of owners whose
 * token HubSpot refused (an auth pause is that mapping's alone).
 */
typedef struct HsSkip
{
	Oid			servers[64];
	int			nservers;
	Oid			pair_server[256];
	Oid			pair_owner[256];
	int			npairs;
} HsSkip;

/* Why the worker waits, for hubspot_worker_status. */
char		hs_drain_waiting[128];

static void
waiting_for(const char *what, long ms)
{
	TimestampTz until = GetCurrentTimestamp() + (TimestampTz) ms * 1000;

	if (hs_drain_waiting[0] == '\0' || (ms > 0 && ms < hs_drain_wake_ms))
		snprintf(hs_drain_waiting, sizeof(hs_drain_waiting), "%s%s%s", what,
				 ms > 0 ? " until " : "", ms > 0 ? timestamptz_to_str(until) : "");
	wake_within(ms);
}

/*
 * Owners whose rows wait on this server: their token was refused (an auth
 * pause is that mapping's alone) or their app's budget is used up for a
 * while (one budget per token, across servers).
 */
static void
skip_owners(HsServerState *st, HsSkip *skip)
{
	int			nowners;
	Oid		   *owners = hs_queue_pending_owners(st->serverid, &nowners);
	HsServer   *server = hs_server_get(st->serverid);
	uint32		live[64];
	int			nlive = 0;
	int			j;

	for (j = 0; j < nowners && skip->npairs < lengthof(skip->pair_owner); j++)
	{
		uint32		hash = hs_token_hash(hs_token_find(st->serverid, owners[j]));
		long		wait;
		bool		skipped = false;

		if (nlive < lengthof(live))
			live[nlive++] = hash;
		if (hs_server_paused(st->serverid, hash, true, &wait) && wait == LONG_MAX / 2)
		{
			skipped = true;
			waiting_for(psprintf("paused: auth (mapping of role \"%s\" on server \"%s\", until its access_token changes)",
								 GetUserNameFromId(owners[j], true) ? GetUserNameFromId(owners[j], true) : "?",
								 server->servername), 0);
		}
		else if ((wait = hs_ratelimit_wait(hash, server->rate_limit)) > HS_BUDGET_STOP_MS)
		{
			skipped = true;
			waiting_for("waiting for rate budget", wait);
		}
		if (skipped)
		{
			skip->pair_server[skip->npairs] = st->serverid;
			skip->pair_owner[skip->npairs++] = owners[j];
		}
	}
	/* a token that no pending row's mapping holds any more was changed */
	if (nowners < 64)
		hs_server_forget_auth(st->serverid, live, nlive);
}

static void
skipped(HsSkip *skip)
{
	HsServerState st[64];
	int			n = hs_server_states(st, 64);
	int			i;

	memset(skip, 0, sizeof(*skip));
	hs_drain_wake_ms = -1;
	hs_drain_waiting[0] = '\0';
	for (i = 0; i < n && skip->nservers < lengthof(skip->servers); i++)
	{
		ForeignServer *fs = GetForeignServerExtended(st[i].serverid, FSV_MISSING_OK);
		long		wait = 0;

		if (fs == NULL)
			continue;
		if (hs_server_paused(st[i].serverid, 0, true, &wait))
		{
			skip->servers[skip->nservers++] = st[i].serverid;
			waiting_for(st[i].pause_kind == HS_PAUSE_DAILY ? "paused: daily limit" : "backing off", wait);
			continue;
		}
		/* the cost of a look at the owners only where something may wait */
		if (st[i].nauth > 0 ||
			(st[i].last_token != 0 &&
			 hs_ratelimit_wait(st[i].last_token, hs_server_get(st[i].serverid)->rate_limit) > 0))
			skip_owners(&st[i], skip);
	}
}

static bool
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void
resolve_group(HsGroup *g)
{
	if (!OidIsValid(g->serverid))
	{
		g->error = hs_make_error("NO_SERVER",
								 psprintf("foreign server \"%s\" does not exist", g->server_name), 0);
		return;
	}
	if (!OidIsValid(g->owner))
	{
		g->error = hs_make_error("NO_ROLE",
								 psprintf("role \"%s\" that queued the row does not exist", g->owner_name), 0);
		return;
	}
	g->server = hs_server_get(g->serverid);
	g->token = hs_token_find(g->serverid, g->owner);
	if (g->token == NULL)
		g->error = hs_make_error("NO_USER_MAPPING",
								 psprintf("no user mapping with an access_token for role \"%s\" on server \"%s\"",
										  g->owner_name, g->server_name), 0);
}

static HsGroup *
group_for(HsDrainPlan *plan, HsQueueRow *r)
{
	ListCell   *lc;
	HsGroup    *g;

	foreach(lc, plan->groups)
	{
		g = lfirst(lc);
		if (strcmp(g->server_name, r->server_name) == 0 &&
			strcmp(g->owner_name, r->owner_name) == 0 && g->op == r->op &&
			strcmp(g->object_type, r->object_type) == 0 &&
			same_text(g->id_property, r->id_property))
			return g;
	}
	g = palloc0(sizeof(HsGroup));
	g->serverid = r->serverid;
	g->owner = r->owner;
	g->server_name = r->server_name;
	g->owner_name = r->owner_name;
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
	char	   *key;
	HsRecord   *rec;
	bool		found;

	if (r->op == HS_OP_CREATE || r->record_key == NULL)
	{
		merge_row(new_merged(g), r);
		return;
	}
	key = psprintf("%s\x1f%s\x1f%s\x1f%s", r->server_name, r->owner_name, r->object_type,
				   hs_record_key(r->id_property, r->record_key));
	rec = hash_search(records, &key, HASH_ENTER, &found);
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
		in->trace = psprintf(INT64_FORMAT, last->id);
		if (g->op != HS_OP_ARCHIVE)
			in->properties = m->props ? JsonbToCString(NULL, &m->props->root, VARSIZE(m->props))
				: "{}";
		ins[i++] = in;
	}
	g->job = hs_job_new(g->server, g->token, g->object_type, g->op, ins, n);
}

/* An association row's input; a row that is no input any more fails alone. */
static HsAssoc *
assoc_of_row(HsGroup *g, HsQueueRow *row)
{
	MemoryContext cxt = CurrentMemoryContext;
	HsAssoc    *volatile found = NULL;
	HsAssoc    *a;
	char	   *from_type;
	char	   *to_type;

	PG_TRY();
	{
		if (row->properties == NULL || !JB_ROOT_IS_OBJECT(row->properties) ||
			!hs_api_split_pair(row->object_type, &from_type, &to_type))
			elog(ERROR, "the queue row holds no association");
		found = hs_parse_assoc_input(row->op, from_type, to_type, &row->properties->root,
									 "the queued association");
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		a = palloc0(sizeof(HsAssoc));
		a->op = row->op;
		a->error = hs_make_error("INVALID_INPUT", ed->message, 0);
		return a;
	}
	PG_END_TRY();
	return found;
}

/*
 * Each side from the latest earlier queued write of its record: its id
 * if it was written, or the association's error if that write failed.
 * Sides left unknown are looked up in HubSpot when the run is sent.
 */
static void
sides_from_queue(HsGroup *g)
{
	HsAssocRun *run = g->assoc;
	int			max = run->n * 2;
	int64	   *before = palloc(sizeof(int64) * Max(max, 1));
	char	  **types = palloc(sizeof(char *) * Max(max, 1));
	char	  **props = palloc(sizeof(char *) * Max(max, 1));
	char	  **values = palloc(sizeof(char *) * Max(max, 1));
	HsEarlierWrite *w = palloc(sizeof(HsEarlierWrite) * Max(max, 1));
	int			n = 0;
	int			i,
				s;

	for (i = 0; i < run->n; i++)
		for (s = 0; s < 2; s++)
		{
			HsAssocSide *side = &run->items[i]->side[s];

			if (side->error || side->type == NULL)
				continue;
			before[n] = g->item_rows[i]->id;
			types[n] = side->type;
			props[n] = side->property;
			values[n++] = side->value;
		}
	/* the role's own writes only: another role's values and errors are not its to see */
	hs_queue_earlier_writes(g->server_name, g->owner_name, n, before, types, props, values, w);
	n = 0;
	for (i = 0; i < run->n; i++)
		for (s = 0; s < 2; s++)
		{
			HsAssoc    *a = run->items[i];
			HsAssocSide *side = &a->side[s];
			HsEarlierWrite *e;

			if (side->error || side->type == NULL)
				continue;
			e = &w[n++];
			if (e->row == 0)
				continue;
			if (strcmp(e->state, "failed") == 0)
				side->error = hs_assoc_side_error(a, s, "RECORD_WRITE_FAILED",
												  "its write (queue row " INT64_FORMAT ") failed: %s",
												  e->row, e->message ? e->message : "unknown error");
			else if (e->id && side->id == NULL)
				side->id = e->id;
		}
}

/*
 * A full claim leaves more rows behind: links that would only part-fill a
 * last call wait for them, so that every call but the queue's last one
 * carries HubSpot's 2,000 pairs.  Whole pairs wait, keeping their order.
 */
static void
fill_calls(HsDrainPlan *plan, HsGroup *g)
{
	int			n = list_length(g->merged);
	int			keep = n - n % HS_ASSOC_BATCH_MAX;

	if (n <= HS_ASSOC_BATCH_MAX || keep == n)
		return;
	while (list_length(g->merged) > keep)
	{
		HsMerged   *m = llast(g->merged);
		int			k;

		for (k = 0; k < m->nrows; k++)
			plan->deferred = lappend(plan->deferred, m->rows[k]);
		g->merged = list_delete_last(g->merged);
	}
}

static void
build_assoc(HsGroup *g)
{
	HsAssocRun *run = palloc0(sizeof(HsAssocRun));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, g->merged)
		n += ((HsMerged *) lfirst(lc))->nrows;
	run->items = palloc(sizeof(HsAssoc *) * Max(n, 1));
	g->item_rows = palloc(sizeof(HsQueueRow *) * Max(n, 1));
	foreach(lc, g->merged)
	{
		HsMerged   *m = lfirst(lc);
		int			k;

		for (k = 0; k < m->nrows; k++)
		{
			g->item_rows[run->n] = m->rows[k];
			run->items[run->n++] = assoc_of_row(g, m->rows[k]);
		}
	}
	run->server = g->server;
	run->token = g->token;
	run->pair = g->object_type;
	g->assoc = run;
	sides_from_queue(g);
}

/*
 * Called inside a transaction with SPI connected; SPI calls switch memory
 * contexts, so the caller's context is kept and restored here.
 */
HsDrainPlan *
hs_drain_claim(int limit, int *unpacked)
{
	MemoryContext cxt = CurrentMemoryContext;
	HsSkip		skip;
	HsDrainPlan *plan;
	HTAB	   *records;
	ListCell   *lc;
	int			i;

	skipped(&skip);
	MemoryContextSwitchTo(cxt);
	plan = palloc0(sizeof(HsDrainPlan));
	plan->rows = hs_queue_claim(cxt, limit, skip.servers, skip.nservers, skip.pair_server,
								skip.pair_owner, skip.npairs, &plan->nrows, unpacked);
	MemoryContextSwitchTo(cxt);
	if (plan->nrows == 0)
		return NULL;

	records = hs_key_table("hubspot_fdw records", plan->nrows, sizeof(HsRecord));
	for (i = 0; i < plan->nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		add_row(plan, records, &plan->rows[i]);
	}
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->error == NULL && HS_OP_IS_ASSOC(g->op))
		{
			if (plan->nrows >= limit)
				fill_calls(plan, g);
			build_assoc(g);
			MemoryContextSwitchTo(cxt);
		}
		else if (g->error == NULL)
			build_job(g);
	}
	return plan;
}

/* Run jobs[0..n) to the end, if there are any. */
static void
dispatch_some(HsJob **jobs, int n, HsDrainResult *r)
{
	if (n > 0)
		hs_dispatch(jobs, n, false, &r->calls);
}

void
hs_drain_send(HsDrainPlan *plan, HsDrainResult *r)
{
	HsJob	  **jobs = palloc(sizeof(HsJob *) * Max(list_length(plan->groups), 1));
	int			n = 0;
	ListCell   *lc;

	/* archives by unique value look their record ids up first */
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->job && hs_resolve_needed(g->job))
		{
			g->resolving = true;
			jobs[n++] = hs_resolve_begin(&g->resolve, g->job);
		}
	}
	dispatch_some(jobs, n, r);
	n = 0;
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);
		HsJob	   *sub;

		if (g->resolving)
		{
			if ((sub = hs_resolve_lookup_done(&g->resolve)) != NULL)
				jobs[n++] = sub;
		}
		else if (g->job)
			jobs[n++] = g->job;
	}
	dispatch_some(jobs, n, r);
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->resolving)
			hs_resolve_finish(&g->resolve);
	}
	/* associations: their records' writes settled in earlier rounds */
	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);

		if (g->assoc == NULL)
			continue;
		g->assoc->stats = &r->calls;
		hs_assoc_run(g->assoc);
		g->assoc_sent = true;
	}
}

/*
 * A round that failed with an ERROR while HubSpot's answers were being
 * read: every input without an outcome gets one that says so.  Creates
 * may have been sent: they become unknown; the rest are tried again.
 */
void
hs_drain_fail_unsettled(HsDrainPlan *plan, const char *message)
{
	Jsonb	   *e = hs_make_error("INTERNAL_ERROR",
								  psprintf("the round failed while sending: %s", message), 0);
	ListCell   *lc;

	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);
		int			i;

		if (g->job == NULL)
			continue;
		for (i = 0; i < g->job->n; i++)
		{
			HsOutcome  *o = &g->job->out[i];

			if (o->result || o->error)
				continue;
			o->error = e;
			if (g->op == HS_OP_CREATE)
				o->unknown = true;
			else
				o->retry = true;
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

/* After a job or a run of links: pause its server when HubSpot said so. */
static void
apply_stop(HsGroup *g, HsStop stop, HsCallResult *res, bool transient_seen, HsDrainResult *r)
{
	const char *msg = res->message ? res->message : "";

	switch (stop)
	{
		case HS_STOP_AUTH:
			hs_server_pause(g->serverid, HS_PAUSE_AUTH, 0,
							hs_token_hash(g->token),
							psprintf("%ld %s: %s", res->status,
									 res->category ? res->category : "", msg));
			strlcpy(r->last_error, msg, sizeof(r->last_error));
			break;
		case HS_STOP_DAILY:
			hs_server_pause(g->serverid, HS_PAUSE_DAILY, hs_ms_until_daily_reset(), 0,
							psprintf("429 DAILY: %s", msg));
			strlcpy(r->last_error, msg, sizeof(r->last_error));
			break;
		case HS_STOP_LONG_WAIT:
			hs_server_pause(g->serverid, HS_PAUSE_BACKOFF, res->wait_ms, 0,
							psprintf("%ld: %s", res->status, msg));
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
	s->attempt = 1;
	strlcpy(r->last_error, error_message(o->error), sizeof(r->last_error));
	/* a create if absent looks its key up again first: that proves it */
	if (o->unknown && row->op == HS_OP_CREATE && row->id_property != NULL)
		transient = true;
	else if (o->unknown)
	{
		/* it may exist in HubSpot: only the user can say whether to resend */
		s->state = "unknown";
		r->rows_failed++;
		return;
	}
	transient |= o->retry;
	if (transient && outage && no_answer(o->error))
		s->attempt = 0;
	if (!transient ||
		(s->attempt && row->attempts + 1 >= (g->server ? g->server->max_attempts : 1)))
	{
		s->state = "failed";
		r->rows_failed++;
	}
}

/*
 * NOTIFY hubspot_fdw_failed after a round in which rows became failed or
 * unknown: counts per server and object type, never values, keys or
 * tokens, once a round (in the settling transaction: sent at its commit).
 */
static void
notify_failures(HsDrainPlan *plan, HsSettle *s, int n)
{
	typedef struct
	{
		const char *server;
		const char *object_type;
		int			failed;
		int			unknown;
	} Count;
	Count	   *counts = palloc0(sizeof(Count) * Max(list_length(plan->groups), 1));
	int			ncounts = 0;
	StringInfoData buf;
	ListCell   *lc;
	int			k = 0;
	int			c;

	foreach(lc, plan->groups)
	{
		HsGroup    *g = lfirst(lc);
		ListCell   *lc2;

		for (c = 0; c < ncounts; c++)
			if (strcmp(counts[c].server, g->server_name) == 0 &&
				strcmp(counts[c].object_type, g->object_type) == 0)
				break;
		if (c == ncounts)
		{
			counts[c].server = g->server_name;
			counts[c].object_type = g->object_type;
			ncounts++;
		}
		foreach(lc2, g->merged)
		{
			HsMerged   *m = lfirst(lc2);
			int			j;

			for (j = 0; j < m->nrows; j++, k++)
			{
				counts[c].failed += strcmp(s[k].state, "failed") == 0;
				counts[c].unknown += strcmp(s[k].state, "unknown") == 0;
			}
		}
	}
	initStringInfo(&buf);
	for (c = 0; c < ncounts; c++)
	{
		/* NOTIFY payloads stop short of 8000 bytes */
		if ((counts[c].failed == 0 && counts[c].unknown == 0) || buf.len > 7000)
			continue;
		appendStringInfo(&buf, "%s{\"server\":", buf.len ? "," : "");
		escape_json(&buf, counts[c].server);
		appendStringInfoString(&buf, ",\"object_type\":");
		escape_json(&buf, counts[c].object_type);
		appendStringInfo(&buf, ",\"failed\":%d,\"unknown\":%d}", counts[c].failed, counts[c].unknown);
	}
	if (buf.len > 0)
		Async_Notify("hubspot_fdw_failed", psprintf("[%s]", buf.data));
}

/*
 * Searches find fresh records a few moments late: a side not found waits
 * this many tries (HS_ASSOC_HOLD apart) before its association fails.
 */
#define HS_ASSOC_SEARCH_TRIES 6

static void
settle_assoc_row(HsSettle *s, HsQueueRow *row, HsGroup *g, HsAssoc *a, HsDrainResult *r)
{
	s->id = row->id;
	s->result = NULL;
	s->error = NULL;
	s->attempt = 0;
	s->state = "pending";
	if (a->result)
	{
		s->state = "done";
		s->result = a->result;
		s->attempt = 1;
		r->rows_done++;
		return;
	}
	if (a->error == NULL)
		return;
	s->error = a->error;
	s->attempt = 1;
	strlcpy(r->last_error, error_message(a->error), sizeof(r->last_error));
	if ((a->wait && row->attempts + 1 < HS_ASSOC_SEARCH_TRIES) ||
		(a->retry && row->attempts + 1 < g->server->max_attempts))
	{
		/* held HS_ASSOC_HOLD by the claim: look again then */
		wake_within(3100);
		return;
	}
	s->state = "failed";
	r->rows_failed++;
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

		if (g->assoc)
		{
			for (i = 0; i < g->assoc->n; i++)
				settle_assoc_row(&s[n++], g->item_rows[i], g, g->assoc->items[i], r);
			if (g->assoc_sent)
				apply_stop(g, g->assoc->stop, &g->assoc->stop_result,
						   g->assoc->transient_seen, r);
			continue;
		}

		foreach(lc2, g->merged)
		{
			HsMerged   *m = lfirst(lc2);
			HsOutcome  *o = g->job ? &g->job->out[i] : &unsendable;
			bool		transient = g->job ? g->job->transient[i] : false;
			int			k;

			/* an input the answer did not account for backs off like a failed call */
			transient_seen |= transient || (g->job && g->job->out[i].retry);
			for (k = 0; k < m->nrows; k++)
				settle_row(&s[n++], m->rows[k], g, o, transient, outage, r);
			i++;
		}
		if (g->job)
			apply_stop(g, g->job->stop, &g->job->stop_result, transient_seen, r);
	}
	if (r->rows_failed > 0)
		notify_failures(plan, s, n);
	foreach(lc, plan->deferred)
		settle_row(&s[n++], lfirst(lc), NULL, NULL, false, false, r);
	hs_queue_settle(s, n);
	MemoryContextSwitchTo(cxt);
}
