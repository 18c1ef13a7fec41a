/*-------------------------------------------------------------------------
 * resolve.c
 *		Archive by unique value, and create-if-absent: batch/read by the
 *		unique property first, then archive the ids found, or create what
 *		was not found.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "resolve.h"

bool
hs_resolve_needed(HsJob *job)
{
	return (job->op == HS_OP_ARCHIVE || job->op == HS_OP_CREATE) &&
		job->n > 0 && job->inputs[0]->id_property != NULL;
}

/* A record that is there already: a create-if-absent leaves it untouched. */
static Jsonb *
existing_result(Jsonb *read_result)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(read_result),
											  DirectFunctionCall1(jsonb_in,
																  CStringGetDatum("{\"existing\": true}"))));
}

/* The lookup job to dispatch first. */
HsJob *
hs_resolve_begin(HsResolve *r, HsJob *job)
{
	StringInfoData buf;

	memset(r, 0, sizeof(*r));
	r->job = job;
	r->read = hs_job_new(job->server, job->token, job->object_type, HS_OP_READ,
						 job->inputs, job->n);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "\"properties\":[");
	escape_json(&buf, job->inputs[0]->id_property);
	appendStringInfoChar(&buf, ']');
	r->read->read_extra = buf.data;
	return r->read;
}

static bool
not_found(HsOutcome *o)
{
	JsonbValue	v;
	char	   *cat;

	if (o->error == NULL)
		return false;
	cat = hs_jsonb_scalar_text(hs_jsonb_get(&o->error->root, "category", &v));
	return cat && strcmp(cat, "OBJECT_NOT_FOUND") == 0;
}

/*
 * After the lookup: the archive of the ids found (to dispatch next), or
 * NULL.  Inputs not found are settled as archived; lookup failures become
 * the inputs' own outcomes.
 */
HsJob *
hs_resolve_lookup_done(HsResolve *r)
{
	HsJob	   *read = r->read;
	HsJob	   *job = r->job;
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(job->n, 1));
	int			n = 0;
	int			i;

	r->map = palloc(sizeof(int) * Max(job->n, 1));
	for (i = 0; i < job->n; i++)
	{
		HsOutcome  *o = &read->out[i];
		JsonbValue	v;
		char	   *id = o->result ?
			hs_jsonb_scalar_text(hs_jsonb_get(&o->result->root, "id", &v)) : NULL;

		if (id && job->op == HS_OP_CREATE)
			job->out[i].result = existing_result(o->result);
		else if (id)
		{
			HsInput    *in = palloc0(sizeof(HsInput));

			in->id = id;
			in->key = hs_record_key(NULL, id);
			in->trace = job->inputs[i]->trace;
			r->map[n] = i;
			ins[n++] = in;
		}
		else if (not_found(o) && job->op == HS_OP_CREATE)
		{
			HsInput    *in = palloc0(sizeof(HsInput));

			in->properties = job->inputs[i]->properties;
			in->extra = job->inputs[i]->extra;
			in->trace = job->inputs[i]->trace;
			r->map[n] = i;
			ins[n++] = in;
		}
		else if (not_found(o))
			job->out[i].result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum("{\"archived\": true, \"found\": false}")));
		else
		{
			job->out[i] = *o;
			job->transient[i] = read->transient[i];
			if (o->result && id == NULL)
			{
				job->out[i].result = NULL;
				job->out[i].error = hs_make_error("INVALID_RESPONSE",
												  "HubSpot's batch/read result has no record id", 200);
				job->out[i].retry = true;
			}
		}
	}
	job->stop = read->stop;
	job->stop_result = read->stop_result;
	r->sub = n > 0 && read->stop == HS_STOP_NONE ?
		hs_job_new(job->server, job->token, job->object_type, job->op, ins, n) : NULL;
	return r->sub;
}

/* After the archive: its outcomes become the original inputs'. */
void
hs_resolve_finish(HsResolve *r)
{
	int			k;

	if (r->sub == NULL)
		return;
	for (k = 0; k < r->sub->n; k++)
	{
		r->job->out[r->map[k]] = r->sub->out[k];
		r->job->transient[r->map[k]] = r->sub->transient[k];
	}
	if (r->sub->stop != HS_STOP_NONE)
	{
		r->job->stop = r->sub->stop;
		r->job->stop_result = r->sub->stop_result;
	}
}
