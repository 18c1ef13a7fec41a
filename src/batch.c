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
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "batch.h"
#include "convert.h"
#include "callworker.h"
#include "dispatch.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(hubspot_batch_upsert);
PG_FUNCTION_INFO_V1(hubspot_batch_update);
PG_FUNCTION_INFO_V1(hubspot_batch_create);
PG_FUNCTION_INFO_V1(hubspot_batch_archive);
PG_FUNCTION_INFO_V1(hubspot_batch_read);

text *
hs_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", name)));
	return PG_GETARG_TEXT_PP(argno);
}

/* HubSpot lowercases emails, so Ada@x.com and ada@x.com are one record. */
char *
hs_record_key(const char *id_property, const char *id)
{
	if (id == NULL)
		return NULL;
	if (id_property && strcmp(id_property, "email") == 0)
	{
		char	   *k = psprintf("email\x1f%s", id);
		char	   *p;

		for (p = k; *p; p++)
			*p = pg_ascii_tolower((unsigned char) *p);
		return k;
	}
	return psprintf("%s\x1f%s", id_property ? id_property : "", id);
}

static char *
input_text(JsonbContainer *obj, const char *key, const char *what, bool required)
{
	JsonbValue	v;
	JsonbValue *jv = hs_jsonb_get(obj, key, &v);
	char	   *s;

	if (jv == NULL || jv->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has no \"%s\"", what, key),
					 strcmp(key, "idProperty") == 0 ?
					 errhint("An upsert names the unique property its \"id\" is a value of, such as \"email\" for contacts.") : 0));
		return NULL;
	}
	if (jv->type != jbvString && jv->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of %s must be a string", key, what)));
	s = hs_jsonb_scalar_text(jv);
	if (s[0] == '\0' || strlen(s) > HS_MAX_VALUE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of %s must be a non-empty string of at most %d characters",
						key, what, HS_MAX_VALUE_LEN)));
	return s;
}

static void
check_keys(HsOp op, JsonbContainer *obj, const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *k;

		if (tok != WJB_KEY)
			continue;
		k = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(k, "id") == 0 || strcmp(k, "objectWriteTraceId") == 0 ||
			(strcmp(k, "idProperty") == 0 && op != HS_OP_CREATE) ||
			(strcmp(k, "properties") == 0 && op != HS_OP_ARCHIVE && op != HS_OP_READ) ||
			(strcmp(k, "associations") == 0 && op == HS_OP_CREATE))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has an unexpected key \"%s\" for batch %s", what, k, hs_op_name(op))));
	}
}

static HsInput *
parse_one(HsOp op, JsonbValue *el, int i, const char *read_id_property)
{
	HsInput    *in = palloc0(sizeof(HsInput));
	char	   *what = psprintf("input %d", i + 1);
	JsonbContainer *obj;
	JsonbValue	v;
	JsonbValue *jv;

	if (el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a JSON object", what),
				 errhint("Each input looks like {\"id\": \"...\", \"idProperty\": \"...\", \"properties\": {...}}.")));
	obj = el->val.binary.data;
	check_keys(op, obj, what);
	in->trace_id = i + 1;
	in->id = input_text(obj, "id", what, op != HS_OP_CREATE);
	if (op == HS_OP_READ)
		in->id_property = (char *) read_id_property;
	else if (op != HS_OP_CREATE && op != HS_OP_ARCHIVE)
		in->id_property = input_text(obj, "idProperty", what, op == HS_OP_UPSERT);
	if (in->id_property)
		hs_check_property_name("\"idProperty\"", in->id_property);
	if (op != HS_OP_CREATE)
		in->key = hs_record_key(in->id_property, in->id);

	if (op == HS_OP_UPSERT || op == HS_OP_UPDATE || op == HS_OP_CREATE)
	{
		HsProps		props;

		jv = hs_jsonb_get(obj, "properties", &v);
		if (jv == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has no \"properties\"", what)));
		if (jv->type != jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"properties\" of %s is not a JSON object", what)));
		hs_props_init(&props);
		hs_props_add_jsonb(&props, jv->val.binary.data, what);
		in->properties = hs_props_text(&props);
	}
	if (op == HS_OP_CREATE && (jv = hs_jsonb_get(obj, "associations", &v)) != NULL)
	{
		if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"associations\" of %s is not a JSON array", what)));
		in->extra = psprintf("\"associations\":%s",
							 JsonbToCString(NULL, jv->val.binary.data, -1));
	}
	return in;
}

