/*-------------------------------------------------------------------------
 * hubspot_api.c
 *		HubSpot's batch API: paths, request bodies, answers and errors.
 *
 * HubSpot answers in any order, lowercases emails, and reports partial
 * failures either as 207 or (from 2026-09) as 200 with errors[].  A result
 * or an error belongs to an input only when HubSpot says so: by the
 * objectWriteTraceId every input carries, by record id, or by unique value
 * (match_result is the one rule).  Never by position: an input nothing in
 * the answer names gets an outcome that says so (unknown for a create,
 * which may have happened; retry for the idempotent operations).
 *
 * The answer is whatever came over the wire: it is checked before jsonb
 * sees it (depth, numbers, escapes), so a hostile or broken answer is a
 * failed call with a message that says so, never an ERROR thrown in the
 * worker.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "compat.h"
#include "hubspot_api.h"

static const char *const op_names[] = {"upsert", "update", "create", "archive", "read",
	"associate", "dissociate",
"associate/default", "create", "archive", "labels/archive", "read"};

const char *
hs_op_name(HsOp op)
{
	return op_names[op];
}

bool
hs_op_from_name(const char *name, HsOp *op)
{
	int			i;

	/* the wire's association operations are no names a user gives */
	for (i = 0; i <= HS_OP_DISSOCIATE; i++)
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

/* "from/to", as the queue holds an association's object types */
bool
hs_api_split_pair(const char *pair, char **from_type, char **to_type)
{
	const char *slash = strchr(pair, '/');

	if (slash == NULL || slash == pair || slash[1] == '\0' || strchr(slash + 1, '/'))
		return false;
	*from_type = pnstrdup(pair, slash - pair);
	*to_type = pstrdup(slash + 1);
	return true;
}

/* "/crm/v4/associations/{from}/{to}" or "/crm/associations/{version}/{from}/{to}" */
static char *
assoc_base(const HsServer *server, const char *from_type, const char *to_type)
{
	char	   *f = escaped_type(from_type);
	char	   *t = escaped_type(to_type);

	if (strcmp(server->api_version, "v3") == 0)
		return psprintf("%s/crm/v4/associations/%s/%s", server->api_url, f, t);
	return psprintf("%s/crm/associations/%s/%s/%s", server->api_url, server->api_version, f, t);
}

char *
hs_api_assoc_labels_url(const HsServer *server, const char *from_type, const char *to_type)
{
	return psprintf("%s/labels", assoc_base(server, from_type, to_type));
}

char *
hs_api_batch_url(const HsServer *server, const char *object_type, HsOp op, bool archived)
{
	if (HS_OP_IS_ASSOC_WIRE(op))
	{
		char	   *from_type;
		char	   *to_type;

		if (!hs_api_split_pair(object_type, &from_type, &to_type))
			elog(ERROR, "association job without a \"from/to\" object type pair");
		return psprintf("%s/batch/%s", assoc_base(server, from_type, to_type), hs_op_name(op));
	}
	Assert(!HS_OP_IS_ASSOC(op));
	return psprintf("%s/batch/%s%s", objects_base(server, object_type), hs_op_name(op),
					op != HS_OP_READ ? "" : archived ? "?archived=true" : "?archived=false");
}

char *
hs_api_list_url(const HsServer *server, const char *object_type, const char *query)
{
	return psprintf("%s%s%s", objects_base(server, object_type),
					query ? "?" : "", query ? query : "");
}

