/*-------------------------------------------------------------------------
 * batch.c
 *		hubspot_batch_upsert / _update / _create / _archive / _read.
 *
 * Synchronous and not transactional: the calls are made now, and one jsonb
 * row per input comes back in input order, HubSpot's result or the error
 * that input met.  Whole-call failures (401/403, daily limit, HubSpot out
 * of reach) are an ERROR.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/wait_event.h"

#include "assoc.h"
#include "batch.h"
#include "callworker.h"
#include "dispatch.h"
#include "resolve.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(hubspot_batch_upsert);
PG_FUNCTION_INFO_V1(hubspot_batch_update);
PG_FUNCTION_INFO_V1(hubspot_batch_create);
PG_FUNCTION_INFO_V1(hubspot_batch_archive);
PG_FUNCTION_INFO_V1(hubspot_batch_read);
PG_FUNCTION_INFO_V1(hubspot_batch_associate);
PG_FUNCTION_INFO_V1(hubspot_batch_dissociate);

text *
hs_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", name)));
	return PG_GETARG_TEXT_PP(argno);
}

static Jsonb *
jsonb_of(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

static Jsonb *
concat(Jsonb *a, Jsonb *b)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(a), JsonbPGetDatum(b)));
}

/*
 * HubSpot's error, then {"status": "error" or "unknown", "input": <the
 * input as the caller wrote it>}: the status is set last, so that nothing
 * in HubSpot's error can pass an error row off as a result.
 */
static Jsonb *
outcome_row(Jsonb *error, bool unknown, Jsonb *original)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"status\":\"%s\",\"input\":%s}",
					 unknown ? "unknown" : "error",
					 JsonbToCString(NULL, &original->root, VARSIZE(original)));
	return concat(error, jsonb_of(buf.data));
}

/* One row per input: HubSpot's result, or the error (or "not sent") with the input. */
static void
emit_outcome(Jsonb *result, Jsonb *error, bool unknown, Jsonb *original,
			 void (*emit) (Jsonb *row, void *arg), void *arg)
{
	if (result)
		emit(result, arg);
	else
		emit(outcome_row(error ? error : hs_make_error("NOT_SENT", "the input was not sent", 0),
						 unknown, original), arg);
}

/* Archive by unique value: one idProperty for the whole call. */
static void
check_archive_keys(HsParsedInputs *p)
{
	int			i;

	for (i = 1; i < p->n; i++)
		if ((p->inputs[i]->id_property == NULL) != (p->inputs[0]->id_property == NULL) ||
			(p->inputs[0]->id_property &&
			 strcmp(p->inputs[i]->id_property, p->inputs[0]->id_property) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("input %d of batch archive has another \"idProperty\" than input 1", i + 1),
					 errdetail("The record ids are looked up by one property per call."),
					 errhint("Call hubspot_batch_archive() once per idProperty.")));
}

/*
 * The work of a batch function, in two steps: prepare (parse the inputs,
 * look up server and token: needs a transaction) and send (the HTTP calls
 * and one row per input, in input order, to emit: needs none, so a worker
 * holds no snapshot while HubSpot answers).
 */
static HsBatchCall *
assoc_prepare(HsOp op, const char *pair, Jsonb *inputs, const char *servername)
{
	HsBatchCall *c = palloc0(sizeof(HsBatchCall));
	HsAssocRun *run = palloc0(sizeof(HsAssocRun));

	run->items = hs_parse_assoc_inputs(op, pair, inputs, &run->n);
	run->server = hs_server_get_by_name(servername);
	run->token = hs_token_get(run->server->serverid, GetUserId());
	run->pair = pstrdup(pair);
	run->sync = true;
	c->assoc = run;
	return c;
}

/*
 * A side that search did not find may be a record written a moment ago:
 * search lags writes.  A synchronous call looks again a few times.
 */
#define HS_SEARCH_LAG_TRIES		3
#define HS_SEARCH_LAG_MS		2000

static void
raise_stop(HsAssocRun *run)
{
	HsJob		job = {0};

	if (run->stop == HS_STOP_NONE)
		return;
	job.server = run->server;
	job.stop = run->stop;
	job.stop_result = run->stop_result;
	hs_job_raise(&job);
}

