/*-------------------------------------------------------------------------
 * search.c
 *		WHERE clauses that HubSpot's search endpoint can apply.
 *
 * A clause is sent to HubSpot only where HubSpot's operator selects every
 * row PostgreSQL's would (a superset): the scan still checks every clause
 * locally, so a pushed filter can only save calls, never change a result.
 * Numbers, dates, timestamps and booleans compare exactly; strings only
 * by = and IN, which HubSpot applies case-insensitively (more rows, never
 * fewer; IN wants lowercase values); <> and range comparisons on strings,
 * and NULL tests on them (HubSpot does not tell "" from no value), stay
 * local.  Only built-in operators on the column's own type are pushed,
 * never one a user defined.
 *
 * A filter travels from planner to executor as a List: property (String),
 * HubSpot operator (String), values (List of String).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "options.h"
#include "search.h"

typedef enum KindOfType
{
	KIND_NONE,
	KIND_STRING,
	KIND_EXACT					/* numbers, dates, timestamps, booleans */
} KindOfType;

static KindOfType
kind_of(Oid type)
{
	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
			return KIND_STRING;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
		case DATEOID:
		case TIMESTAMPTZOID:
		case BOOLOID:
			return KIND_EXACT;
		default:
			return KIND_NONE;
	}
}

/* A constant as HubSpot's search takes it, or NULL. */
static char *
search_value(Datum d, Oid type, bool lower)
{
	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
			{
				char	   *s = TextDatumGetCString(d);

				return lower ? str_tolower(s, strlen(s), DEFAULT_COLLATION_OID) : s;
			}
		case BOOLOID:
			return pstrdup(DatumGetBool(d) ? "true" : "false");
		case DATEOID:
			{
				DateADT		date = DatumGetDateADT(d);

				if (DATE_NOT_FINITE(date))
					return NULL;
				/* epoch milliseconds of that day's midnight, UTC */
				return psprintf(INT64_FORMAT,
								((int64) date + POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
								INT64CONST(86400000));
			}
		case TIMESTAMPTZOID:
			{
				TimestampTz ts = DatumGetTimestampTz(d);

				if (TIMESTAMP_NOT_FINITE(ts))
					return NULL;
				/* whole milliseconds only: a finer value compares inexactly */
				if (ts % 1000 != 0)
					return NULL;
				return psprintf(INT64_FORMAT,
								ts / 1000 + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
								INT64CONST(86400000));
			}
		default:
			{
				Oid			out;
				bool		isvarlena;
				char	   *s;

				getTypeOutputInfo(type, &out, &isvarlena);
				s = OidOutputFunctionCall(out, d);
				/* HubSpot rejects exponents and special values */
				if (strpbrk(s, "eEnN") != NULL)
					return NULL;
				return s;
			}
	}
}

/* The HubSpot operator for a built-in comparison on type, or NULL. */
static const char *
search_operator(Oid opno, Oid type, bool commuted)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	const char *name;
	const char *result = NULL;
	static const char *const map[][3] = {
		{"=", "EQ", "EQ"}, {"<>", "NEQ", "NEQ"}, {"<", "LT", "GT"}, {"<=", "LTE", "GTE"},
		{">", "GT", "LT"}, {">=", "GTE", "LTE"},
	};
	int			i;

	if (!HeapTupleIsValid(tup))
		return NULL;
	op = (Form_pg_operator) GETSTRUCT(tup);
	name = NameStr(op->oprname);
	if (op->oprnamespace == PG_CATALOG_NAMESPACE && op->oprleft == type && op->oprright == type)
		for (i = 0; i < lengthof(map); i++)
			if (strcmp(name, map[i][0]) == 0)
				result = map[i][commuted ? 2 : 1];
	ReleaseSysCache(tup);
	/* strings: only the operators that can select more rows than PostgreSQL's */
	if (result && kind_of(type) == KIND_STRING && strcmp(result, "EQ") != 0)
		return NULL;
	return result;
}

static List *
filter(const char *prop, const char *op, List *values)
{
	return list_make3(makeString(pstrdup(prop)), makeString(pstrdup(op)), values);
}

/* The column a Var names, if it is one of ours and not the record id. */
static char *
column_property(Node *n, RelOptInfo *baserel, Oid relid, Oid *type)
{
	Var		   *v = (Var *) n;
	char	   *prop;

	if (n == NULL || !IsA(n, Var) || v->varno != baserel->relid || v->varattno <= 0)
		return NULL;
	prop = hs_column_property(relid, v->varattno);
	if (hs_is_id_column(relid, v->varattno, prop) ||
		(v->vartype == JSONBOID))
		return NULL;
	*type = v->vartype;
	return kind_of(v->vartype) == KIND_NONE ? NULL : prop;
}

static List *
op_filter(OpExpr *e, RelOptInfo *baserel, Oid relid)
{
	Node	   *l,
			   *r;
	bool		commuted = false;
	Oid			type;
	char	   *prop;
	const char *op;
	char	   *value;

	if (list_length(e->args) != 2)
		return NIL;
	l = linitial(e->args);
	r = lsecond(e->args);
	if (IsA(l, Const) && IsA(r, Var))
	{
		Node	   *t = l;

		l = r, r = t, commuted = true;
	}
	if (!IsA(r, Const) || ((Const *) r)->constisnull ||
		(prop = column_property(l, baserel, relid, &type)) == NULL ||
		((Const *) r)->consttype != type ||
		(op = search_operator(e->opno, type, commuted)) == NULL ||
		(value = search_value(((Const *) r)->constvalue, type, false)) == NULL)
		return NIL;
	return filter(prop, op, list_make1(makeString(value)));
}