char *
hs_api_search_url(const HsServer *server, const char *object_type)
{
	return psprintf("%s/search", objects_base(server, object_type));
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
static char *
assoc_body(HsOp op, HsInput **inputs, int n)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"inputs\":[");
	for (i = 0; i < n; i++)
	{
		HsInput    *in = inputs[i];

		appendStringInfoString(&buf, i > 0 ? ",{" : "{");
		if (op == HS_OP_ASSOC_READ)
		{
			appendStringInfoString(&buf, "\"id\":");
			escape_json(&buf, in->id);
			appendStringInfoChar(&buf, '}');
			continue;
		}
		appendStringInfoString(&buf, "\"from\":{\"id\":");
		escape_json(&buf, in->id);
		/* batch/archive takes an array of "to"s */
		appendStringInfoString(&buf, op == HS_OP_ASSOC_ARCHIVE ? "},\"to\":[{\"id\":" : "},\"to\":{\"id\":");
		escape_json(&buf, in->to_id);
		appendStringInfoString(&buf, op == HS_OP_ASSOC_ARCHIVE ? "}]" : "}");
		if (op == HS_OP_ASSOC_CREATE || op == HS_OP_ASSOC_LABELS_ARCHIVE)
			appendStringInfo(&buf, ",\"types\":%s", in->types ? in->types : "[]");
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

char *
hs_api_body(HsOp op, HsInput **inputs, int n, const char *read_extra)
{
	StringInfoData buf;
	int			i;

	if (HS_OP_IS_ASSOC_WIRE(op))
		return assoc_body(op, inputs, n);
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
		if (in->id && op != HS_OP_CREATE)
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
		if (in->id_property && op != HS_OP_CREATE)
		{
			appendStringInfoString(&buf, first ? "\"idProperty\":" : ",\"idProperty\":");
			escape_json(&buf, in->id_property);
			first = false;
		}
		appendStringInfo(&buf, "%s\"properties\":%s",
						 first ? "" : ",", in->properties ? in->properties : "{}");
		if (in->trace)
		{
			appendStringInfoString(&buf, ",\"objectWriteTraceId\":");
			escape_json(&buf, in->trace);
		}
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

/* A string member's text; NULL when absent or of another JSON type. */
static char *
get_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;
	JsonbValue *jv = hs_jsonb_get(c, key, &v);

	if (jv == NULL || jv->type != jbvString)
		return NULL;
	return pnstrdup(jv->val.string.val, jv->val.string.len);
}

/* ------------------------------------------------------------------------
 * Reading an answer without trusting it
 * ------------------------------------------------------------------------
 */

/* HubSpot's answers are a few levels deep; anything deeper is not one. */
#define HS_MAX_ANSWER_DEPTH		64
/* jsonb's numeric takes exponents of a few thousand; HubSpot sends none. */
#define HS_MAX_NUMBER_LEN		400

static int
hex4(const char *p)
{
	int			v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		char		c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * What jsonb_in would throw on, found without calling it: nesting beyond
 * HS_MAX_ANSWER_DEPTH (stack depth), numbers too long for numeric, \u0000
 * and lone surrogates, non-ASCII escapes a non-UTF-8 database cannot hold.
 * It runs before the JSON parser (whatever the text is, the scan ends and
 * recurses nowhere).  Returns NULL or the reason.
 */
static const char *
answer_hazard(const char *s, size_t len)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			depth = 0;
	size_t		i = 0;

	while (i < len)
	{
		char		c = s[i];

		/* answers can be megabytes: a cancel must not wait for the scan */
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (c == '{' || c == '[')
		{
			if (++depth > HS_MAX_ANSWER_DEPTH)
				return psprintf("it is nested more than %d levels deep", HS_MAX_ANSWER_DEPTH);
			i++;
		}
		else if (c == '}' || c == ']')
			depth--, i++;
		else if (c == '-' || (c >= '0' && c <= '9'))
		{
			size_t		start = i;

			while (i < len && strchr("+-0123456789.eE", s[i]) != NULL)
				i++;
			if (i - start > HS_MAX_NUMBER_LEN)
				return "it holds a number too long to read";
			for (size_t k = start; k < i; k++)
				if (s[k] == 'e' || s[k] == 'E')
				{
					long		e = strtol(s + k + 1, NULL, 10);

					if (e > 1000 || e < -1000)
						return "it holds a number out of range";
				}
		}
		else if (c == '"')
		{
			for (i++; i < len && s[i] != '"'; i++)
			{
				int			cp,
							lo;

				if (s[i] != '\\')
					continue;
				i++;
				if (i >= len || s[i] != 'u')
					continue;
				cp = i + 4 < len ? hex4(s + i + 1) : -1;
				if (cp == 0)
					return "it holds a \\u0000 escape";
				if (cp >= 0xD800 && cp <= 0xDBFF)
				{
					lo = (i + 10 < len && s[i + 5] == '\\' && s[i + 6] == 'u') ? hex4(s + i + 7) : -1;
					if (lo < 0xDC00 || lo > 0xDFFF)
						return "it holds a lone Unicode surrogate";
					i += 6;
				}
				else if (cp >= 0xDC00 && cp <= 0xDFFF)
					return "it holds a lone Unicode surrogate";
				else if (cp >= 0x80 && !utf8)
					return "it holds a non-ASCII escape this database's encoding cannot take";
				i += 4;
			}
			i++;
		}
		else
			i++;
	}
	return NULL;
}

/*
 * Parse text that came over the wire.  Returns NULL, with *why saying what
 * was wrong, for anything that is not JSON jsonb can hold: a broken answer
 * is a failed call, never an ERROR.
 */
Jsonb *
hs_api_parse_json(const char *text, size_t len, const char **why)
{
	JsonLexContext *lex;
	char	   *copy;
	const char *hazard;

	*why = NULL;
	if (text == NULL || len == 0)
	{
		*why = "it is empty";
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL)
	{
		*why = "it holds a NUL byte";
		return NULL;
	}
	copy = pnstrdup(text, len);
	if (!pg_verify_mbstr(GetDatabaseEncoding(), copy, len, true))
	{
		*why = "it is not valid text in the database's encoding";
		return NULL;
	}
	/* before the parser, which recurses once per level and would blow the stack */
	if ((hazard = answer_hazard(copy, len)) != NULL)
	{
		*why = hazard;
		return NULL;
	}
	CHECK_FOR_INTERRUPTS();
	lex = hs_json_lex_context(copy, len, GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
	{
		*why = "it is not JSON";
		return NULL;
	}
	CHECK_FOR_INTERRUPTS();
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

static Jsonb *
jsonb_of(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

static Jsonb *
concat(Jsonb *a, Jsonb *b)
{
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(a),
											  JsonbPGetDatum(b)));
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
	return jsonb_of(buf.data);
}

/*
 * HubSpot's error object as an outcome: its own members, but "status" is
 * "error", "category" and "message" are strings whatever HubSpot sent (a
 * message of another type is kept as its JSON text), HubSpot's error "id"
 * becomes "errorId" (so it cannot pass for a record id), and httpStatus is
 * added.  NULL when the body is not an error object at all.
 */
Jsonb *
hs_api_error_of(Jsonb *body, long status)
{
	static const char *const keys[] = {"category", "message"};
	StringInfoData fix;
	JsonbValue	v;
	JsonbValue *jv;
	Jsonb	   *e;
	int			k;

	if (body == NULL || !JB_ROOT_IS_OBJECT(body) || JB_ROOT_IS_SCALAR(body))
		return NULL;
	if (hs_jsonb_get(&body->root, "category", &v) == NULL &&
		hs_jsonb_get(&body->root, "policyName", &v) == NULL &&
		hs_jsonb_get(&body->root, "message", &v) == NULL)
		return NULL;
	initStringInfo(&fix);
	appendStringInfo(&fix, "{\"status\":\"error\",\"httpStatus\":%ld", status);
	for (k = 0; k < lengthof(keys); k++)
	{
		jv = hs_jsonb_get(&body->root, keys[k], &v);
		if (jv == NULL || jv->type == jbvString)
			continue;
		appendStringInfo(&fix, ",\"%s\":", keys[k]);
		if (jv->type == jbvBinary)
			escape_json(&fix, JsonbToCString(NULL, jv->val.binary.data, -1));
		else
			escape_json(&fix, jv->type == jbvNull ? "null" : hs_jsonb_scalar_text(jv));
	}
	if ((jv = hs_jsonb_get(&body->root, "id", &v)) != NULL)
	{
		appendStringInfoString(&fix, ",\"errorId\":");
		if (jv->type == jbvBinary)
			appendStringInfoString(&fix, JsonbToCString(NULL, jv->val.binary.data, -1));
		else if (jv->type == jbvString)
			escape_json(&fix, hs_jsonb_scalar_text(jv));
		else
			appendStringInfoString(&fix, jv->type == jbvNull ? "null" : hs_jsonb_scalar_text(jv));
	}
	appendStringInfoChar(&fix, '}');
	e = body;
	if (hs_jsonb_get(&body->root, "id", &v) != NULL)
		e = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(e),
											   CStringGetTextDatum("id")));
	e = concat(e, jsonb_of(fix.data));
	if (get_string(&e->root, "message") == NULL)
		e = concat(e, jsonb_of("{\"message\":\"HubSpot's error has no message\"}"));
	return e;
}