static void
assoc_send(HsAssocRun *run, void (*emit) (Jsonb *row, void *arg), void *arg)
{
	HsAssocRun	cur = *run;
	int			try,
				i;

	for (try = 1;; try++)
	{
		HsAssoc   **waiting = palloc(sizeof(HsAssoc *) * Max(cur.n, 1));
		int			n = 0;

		hs_assoc_run(&cur);
		raise_stop(&cur);
		for (i = 0; i < cur.n; i++)
			if (cur.items[i]->wait)
				waiting[n++] = cur.items[i];
		if (n == 0 || try >= HS_SEARCH_LAG_TRIES)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 HS_SEARCH_LAG_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* the waiting ones again, their outcomes landing in place */
		for (i = 0; i < n; i++)
		{
			HsAssoc    *a = waiting[i];
			int			s;

			a->wait = false;
			a->error = NULL;
			a->retry = false;
			for (s = 0; s < 2; s++)
				if (a->side[s].absent)
				{
					a->side[s].absent = false;
					a->side[s].error = NULL;
				}
		}
		cur.items = waiting;
		cur.n = n;
		cur.stop = HS_STOP_NONE;
	}
	for (i = 0; i < run->n; i++)
		emit_outcome(run->items[i]->result, run->items[i]->error, false,
					 run->items[i]->original, emit, arg);
}

HsBatchCall *
hs_batch_prepare(HsOp op, const char *object_type, Jsonb *inputs, const char *servername)
{
	HsBatchCall *c = palloc0(sizeof(HsBatchCall));
	HsServer   *server;

	if (HS_OP_IS_ASSOC(op))
		return assoc_prepare(op, object_type, inputs, servername);
	hs_check_object_type(object_type);
	server = hs_server_get_by_name(servername);
	c->parsed = hs_parse_inputs(op, inputs);
	if (c->parsed->n == 0)
		return c;
	if (op == HS_OP_ARCHIVE)
		check_archive_keys(c->parsed);
	c->job = hs_job_new(server, hs_token_get(server->serverid, GetUserId()),
						pstrdup(object_type), op, c->parsed->inputs, c->parsed->n);
	c->job->read_extra = c->parsed->read_extra;
	return c;
}

static void
run_job(HsJob *job)
{
	HsResolve	r;
	HsJob	   *sub;

	if (!hs_resolve_needed(job))
	{
		hs_dispatch(&job, 1, true, NULL);
		return;
	}
	sub = hs_resolve_begin(&r, job);
	hs_dispatch(&sub, 1, true, NULL);
	if ((sub = hs_resolve_lookup_done(&r)) != NULL)
		hs_dispatch(&sub, 1, true, NULL);
	hs_resolve_finish(&r);
}

void
hs_batch_send(HsBatchCall *c, void (*emit) (Jsonb *row, void *arg), void *arg)
{
	HsJob	   *job = c->job;
	int			i;

	if (c->assoc)
	{
		assoc_send(c->assoc, emit, arg);
		return;
	}
	if (job == NULL)
		return;
	run_job(job);
	hs_job_raise(job);
	for (i = 0; i < job->n; i++)
		emit_outcome(job->out[i].result, job->out[i].error, job->out[i].unknown,
					 c->parsed->originals[i], emit, arg);
}

void
hs_batch_run(HsOp op, const char *object_type, Jsonb *inputs, const char *servername,
			 void (*emit) (Jsonb *row, void *arg), void *arg)
{
	hs_batch_send(hs_batch_prepare(op, object_type, inputs, servername), emit, arg);
}

static void
emit_tuple(Jsonb *row, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		value = JsonbPGetDatum(row);
	bool		isnull = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
}

static Datum
batch_call(FunctionCallInfo fcinfo, HsOp op)
{
	/* associations: (from_type, to_type, inputs, server), as "from/to" */
	int			a = HS_OP_IS_ASSOC(op) ? 1 : 0;
	char	   *object_type = text_to_cstring(hs_text_arg(fcinfo, 0, a ? "from_type" : "object_type"));
	char	   *servername = text_to_cstring(hs_text_arg(fcinfo, 2 + a, "server"));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *inputs;

	if (a)
	{
		char	   *to_type = text_to_cstring(hs_text_arg(fcinfo, 1, "to_type"));

		hs_check_object_type(object_type);
		hs_check_object_type(to_type);
		object_type = psprintf("%s/%s", object_type, to_type);
	}
	if (PG_ARGISNULL(1 + a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"inputs\" must not be NULL")));
	inputs = PG_GETARG_JSONB_P(1 + a);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	/* the calls are a worker's job; without preloading, this backend's */
	if (hs_worker_available())
		hs_call_in_worker(op, object_type, inputs, servername, emit_tuple, rsinfo);
	else
		hs_batch_run(op, object_type, inputs, servername, emit_tuple, rsinfo);
	return (Datum) 0;
}

Datum
hubspot_batch_upsert(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_UPSERT);
}

Datum
hubspot_batch_update(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_UPDATE);
}

Datum
hubspot_batch_create(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_CREATE);
}

Datum
hubspot_batch_archive(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_ARCHIVE);
}

Datum
hubspot_batch_read(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_READ);
}

Datum
hubspot_batch_associate(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_ASSOCIATE);
}

Datum
hubspot_batch_dissociate(PG_FUNCTION_ARGS)
{
	return batch_call(fcinfo, HS_OP_DISSOCIATE);
}