/* x IN (...) and, for exact types, x NOT IN (...) */
static List *
array_filter(ScalarArrayOpExpr *e, RelOptInfo *baserel, Oid relid)
{
	Const	   *c = lsecond(e->args);
	Oid			type;
	char	   *prop;
	const char *op;
	List	   *values = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n,
				i;

	if (!IsA(c, Const) || c->constisnull ||
		(prop = column_property(linitial(e->args), baserel, relid, &type)) == NULL ||
		(op = search_operator(e->opno, type, false)) == NULL ||
		strcmp(op, e->useOr ? "EQ" : "NEQ") != 0 ||
		get_element_type(c->consttype) != type)
		return NIL;
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(c->constvalue), type, typlen, typbyval, typalign,
					  &elems, &nulls, &n);
	if (n == 0 || n > 100)
		return NIL;
	for (i = 0; i < n; i++)
	{
		char	   *v;

		/* a NULL makes NOT IN select nothing and IN no more: leave it local */
		if (nulls[i] || (v = search_value(elems[i], type, kind_of(type) == KIND_STRING)) == NULL)
			return NIL;
		values = lappend(values, makeString(v));
	}
	return filter(prop, e->useOr ? "IN" : "NOT_IN", values);
}

/* a boolean column alone (WHERE vip) or negated (WHERE NOT vip) */
static List *
bool_filter(Node *n, bool value, RelOptInfo *baserel, Oid relid)
{
	Oid			type;
	char	   *prop = column_property(n, baserel, relid, &type);

	if (prop == NULL || type != BOOLOID)
		return NIL;
	return filter(prop, "EQ", list_make1(makeString(value ? "true" : "false")));
}

static List *
null_filter(NullTest *t, RelOptInfo *baserel, Oid relid)
{
	Oid			type;
	char	   *prop = column_property((Node *) t->arg, baserel, relid, &type);

	if (prop == NULL || t->argisrow || kind_of(type) != KIND_EXACT)
		return NIL;
	return filter(prop, t->nulltesttype == IS_NULL ? "NOT_HAS_PROPERTY" : "HAS_PROPERTY", NIL);
}

/*
 * The filters HubSpot can apply for baserel's restrictions (ANDed), at most
 * as many as a filter group takes besides the keyset filter.
 */
List *
hs_search_filters(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	List	   *filters = NIL;
	ListCell   *lc;

	foreach(lc, baserel->baserestrictinfo)
	{
		Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;
		List	   *f = NIL;

		if (list_length(filters) >= HS_SEARCH_MAX_FILTERS - 1)
			break;
		if (IsA(clause, OpExpr))
			f = op_filter((OpExpr *) clause, baserel, relid);
		else if (IsA(clause, ScalarArrayOpExpr))
			f = array_filter((ScalarArrayOpExpr *) clause, baserel, relid);
		else if (IsA(clause, NullTest))
			f = null_filter((NullTest *) clause, baserel, relid);
		else if (IsA(clause, Var))
			f = bool_filter((Node *) clause, true, baserel, relid);
		else if (IsA(clause, BoolExpr) && ((BoolExpr *) clause)->boolop == NOT_EXPR)
			f = bool_filter(linitial(((BoolExpr *) clause)->args), false, baserel, relid);
		if (f != NIL)
			filters = lappend(filters, f);
	}
	return filters;
}

static void
append_filter(StringInfo buf, List *f)
{
	const char *op = strVal(lsecond(f));
	List	   *values = lthird(f);
	ListCell   *lc;

	appendStringInfoString(buf, "{\"propertyName\":");
	escape_json(buf, strVal(linitial(f)));
	appendStringInfoString(buf, ",\"operator\":");
	escape_json(buf, op);
	if (strcmp(op, "IN") == 0 || strcmp(op, "NOT_IN") == 0)
	{
		appendStringInfoString(buf, ",\"values\":[");
		foreach(lc, values)
		{
			if (lc != list_head(values))
				appendStringInfoChar(buf, ',');
			escape_json(buf, strVal(lfirst(lc)));
		}
		appendStringInfoChar(buf, ']');
	}
	else if (values != NIL)
	{
		appendStringInfoString(buf, ",\"value\":");
		escape_json(buf, strVal(linitial(values)));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * One page of the search: the filters, and a keyset on hs_object_id (sorted
 * ascending, above the last id seen), so that paging never meets HubSpot's
 * 10,000-result cap and never repeats or loses a record.
 */
char *
hs_search_body(List *filters, const char *properties_json, const char *after_id)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"filterGroups\":[{\"filters\":[");
	foreach(lc, filters)
	{
		if (lc != list_head(filters))
			appendStringInfoChar(&buf, ',');
		append_filter(&buf, lfirst(lc));
	}
	if (after_id)
	{
		appendStringInfoString(&buf, filters ? "," : "");
		appendStringInfoString(&buf, "{\"propertyName\":\"hs_object_id\",\"operator\":\"GT\",\"value\":");
		escape_json(&buf, after_id);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfo(&buf, "]}],\"sorts\":[{\"propertyName\":\"hs_object_id\",\"direction\":\"ASCENDING\"}],"
					 "\"properties\":%s,\"limit\":%d}", properties_json, HS_SEARCH_PAGE);
	return buf.data;
}

/* For EXPLAIN: "firstname EQ Ada, age GT 30" */
char *
hs_search_describe(List *filters)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, filters)
	{
		List	   *f = lfirst(lc);
		ListCell   *vc;

		appendStringInfo(&buf, "%s%s %s", buf.len ? ", " : "", strVal(linitial(f)),
						 strVal(lsecond(f)));
		foreach(vc, (List *) lthird(f))
			appendStringInfo(&buf, "%s%s", vc == list_head((List *) lthird(f)) ? " " : ",",
							 strVal(lfirst(vc)));
	}
	return buf.data;
}