/* ------------------------------------------------------------------------
 * Matching an answer to its inputs: the one rule
 * ------------------------------------------------------------------------
 */
static int
find_by_trace(HsInput **inputs, int n, const char *trace)
{
	int			i;

	if (trace == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (inputs[i]->trace && strcmp(inputs[i]->trace, trace) == 0)
			return i;
	return -1;
}

/*
 * id: a record id (id_property NULL) or a value of the inputs' id property.
 * The answer's key is folded once and compared with each input's own key.
 */
static int
find_by_key(HsInput **inputs, int n, const char *id_property, const char *id)
{
	char	   *want;
	int			i;

	if (id == NULL)
		return -1;
	want = hs_record_key(id_property, id);
	for (i = 0; i < n; i++)
		if (inputs[i]->id &&
			(inputs[i]->key ? strcmp(inputs[i]->key, want) == 0 :
			 hs_key_equal(id_property, inputs[i]->id, id)))
			return i;
	return -1;
}

/*
 * Which input a result object answers, or -1: its trace id; else (not for
 * creates, whose inputs have no key) its record id or the value of the
 * inputs' id property.  A create's result without a trace id belongs to an
 * input only when the call held just that one input.
 */
/* The "id" inside member key of an association answer: {"from": {"id": "1"}} */
static char *
nested_id(JsonbContainer *r, const char *key)
{
	JsonbValue	v;
	JsonbValue	iv;
	JsonbValue *jv = hs_jsonb_get(r, key, &v);

	if (jv == NULL || jv->type != jbvBinary)
		return NULL;
	return hs_jsonb_scalar_text(hs_jsonb_get(jv->val.binary.data, "id", &iv));
}

/*
 * An association result names its pair: {"fromObjectId": 1, "toObjectId":
 * 2} (batch/create) or {"from": {"id"}, "to": {"id"}} (associate/default);
 * batch/read's results name only the record whose associations they list.
 */
static int
match_assoc(HsOp op, JsonbContainer *r, HsInput **inputs, int n)
{
	JsonbValue	v;
	char	   *from = hs_jsonb_scalar_text(hs_jsonb_get(r, "fromObjectId", &v));
	char	   *to = NULL;
	int			i;

	if (from != NULL)
		to = hs_jsonb_scalar_text(hs_jsonb_get(r, "toObjectId", &v));
	else
	{
		from = nested_id(r, "from");
		if (op != HS_OP_ASSOC_READ)
			to = nested_id(r, "to");
	}
	if (from == NULL || (to == NULL && op != HS_OP_ASSOC_READ))
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(inputs[i]->id, from) == 0 &&
			(op == HS_OP_ASSOC_READ || strcmp(inputs[i]->to_id, to) == 0))
			return i;
	return -1;
}

