/*-------------------------------------------------------------------------
 * hubspot_api.c
 *		HubSpot's batch API: paths, request bodies, answers and errors.
 *
 * HubSpot answers in any order, lowercases emails, and reports partial
 * failures either as 207 or (from 2026-09) as 200 with errors[].  So every
 * input carries an objectWriteTraceId and answers are matched back by it,
 * then by id, and only as a last resort by position.  An input that cannot
 * be matched to anything gets an error of its own: nothing is dropped.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include <curl/curl.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "hubspot_api.h"

static const char *const op_names[] = {"upsert", "update", "create", "archive", "read"};

const char *
hs_op_name(HsOp op)
{
	return op_names[op];
}

bool
hs_op_from_name(const char *name, HsOp *op)
{
	int			i;

	for (i = 0; i < lengthof(op_names); i++)
		if (strcmp(name, op_names[i]) == 0)
		{
			*op = (HsOp) i;
			return true;
		}
	return false;
}

/* The object type escaped for a path segment: nothing a user typed goes in raw. */
static char *
escaped_type(const char *object_type)
{
	char	   *e = curl_easy_escape(NULL, object_type, 0);
	char	   *result;

	if (e == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	result = pstrdup(e);
	curl_free(e);
	return result;
}

/* "/crm/v3/objects/{t}" or "/crm/objects/{version}/{t}" */
static char *
objects_base(const HsServer *server, const char *object_type)
{
	char	   *t = escaped_type(object_type);

	if (strcmp(server->api_version, "v3") == 0)
		return psprintf("%s/crm/v3/objects/%s", server->api_url, t);
	return psprintf("%s/crm/objects/%s/%s", server->api_url, server->api_version, t);
}

char *
hs_api_batch_url(const HsServer *server, const char *object_type, HsOp op)
{
	return psprintf("%s/batch/%s%s", objects_base(server, object_type),
					hs_op_name(op), op == HS_OP_READ ? "?archived=false" : "");
}

char *
hs_api_list_url(const HsServer *server, const char *object_type, const char *query)
{
	return psprintf("%s%s%s", objects_base(server, object_type),
					query ? "?" : "", query ? query : "");
}

char *
hs_api_properties_url(const HsServer *server, const char *object_type)
{
	char	   *t = escaped_type(object_type);

	if (strcmp(server->api_version, "v3") == 0)
		return psprintf("%s/crm/v3/properties/%s", server->api_url, t);
	return psprintf("%s/crm/properties/%s/%s", server->api_url, server->api_version, t);
}

/*
 * Request body.  Every value HubSpot types as a string goes out as a JSON
 * string, the trace id included.
 */
char *
hs_api_body(HsOp op, HsInput **inputs, int n, const char *read_extra)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	if (op == HS_OP_READ)
	{
		if (n > 0 && inputs[0]->id_property)
		{
			appendStringInfoString(&buf, "\"idProperty\":");
			escape_json(&buf, inputs[0]->id_property);
			appendStringInfoChar(&buf, ',');
		}
		if (read_extra)
			appendStringInfo(&buf, "%s,", read_extra);
	}
	appendStringInfoString(&buf, "\"inputs\":[");
	for (i = 0; i < n; i++)
	{
		HsInput    *in = inputs[i];
		bool		first = true;

		appendStringInfoString(&buf, i > 0 ? ",{" : "{");
		if (in->id)
		{
			appendStringInfoString(&buf, "\"id\":");
			escape_json(&buf, in->id);
			first = false;
		}
		if (op == HS_OP_ARCHIVE || op == HS_OP_READ)
		{
			appendStringInfoChar(&buf, '}');
			continue;
		}
		if (in->id_property)
		{
			appendStringInfoString(&buf, first ? "\"idProperty\":" : ",\"idProperty\":");
			escape_json(&buf, in->id_property);
			first = false;
		}
		appendStringInfo(&buf, "%s\"properties\":%s",
						 first ? "" : ",", in->properties ? in->properties : "{}");
		appendStringInfo(&buf, ",\"objectWriteTraceId\":\"" INT64_FORMAT "\"",
						 in->trace_id);
		if (in->extra)
			appendStringInfo(&buf, ",%s", in->extra);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/* ------------------------------------------------------------------------
 * jsonb helpers
 * ------------------------------------------------------------------------
 */
JsonbValue *
hs_jsonb_get(JsonbContainer *c, const char *key, JsonbValue *out)
{
	if (c == NULL || !JsonContainerIsObject(c))
		return NULL;
	return getKeyJsonValueFromContainer(c, key, strlen(key), out);
}

/* Text of a scalar (strings unquoted); NULL for null, objects and arrays. */
char *
hs_jsonb_scalar_text(JsonbValue *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/*
 * Parse text that came over the wire.  Returns NULL rather than throwing
 * for anything that is not valid JSON, so that a garbage answer becomes a
 * retryable call failure instead of a jsonb syntax error.
 */
Jsonb *
hs_api_parse_json(const char *text, size_t len)
{
	JsonLexContext *lex;
	char	   *copy;

	if (text == NULL || len == 0 || memchr(text, '\0', len) != NULL)
		return NULL;
	copy = pnstrdup(text, len);
	if (pg_verify_mbstr(GetDatabaseEncoding(), copy, len, true) == false)
		return NULL;
	lex = hs_json_lex_context(copy, len, GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

Jsonb *
hs_make_error(const char *category, const char *message, long status)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"status\":\"error\",\"category\":");
	escape_json(&buf, category);
	appendStringInfoString(&buf, ",\"message\":");
	escape_json(&buf, message);
	if (status > 0)
		appendStringInfo(&buf, ",\"httpStatus\":%ld", status);
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* HubSpot's own error body, with the HTTP status added. */
static Jsonb *
error_from_body(Jsonb *body, long status)
{
	JsonbValue	v;
	Jsonb	   *st;

	if (body == NULL || !JB_ROOT_IS_OBJECT(body))
		return NULL;
	if (hs_jsonb_get(&body->root, "category", &v) == NULL &&
		hs_jsonb_get(&body->root, "policyName", &v) == NULL &&
		hs_jsonb_get(&body->root, "message", &v) == NULL)
		return NULL;
	st = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											CStringGetDatum(psprintf("{\"httpStatus\":%ld}", status))));
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(body), JsonbPGetDatum(st)));
}

