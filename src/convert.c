/*-------------------------------------------------------------------------
 * convert.c
 *		PostgreSQL values to HubSpot property values, and back.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "miscadmin.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "convert.h"

enum
{
	K_TEXT,						/* the type's output function */
	K_VARLENA_TEXT,				/* text and varchar: no call needed */
	K_BOOL,
	K_FLOAT,
	K_DATE,
	K_TIMESTAMPTZ,
	K_TIMESTAMP,
	K_JSONB,
	K_ARRAY
};

static int
kind_of(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
			return K_BOOL;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return K_FLOAT;
		case DATEOID:
			return K_DATE;
		case TIMESTAMPTZOID:
			return K_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return K_TIMESTAMP;
		case JSONBOID:
			return K_JSONB;
		case TEXTOID:
		case VARCHAROID:
			return K_VARLENA_TEXT;
		default:
			return K_TEXT;
	}
}

void
hs_converter_init(HsConverter *c, Oid typid)
{
	Oid			outfn;
	bool		isvarlena;

	memset(c, 0, sizeof(*c));
	c->typid = getBaseType(typid);
	c->elemtype = get_element_type(c->typid);
	if (OidIsValid(c->elemtype))
	{
		c->kind = K_ARRAY;
		c->elemkind = kind_of(c->elemtype);
		get_typlenbyvalalign(c->elemtype, &c->elmlen, &c->elmbyval, &c->elmalign);
		getTypeOutputInfo(c->elemtype, &outfn, &isvarlena);
	}
	else
	{
		c->kind = kind_of(c->typid);
		getTypeOutputInfo(c->typid, &outfn, &isvarlena);
	}
	fmgr_info(outfn, &c->out);
}

static char *
iso_timestamp(Timestamp ts, const char *name)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("value of \"%s\" cannot be sent to HubSpot", name),
				 errdetail("HubSpot accepts only finite timestamps.")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (fsec / 1000));
}

static char *
scalar_text(int kind, FmgrInfo *out, Datum d, const char *name)
{
	switch (kind)
	{
		case K_BOOL:
			return pstrdup(DatumGetBool(d) ? "true" : "false");
		case K_FLOAT:
			{
				char	   *s = OutputFunctionCall(out, d);

				if (strcmp(s, "NaN") == 0 || strstr(s, "Infinity") != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("value of \"%s\" cannot be sent to HubSpot", name),
							 errdetail("HubSpot numbers have no NaN or infinity.")));
				/* HubSpot rejects exponent notation */
				if (strchr(s, 'e') != NULL)
					s = DatumGetCString(DirectFunctionCall1(numeric_out,
															DirectFunctionCall1(float8_numeric,
																				Float8GetDatum(atof(s)))));
				return s;
			}
		case K_DATE:
			{
				DateADT		date = DatumGetDateADT(d);
				int			y,
							m,
							dd;

				if (DATE_NOT_FINITE(date))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("value of \"%s\" cannot be sent to HubSpot", name),
							 errdetail("HubSpot accepts only finite dates.")));
				j2date(date + POSTGRES_EPOCH_JDATE, &y, &m, &dd);
				return psprintf("%04d-%02d-%02d", y, m, dd);
			}
		case K_TIMESTAMPTZ:
		case K_TIMESTAMP:
			/* timestamp without time zone is taken to be UTC */
			return iso_timestamp(DatumGetTimestamp(d), name);
		case K_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);
				JsonbValue	v;

				if (JB_ROOT_IS_SCALAR(jb) && getIthJsonbValueFromContainer(&jb->root, 0) &&
					(v = *getIthJsonbValueFromContainer(&jb->root, 0)).type == jbvString)
					return pnstrdup(v.val.string.val, v.val.string.len);
				return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
			}
		case K_VARLENA_TEXT:
			return TextDatumGetCString(d);
		default:
			return OutputFunctionCall(out, d);
	}
}

/*
 * The HubSpot string for a non-NULL value.  name is the property, for
 * messages.
 */
char *
hs_value_text(HsConverter *c, Datum d, const char *name)
{
	char	   *s;

	if (c->kind == K_ARRAY)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;
		StringInfoData buf;

		deconstruct_array(arr, c->elemtype, c->elmlen, c->elmbyval, c->elmalign,
						  &elems, &nulls, &n);
		initStringInfo(&buf);
		for (i = 0; i < n; i++)
		{
			char	   *e;

			if (nulls[i])
				continue;
			e = scalar_text(c->elemkind, &c->out, elems[i], name);
			if (strchr(e, ';') != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("array element \"%s\" of \"%s\" contains ';'", e, name),
						 errdetail("HubSpot separates multi-select values with ';'.")));
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ";" : "", e);
		}
		s = buf.data;
	}
	else
		s = scalar_text(c->kind, &c->out, d, name);

	if (strlen(s) > HS_MAX_VALUE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("value of HubSpot property \"%s\" is too long", name),
				 errdetail("The value has %zu bytes; HubSpot accepts at most %d characters.",
						   strlen(s), HS_MAX_VALUE_LEN)));
	return s;
}