static int
match_result(HsOp op, JsonbContainer *r, HsInput **inputs, int n, int nresults)
{
	JsonbValue	v;
	JsonbValue *props;
	char	   *trace;
	int			i;

	if (HS_OP_IS_ASSOC_WIRE(op))
		return match_assoc(op, r, inputs, n);
	trace = hs_jsonb_scalar_text(hs_jsonb_get(r, "objectWriteTraceId", &v));

	if (trace != NULL)
		return find_by_trace(inputs, n, trace);
	if (n == 0)
		return -1;
	if (op == HS_OP_CREATE)
		return (n == 1 && nresults == 1) ? 0 : -1;
	if (inputs[0]->id_property == NULL)
		return find_by_key(inputs, n, NULL, hs_jsonb_scalar_text(hs_jsonb_get(r, "id", &v)));
	props = hs_jsonb_get(r, "properties", &v);
	if (props == NULL || props->type != jbvBinary)
		return -1;
	i = find_by_key(inputs, n, inputs[0]->id_property,
					get_string(props->val.binary.data, inputs[0]->id_property));
	return i;
}

/* Is s among the scalars of array member key of ctx?  -1: ctx has no such array. */
static int
context_names(JsonbContainer *ctx, const char *key, const char *s)
{
	JsonbValue	av;
	JsonbValue *arr = hs_jsonb_get(ctx, key, &av);
	int			j,
				len;

	if (arr == NULL || arr->type != jbvBinary || !JsonContainerIsArray(arr->val.binary.data))
		return -1;
	len = JsonContainerSize(arr->val.binary.data);
	for (j = 0; j < len; j++)
	{
		char	   *el = hs_jsonb_scalar_text(getIthJsonbValueFromContainer(arr->val.binary.data, j));

		if (el && strcmp(el, s) == 0)
			return 1;
	}
	return 0;
}