/* batch/read takes its options beside the inputs. */
static char *
read_options(JsonbContainer *root, char **id_property)
{
	static const char *const keys[] = {"properties", "propertiesWithHistory"};
	StringInfoData buf;
	JsonbValue	v;
	JsonbValue *jv;
	int			k;

	initStringInfo(&buf);
	for (k = 0; k < lengthof(keys); k++)
	{
		if ((jv = hs_jsonb_get(root, keys[k], &v)) == NULL)
			continue;
		if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" must be a JSON array of property names", keys[k])));
		appendStringInfo(&buf, "%s\"%s\":%s", buf.len ? "," : "", keys[k],
						 JsonbToCString(NULL, jv->val.binary.data, -1));
	}
	if ((jv = hs_jsonb_get(root, "idProperty", &v)) != NULL)
	{
		if (jv->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"idProperty\" must be a string")));
		*id_property = hs_jsonb_scalar_text(jv);
		hs_check_property_name("\"idProperty\"", *id_property);
	}
	return buf.len ? buf.data : NULL;
}

/*
 * inputs: [input, ...] or {"inputs": [input, ...]} (batch/read also takes
 * "properties", "propertiesWithHistory" and "idProperty" there).
 */
HsParsedInputs *
hs_parse_inputs(HsOp op, Jsonb *jb)
{
	HsParsedInputs *p = palloc0(sizeof(HsParsedInputs));
	JsonbContainer *arr = NULL;
	char	   *read_id_property = NULL;
	int			i;

	if (JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb))
		arr = &jb->root;
	else if (JB_ROOT_IS_OBJECT(jb))
	{
		JsonbValue	v;
		JsonbValue *jv = hs_jsonb_get(&jb->root, "inputs", &v);

		if (jv && jv->type == jbvBinary && JsonContainerIsArray(jv->val.binary.data))
			arr = jv->val.binary.data;
		if (op == HS_OP_READ)
			p->read_extra = read_options(&jb->root, &read_id_property);
	}
	if (arr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs must be a JSON array or an object with an \"inputs\" array"),
				 errhint("For example: [{\"id\": \"ada@example.com\", \"idProperty\": \"email\", \"properties\": {\"firstname\": \"Ada\"}}]")));

	p->n = JsonContainerSize(arr);
	p->inputs = palloc(sizeof(HsInput *) * Max(p->n, 1));
	p->originals = palloc(sizeof(Jsonb *) * Max(p->n, 1));
	for (i = 0; i < p->n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(arr, i);

		p->inputs[i] = parse_one(op, el, i, read_id_property);
		p->originals[i] = JsonbValueToJsonb(el);
	}
	return p;
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

/* {"status":"error", ...HubSpot's error..., "input": <the input>} */
static Jsonb *
error_row(Jsonb *error, Jsonb *original)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"input\":%s}", JsonbToCString(NULL, &original->root, VARSIZE(original)));
	return concat(concat(jsonb_of("{\"status\":\"error\"}"), error), jsonb_of(buf.data));
}

/*
 * The work of a batch function, in two steps: prepare (parse the inputs,
 * look up server and token: needs a transaction) and send (the HTTP calls
 * and one row per input, in input order, to emit: needs none, so a worker
 * holds no snapshot while HubSpot answers).
 */
HsBatchCall *
hs_batch_prepare(HsOp op, const char *object_type, Jsonb *inputs, const char *servername)
{
	HsBatchCall *c = palloc0(sizeof(HsBatchCall));
	HsServer   *server;

	hs_check_object_type(object_type);
	server = hs_server_get_by_name(servername);
	c->parsed = hs_parse_inputs(op, inputs);
	if (c->parsed->n == 0)
		return c;
	c->job = hs_job_new(server, hs_token_get(server->serverid, GetUserId()),
						pstrdup(object_type), op, c->parsed->inputs, c->parsed->n);
	c->job->read_extra = c->parsed->read_extra;
	return c;
}

void
hs_batch_send(HsBatchCall *c, void (*emit) (Jsonb *row, void *arg), void *arg)
{
	HsJob	   *job = c->job;
	int			i;

	if (job == NULL)
		return;
	hs_dispatch(&job, 1, true, NULL);
	hs_job_raise(job);
	for (i = 0; i < job->n; i++)
	{
		if (job->out[i].result)
			emit(job->out[i].result, arg);
		else
			emit(error_row(job->out[i].error ? job->out[i].error :
						   hs_make_error("NOT_SENT", "the input was not sent", 0),
						   c->parsed->originals[i]), arg);
	}
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
	char	   *object_type = text_to_cstring(hs_text_arg(fcinfo, 0, "object_type"));
	char	   *servername = text_to_cstring(hs_text_arg(fcinfo, 2, "server"));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *inputs;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"inputs\" must not be NULL")));
	inputs = PG_GETARG_JSONB_P(1);
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