static char *
get_text(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return hs_jsonb_scalar_text(hs_jsonb_get(&jb->root, key, &v));
}

static int
find_by_trace(HsInput **inputs, int n, const char *trace)
{
	char	   *end;
	int64		t;
	int			i;

	if (trace == NULL)
		return -1;
	errno = 0;
	t = strtoi64(trace, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	for (i = 0; i < n; i++)
		if (inputs[i]->trace_id == t)
			return i;
	return -1;
}

static int
find_by_id(HsInput **inputs, int n, const char *id)
{
	int			i;

	if (id == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (inputs[i]->id && pg_strcasecmp(inputs[i]->id, id) == 0)
			return i;
	return -1;
}

/* Which input a result object answers. */
static int
match_result(HsOp op, JsonbContainer *r, HsInput **inputs, int n)
{
	JsonbValue	v;
	int			i;

	i = find_by_trace(inputs, n,
					  hs_jsonb_scalar_text(hs_jsonb_get(r, "objectWriteTraceId", &v)));
	if (i >= 0 || op == HS_OP_CREATE || n == 0)
		return i;
	if (inputs[0]->id_property == NULL)
		return find_by_id(inputs, n, hs_jsonb_scalar_text(hs_jsonb_get(r, "id", &v)));
	else
	{
		JsonbValue	pv;
		JsonbValue *props = hs_jsonb_get(r, "properties", &pv);

		if (props == NULL || props->type != jbvBinary)
			return -1;
		return find_by_id(inputs, n,
						  hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data,
															inputs[0]->id_property, &v)));
	}
}

/* Give an error element of errors[] to the inputs its context names. */
static bool
assign_error(JsonbContainer *e, Jsonb *ejb, HsInput **inputs, int n, HsOutcome *out)
{
	static const char *const keys[] = {"objectWriteTraceId", "ids"};
	JsonbValue	cv;
	JsonbValue *ctx = hs_jsonb_get(e, "context", &cv);
	bool		any = false;
	int			k;

	if (ctx == NULL || ctx->type != jbvBinary)
		return false;
	for (k = 0; k < lengthof(keys); k++)
	{
		JsonbValue	av;
		JsonbValue *arr = hs_jsonb_get(ctx->val.binary.data, keys[k], &av);
		int			j,
					len;

		if (arr == NULL || arr->type != jbvBinary ||
			!JsonContainerIsArray(arr->val.binary.data))
			continue;
		len = JsonContainerSize(arr->val.binary.data);
		for (j = 0; j < len; j++)
		{
			JsonbValue *el = getIthJsonbValueFromContainer(arr->val.binary.data, j);
			char	   *s = hs_jsonb_scalar_text(el);
			int			i = k == 0 ? find_by_trace(inputs, n, s) : find_by_id(inputs, n, s);

			if (i >= 0 && out[i].result == NULL)
			{
				out[i].error = ejb;
				any = true;
			}
		}
	}
	return any;
}