/*
 * An association error belongs to every input whose pair it names: its
 * context lists from ids, to ids, or both (an unknown record fails every
 * link to it).
 */
static bool
assign_assoc_error(JsonbContainer *ctx, Jsonb *ejb, HsInput **inputs, int n, HsOutcome *out)
{
	bool		any = false;
	int			i;

	for (i = 0; i < n; i++)
	{
		int			f = context_names(ctx, "fromObjectId", inputs[i]->id);
		int			t = inputs[i]->to_id ? context_names(ctx, "toObjectId", inputs[i]->to_id) : -1;

		if (f < 0)
			f = context_names(ctx, "ids", inputs[i]->id);
		if ((f < 0 && t < 0) || f == 0 || t == 0 || out[i].result)
			continue;
		out[i].error = ejb;
		any = true;
	}
	return any;
}

/* Give an error element of errors[] to the inputs its context names. */
static bool
assign_error(HsOp op, JsonbContainer *e, Jsonb *ejb, HsInput **inputs, int n, HsOutcome *out)
{
	static const char *const keys[] = {"objectWriteTraceId", "ids"};
	JsonbValue	cv;
	JsonbValue *ctx = hs_jsonb_get(e, "context", &cv);
	bool		any = false;
	int			k;

	if (ctx == NULL || ctx->type != jbvBinary)
		return false;
	if (HS_OP_IS_ASSOC_WIRE(op))
		return assign_assoc_error(ctx->val.binary.data, ejb, inputs, n, out);
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
			int			i = k == 0 ? find_by_trace(inputs, n, s) :
				find_by_key(inputs, n, n > 0 ? inputs[0]->id_property : NULL, s);

			if (i >= 0 && out[i].result == NULL)
			{
				out[i].error = ejb;
				any = true;
			}
		}
	}
	return any;
}