void
hs_props_init(HsProps *p)
{
	p->n = 0;
	p->cap = 16;
	p->names = palloc(sizeof(char *) * p->cap);
	p->values = palloc(sizeof(char *) * p->cap);
}

static void
props_append(HsProps *p, const char *name, const char *value)
{
	if (p->n == p->cap)
	{
		p->cap *= 2;
		p->names = repalloc_huge(p->names, sizeof(char *) * p->cap);
		p->values = repalloc_huge(p->values, sizeof(char *) * p->cap);
	}
	p->names[p->n] = name;
	p->values[p->n++] = value;
}

void
hs_props_add(HsProps *p, const char *name, const char *value)
{
	int			i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->names[i], name) == 0)
		{
			p->values[i] = value;
			return;
		}
	props_append(p, name, value);
}

/* {"name":"value",...} for a request body */
char *
hs_props_text(HsProps *p)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < p->n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, p->names[i]);
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, p->values[i]);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* The same as jsonb, built directly (no text round trip: the queue's hot path). */
Jsonb *
hs_props_jsonb(HsProps *p)
{
	HsJsonbBuild state = {0};
	JsonbValue	v;
	JsonbValue *res;
	int			i;

	hs_push_jsonb_value(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < p->n; i++)
	{
		v.type = jbvString;
		v.val.string.val = (char *) p->names[i];
		v.val.string.len = strlen(p->names[i]);
		hs_push_jsonb_value(&state, WJB_KEY, &v);
		v.val.string.val = (char *) p->values[i];
		v.val.string.len = strlen(p->values[i]);
		hs_push_jsonb_value(&state, WJB_VALUE, &v);
	}
	res = hs_push_jsonb_value(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * Add the members of a user-supplied properties object, every value as
 * a string.  Nested values have no HubSpot meaning and are refused.
 */
void
hs_props_add_jsonb(HsProps *p, JsonbContainer *obj, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	bool		fresh = p->n == 0;	/* jsonb's keys are unique already */

	if (!JsonContainerIsObject(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"properties\" of %s is not a JSON object", what),
				 errhint("Write properties as {\"name\": \"value\", ...}.")));
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *value;

		CHECK_FOR_INTERRUPTS();
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (key[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s has a property with an empty name", what)));
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (v.type == jbvBinary)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("property \"%s\" of %s has a nested value", key, what),
					 errhint("HubSpot property values are strings; join multi-select values with ';'.")));
		if (v.type == jbvNull)
			value = "";
		else if (v.type == jbvString)
			value = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvBool)
			value = v.val.boolean ? "true" : "false";
		else
			value = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v.val.numeric)));
		if (strlen(value) > HS_MAX_VALUE_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("property \"%s\" of %s is too long", key, what),
					 errdetail("The value has %zu bytes; HubSpot accepts at most %d characters.",
							   strlen(value), HS_MAX_VALUE_LEN)));
		if (fresh)
			props_append(p, key, value);
		else
			hs_props_add(p, key, value);
	}
}

/* HubSpot text to a PostgreSQL value of typid (for reads). */
Datum
hs_value_from_text(const char *text, Oid typid, int32 typmod, FmgrInfo *in, Oid ioparam)
{
	Oid			base = getBaseType(typid);

	if (base == BOOLOID)
		return BoolGetDatum(pg_strcasecmp(text, "true") == 0);
	if (base == TEXTARRAYOID)
	{
		StringInfoData buf;
		const char *p;

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		for (p = text; *p; p++)
		{
			if (*p == ';')
				appendStringInfoChar(&buf, ',');
			else
			{
				if (p == text || p[-1] == ';')
					appendStringInfoChar(&buf, '"');
				if (*p == '"' || *p == '\\')
					appendStringInfoChar(&buf, '\\');
				appendStringInfoChar(&buf, *p);
				if (p[1] == ';' || p[1] == '\0')
					appendStringInfoChar(&buf, '"');
			}
		}
		appendStringInfoChar(&buf, '}');
		return InputFunctionCall(in, buf.data, ioparam, typmod);
	}
	if (base == JSONBOID)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		escape_json(&buf, text);
		return InputFunctionCall(in, buf.data, ioparam, typmod);
	}
	return InputFunctionCall(in, (char *) text, ioparam, typmod);
}