static void
parse_success(HsOp op, Jsonb *body, HsInput **inputs, int n, HsOutcome *out,
			  HsCallResult *res)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&body->root, "results", &v);
	JsonbValue	ev;
	JsonbValue *errors = hs_jsonb_get(&body->root, "errors", &ev);
	List	   *unmatched = NIL;
	Jsonb	   *general = NULL;
	int			i,
				len;

	if (results && results->type == jbvBinary && JsonContainerIsArray(results->val.binary.data))
	{
		len = JsonContainerSize(results->val.binary.data);
		for (i = 0; i < len; i++)
		{
			JsonbValue *r = getIthJsonbValueFromContainer(results->val.binary.data, i);
			int			k;

			if (r->type != jbvBinary || !JsonContainerIsObject(r->val.binary.data))
				continue;
			k = match_result(op, r->val.binary.data, inputs, n);
			if (k >= 0 && out[k].result == NULL)
				out[k].result = JsonbValueToJsonb(r);
			else
				unmatched = lappend(unmatched, JsonbValueToJsonb(r));
		}
	}
	if (errors && errors->type == jbvBinary && JsonContainerIsArray(errors->val.binary.data))
	{
		len = JsonContainerSize(errors->val.binary.data);
		for (i = 0; i < len; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(errors->val.binary.data, i);
			Jsonb	   *ejb;

			if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
				continue;
			ejb = error_from_body(JsonbValueToJsonb(e), res->status);
			if (ejb == NULL)
				ejb = hs_make_error("UNKNOWN", "HubSpot reported an error without a message",
									res->status);
			if (!assign_error(e->val.binary.data, ejb, inputs, n, out) && general == NULL)
				general = ejb;
		}
	}

	/* batch/create results may carry no trace id: fill in by position */
	for (i = 0; i < n; i++)
	{
		if (out[i].result || out[i].error)
			continue;
		if (op == HS_OP_CREATE && unmatched != NIL && general == NULL)
		{
			out[i].result = linitial(unmatched);
			unmatched = list_delete_first(unmatched);
		}
		else if (general)
			out[i].error = general;
		else
			out[i].error = hs_make_error("MISSING_RESULT",
										 "HubSpot's answer holds no result for this input",
										 res->status);
	}
}

static void
set_all(HsOutcome *out, int n, Jsonb *error)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		out[i].result = NULL;
		out[i].error = error;
	}
}

/* Archive answers 204 with no body: say what was done. */
static void
archive_results(HsInput **inputs, int n, HsOutcome *out)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"id\":");
		escape_json(&buf, inputs[i]->id ? inputs[i]->id : "");
		appendStringInfoString(&buf, ",\"archived\":true}");
		out[i].result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum(buf.data)));
	}
}

static void
classify_status(HsCallResult *res, Jsonb *body, HsHttpRequest *req)
{
	long		s = res->status;

	if (s == 400 || s == 409)
		res->cls = HS_CALL_REJECTED;
	else if (s == 401 || s == 403)
		res->cls = HS_CALL_AUTH;
	else if (s == 429)
	{
		res->cls = HS_CALL_RATE_LIMITED;
		res->policy = get_text(body, "policyName");
	}
	else if (s == 423)
	{
		res->cls = HS_CALL_WAIT;
		res->wait_ms = 2000;
	}
	else if (s == 477)
		res->cls = HS_CALL_WAIT;
	else if (s >= 500 || s == 408)
		res->cls = HS_CALL_RETRY;
	else
		res->cls = HS_CALL_FAILED;
	if (req->rate.retry_after_s >= 0)
		res->wait_ms = (long) req->rate.retry_after_s * 1000L;
	if (s == 477 && res->wait_ms < 0)
		res->wait_ms = 60000;
}

/*
 * Turn one finished HTTP call into outcomes.  On HS_CALL_OK every input has
 * a result or an error; otherwise res->error says what happened to the call.
 */
void
hs_api_parse(HsOp op, HsHttpRequest *req, HsInput **inputs, int n,
			 HsOutcome *out, HsCallResult *res)
{
	Jsonb	   *body = NULL;

	memset(res, 0, sizeof(*res));
	memset(out, 0, sizeof(HsOutcome) * n);
	res->status = req->status;
	res->wait_ms = -1;

	if (req->status == 0)
	{
		res->cls = HS_CALL_RETRY;
		res->category = "NETWORK_ERROR";
		res->message = pstrdup(req->error);
		res->error = hs_make_error(res->category, res->message, 0);
		return;
	}
	if (req->response_len > 0)
		body = hs_api_parse_json(req->response, req->response_len);

	if (req->status == 204 || (op == HS_OP_ARCHIVE && req->status >= 200 && req->status < 300))
	{
		res->cls = HS_CALL_OK;
		archive_results(inputs, n, out);
		return;
	}
	if (req->status >= 200 && req->status < 300)
	{
		if (body == NULL || !JB_ROOT_IS_OBJECT(body))
		{
			res->cls = HS_CALL_RETRY;
			res->category = "INVALID_RESPONSE";
			res->message = psprintf("HubSpot answered %ld with a body that is not a JSON object", req->status);
			res->error = hs_make_error(res->category, res->message, req->status);
			return;
		}
		res->cls = HS_CALL_OK;
		parse_success(op, body, inputs, n, out, res);
		return;
	}

	classify_status(res, body, req);
	res->error = error_from_body(body, req->status);
	if (res->error == NULL)
		res->error = hs_make_error("HTTP_ERROR",
								   psprintf("HubSpot answered HTTP %ld", req->status),
								   req->status);
	res->message = get_text(res->error, "message");
	res->category = get_text(res->error, "category");
	if (res->category == NULL)
		res->category = res->policy ? "RATE_LIMIT" : "HTTP_ERROR";
	if (res->message == NULL)
		res->message = psprintf("HubSpot answered HTTP %ld", req->status);
	set_all(out, n, res->error);
}