static int
array_len(JsonbValue *v)
{
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return -1;
	return JsonContainerSize(v->val.binary.data);
}

/* An input the answer does not name: what can be said of it. */
static void
unnamed_input(HsOp op, HsOutcome *o, Jsonb *general, long status)
{
	Jsonb	   *e;

	/* a record without associations may go unnamed: it has nothing to say */
	if (op == HS_OP_ASSOC_READ)
		return;
	e = hs_make_error("MISSING_RESULT",
					  op == HS_OP_CREATE ?
					  "HubSpot's answer does not say which result, if any, belongs to this input: the record may or may not have been created" :
					  "HubSpot's answer holds no result or error for this input",
					  status);

	if (general)
		e = concat(e, jsonb_of(psprintf("{\"callError\":%s}",
										JsonbToCString(NULL, &general->root, VARSIZE(general)))));
	o->error = e;
	if (op == HS_OP_CREATE)
		o->unknown = true;
	else
		o->retry = true;
}

/*
 * Give each element of errors[] to the inputs it names; the first error
 * that names none is the call's own (returned), NULL if every one did.
 */
static Jsonb *
assign_errors(HsOp op, JsonbValue *errors, int nerrors, HsInput **inputs, int n,
			  HsOutcome *out, long status)
{
	Jsonb	   *general = NULL;
	int			i;

	for (i = 0; i < nerrors; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(errors->val.binary.data, i);
		Jsonb	   *ejb;

		CHECK_FOR_INTERRUPTS();
		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			continue;
		ejb = hs_api_error_of(JsonbValueToJsonb(e), status);
		if (ejb == NULL)
			ejb = hs_make_error("UNKNOWN", "HubSpot reported an error without a message", status);
		if (!assign_error(op, e->val.binary.data, ejb, inputs, n, out) && general == NULL)
			general = ejb;
	}
	return general;
}

static void
parse_success(HsOp op, Jsonb *body, HsInput **inputs, int n, HsOutcome *out,
			  HsCallResult *res)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&body->root, "results", &v);
	JsonbValue	ev;
	JsonbValue *errors = hs_jsonb_get(&body->root, "errors", &ev);
	int			nresults = array_len(results);
	int			nerrors = array_len(errors);
	Jsonb	   *general = NULL;
	int			i;

	for (i = 0; i < nresults; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(results->val.binary.data, i);
		int			k;

		CHECK_FOR_INTERRUPTS();
		if (r->type != jbvBinary || !JsonContainerIsObject(r->val.binary.data))
			continue;
		k = match_result(op, r->val.binary.data, inputs, n, nresults);
		if (k >= 0 && out[k].result == NULL && out[k].error == NULL)
			out[k].result = JsonbValueToJsonb(r);
	}
	general = assign_errors(op, errors, nerrors, inputs, n, out, res->status);
	for (i = 0; i < n; i++)
		if (out[i].result == NULL && out[i].error == NULL)
			unnamed_input(op, &out[i], general, res->status);
}

/* Archive answers 204 with no body: say what was done (to what no error names). */
static void
archive_results(HsOp op, HsInput **inputs, int n, HsOutcome *out)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		StringInfoData buf;

		if (out[i].error)
			continue;
		initStringInfo(&buf);
		if (op == HS_OP_ARCHIVE)
		{
			appendStringInfoString(&buf, "{\"id\":");
			escape_json(&buf, inputs[i]->id ? inputs[i]->id : "");
			appendStringInfoString(&buf, ",\"archived\":true}");
		}
		else
		{
			appendStringInfoString(&buf, "{\"from\":{\"id\":");
			escape_json(&buf, inputs[i]->id);
			appendStringInfoString(&buf, "},\"to\":{\"id\":");
			escape_json(&buf, inputs[i]->to_id);
			appendStringInfo(&buf, "},%s\"archived\":true}",
							 inputs[i]->types ? psprintf("\"types\":%s,", inputs[i]->types) : "");
		}
		out[i].result = jsonb_of(buf.data);
	}
}

/*
 * Association archives answer 204 (v4) or 200 with an envelope whose
 * errors[] name the pairs that failed (the date versions).
 */
static void
assoc_archive_2xx(HsOp op, Jsonb *body, HsInput **inputs, int n, HsOutcome *out,
				  HsCallResult *res)
{
	JsonbValue	ev;
	JsonbValue *errors = body && JB_ROOT_IS_OBJECT(body) && !JB_ROOT_IS_SCALAR(body) ?
		hs_jsonb_get(&body->root, "errors", &ev) : NULL;
	Jsonb	   *general;
	int			k;

	res->cls = HS_CALL_OK;
	general = assign_errors(op, errors, array_len(errors), inputs, n, out, res->status);
	/* an error naming no pair: nothing can be said of the others */
	if (general)
		for (k = 0; k < n; k++)
			if (out[k].error == NULL)
				unnamed_input(op, &out[k], general, res->status);
	archive_results(op, inputs, n, out);
}

/*
 * A 400 that is about the call as a whole, not about one input: splitting
 * it would only repeat it.  HubSpot words these (REFERENCE.md sections 3
 * and 12): a non-unique idProperty, batch/update by email, an unknown
 * object type, a body it cannot read, too many inputs.
 */
static bool
whole_batch_error(Jsonb *body)
{
	static const char *const prefixes[] = {
		"Unable to perform update/upsert by non-unique",
		"Unable to infer object type",
		"Invalid input JSON",
		"The maximum number of inputs",
	};
	char	   *msg = body && JB_ROOT_IS_OBJECT(body) ? get_string(&body->root, "message") : NULL;
	int			i;

	if (msg == NULL)
		return false;
	for (i = 0; i < lengthof(prefixes); i++)
		if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static void
classify_status(HsCallResult *res, Jsonb *body, HsHttpRequest *req)
{
	long		s = res->status;

	if (s == 400 || s == 409)
		res->cls = whole_batch_error(body) ? HS_CALL_FAILED : HS_CALL_REJECTED;
	else if (s == 401 || s == 403)
		res->cls = HS_CALL_AUTH;
	else if (s == 429)
	{
		res->cls = HS_CALL_RATE_LIMITED;
		res->policy = body && JB_ROOT_IS_OBJECT(body) ? get_string(&body->root, "policyName") : NULL;
	}
	else if (s == 423)
	{
		res->cls = HS_CALL_WAIT;
		res->wait_ms = 2000;
	}
	else if (s == 477)
		res->cls = HS_CALL_WAIT;
	else if (s >= 500 || s == 408)
	{
		/* HubSpot may have done the work before it failed to answer */
		res->cls = HS_CALL_RETRY;
		res->maybe_applied = true;
	}
	else
		res->cls = HS_CALL_FAILED;
	if (req->rate.retry_after_ms >= 0)
		res->wait_ms = Max(res->wait_ms, req->rate.retry_after_ms);
	if (s == 477 && res->wait_ms < 0)
		res->wait_ms = 60000;
}

static void
call_failed(HsCallResult *res, HsCallClass cls, const char *category, char *message,
			long status)
{
	res->cls = cls;
	res->category = (char *) category;
	res->message = message;
	res->error = hs_make_error(category, message, status);
}

/*
 * A 2xx answer: results matched to inputs, or, when it is not a complete
 * batch answer, a failed call that may have been applied.
 */
static void
parse_2xx(HsOp op, HsHttpRequest *req, Jsonb *body, const char *why, HsInput **inputs,
		  int n, HsOutcome *out, HsCallResult *res)
{
	long		s = req->status;
	char	   *status;

	if (op == HS_OP_ARCHIVE)
	{
		/* 204 (v3), or 200 with a body on the date versions */
		res->cls = HS_CALL_OK;
		archive_results(op, inputs, n, out);
		return;
	}
	if (op == HS_OP_ASSOC_ARCHIVE || op == HS_OP_ASSOC_LABELS_ARCHIVE)
	{
		assoc_archive_2xx(op, body, inputs, n, out, res);
		return;
	}
	res->maybe_applied = true;
	if (body == NULL || !JB_ROOT_IS_OBJECT(body) || JB_ROOT_IS_SCALAR(body))
	{
		call_failed(res, HS_CALL_RETRY, "INVALID_RESPONSE",
					psprintf("HubSpot answered %ld with a body that is not a batch answer: %s",
							 s, why ? why : (s == 204 ? "it is empty" : "it is not a JSON object")),
					s);
		return;
	}
	status = get_string(&body->root, "status");
	if (status == NULL || strcmp(status, "COMPLETE") != 0)
	{
		call_failed(res, HS_CALL_RETRY, "INCOMPLETE_BATCH",
					status ? psprintf("HubSpot answered %ld with batch status %s, not COMPLETE", s, status)
					: psprintf("HubSpot answered %ld without a batch status", s),
					s);
		return;
	}
	res->cls = HS_CALL_OK;
	res->maybe_applied = false;
	parse_success(op, body, inputs, n, out, res);
}

/*
 * Turn one finished HTTP call into outcomes.  On HS_CALL_OK every input has
 * a result, an error, or is marked unknown/retry; otherwise res->error says
 * what happened to the call, and res->maybe_applied whether HubSpot may
 * have done it all the same.
 */
void
hs_api_parse(HsOp op, HsHttpRequest *req, HsInput **inputs, int n,
			 HsOutcome *out, HsCallResult *res)
{
	Jsonb	   *body = NULL;
	const char *why = NULL;

	memset(res, 0, sizeof(*res));
	memset(out, 0, sizeof(HsOutcome) * n);
	res->status = req->status;
	res->wait_ms = -1;

	if (req->status == 0)
	{
		/* an answer too large to read is HubSpot's answer all the same */
		call_failed(res, HS_CALL_RETRY, req->overflow ? "INVALID_RESPONSE" : "NETWORK_ERROR",
					pstrdup(req->error), 0);
		res->maybe_applied = req->maybe_sent;
		return;
	}
	if (req->response_len > 0)
		body = hs_api_parse_json(req->response, req->response_len, &why);

	if (req->status >= 200 && req->status < 300)
	{
		parse_2xx(op, req, body, why, inputs, n, out, res);
		return;
	}
	classify_status(res, body, req);
	res->error = hs_api_error_of(body, req->status);
	if (res->error == NULL)
		res->error = hs_make_error("HTTP_ERROR",
								   why && req->response_len > 0 ?
								   psprintf("HubSpot answered HTTP %ld with a body that is not readable: %s",
											req->status, why) :
								   psprintf("HubSpot answered HTTP %ld", req->status),
								   req->status);
	res->message = get_string(&res->error->root, "message");
	res->category = get_string(&res->error->root, "category");
	if (res->category == NULL)
		res->category = res->policy ? "RATE_LIMIT" : "HTTP_ERROR";
	if (res->message == NULL)
		res->message = psprintf("HubSpot answered HTTP %ld", req->status);
	{
		int			i;

		for (i = 0; i < n; i++)
			out[i].error = res->error;
	}
}

/* Inputs HubSpot takes in one call of this operation. */
int
hs_api_batch_limit(HsOp op, const char *read_extra)
{
	if (op == HS_OP_READ && read_extra && strstr(read_extra, "\"propertiesWithHistory\"") != NULL)
		return 50;
	if (op == HS_OP_ASSOC_READ)
		return HS_ASSOC_READ_MAX;
	if (HS_OP_IS_ASSOC_WIRE(op))
		return HS_ASSOC_BATCH_MAX;
	return HS_MAX_BATCH_SIZE;
}
