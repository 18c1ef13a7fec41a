/*-------------------------------------------------------------------------
 * search.c
 *		WHERE clauses that HubSpot's search endpoint can apply.
 *
 * A clause is sent to HubSpot only where HubSpot's operator selects every
 * row PostgreSQL's would (a superset): the scan still checks every clause
 * locally, so a pushed filter can only save calls, never change a result.
 * Numbers, dates, timestamps and booleans compare exactly; strings only
 * by =, IN and two LIKE shapes, which HubSpot applies case-insensitively
 * on strings and case-sensitively on enumerations (either way no fewer
 * rows than PostgreSQL's case-sensitive comparison); <> and range
 * comparisons on strings, and NULL tests on them (HubSpot does not tell ""
 * from no value), stay local.  Only built-in operators on the column's own
 * type are pushed, never one a user defined.
 *
 * ANDed clauses make one filter group; one OR of ANDs makes one group per
 * arm (HubSpot ORs groups), each with the ANDed clauses too.  Whatever does
 * not fit HubSpot's limits is left out of the groups: a group with fewer
 * filters selects more, so the result is still a superset.
 *
 * A filter travels from planner to executor as a List: property (String),
 * HubSpot operator (String), values (List).  A value is a String, or an
 * Integer: the index in fdw_exprs of a parameter ($1, or an InitPlan's
 * output) evaluated when the scan starts.  Filters are grouped in a List
 * of groups, each a List of filters.
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
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
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

/* what a clause may compare a column with */
typedef struct FilterContext
{
	RelOptInfo *baserel;
	Oid			relid;
	List	  **exprs;			/* runtime values, shipped as fdw_exprs */
} FilterContext;

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

/*
 * A value as HubSpot's search takes it, or NULL.  in_list: a value of IN
 * on a string, which HubSpot wants lowercase; one that is not already
 * lowercase is refused rather than lowered, because on an enumeration
 * (case-sensitive for every operator) the lowered value would select other
 * records than PostgreSQL's, and the column's HubSpot type is not known.
 */
static char *
search_value(Datum d, Oid type, bool in_list)
{
	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
			{
				char	   *s = TextDatumGetCString(d);

				if (in_list && strcmp(s, str_tolower(s, strlen(s), DEFAULT_COLLATION_OID)) != 0)
					return NULL;
				return s;
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
		{">", "GT", "LT"}, {">=", "GTE", "LTE"}, {"~~", "LIKE", NULL}, {"~~*", "ILIKE", NULL},
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
	if (result == NULL)
		return NULL;
	/* strings: only the operators that can select more rows than PostgreSQL's */
	if (kind_of(type) == KIND_STRING)
		return strcmp(result, "NEQ") == 0 || strcmp(result, "LT") == 0 ||
			strcmp(result, "LTE") == 0 || strcmp(result, "GT") == 0 ||
			strcmp(result, "GTE") == 0 ? NULL : result;
	return strcmp(result, "LIKE") == 0 || strcmp(result, "ILIKE") == 0 ? NULL : result;
}

/*
 * exact: HubSpot selects the same rows as PostgreSQL (not a superset), for
 * deciding whether the scan's order and count can be HubSpot's.
 */
static List *
filter(const char *prop, const char *op, List *values, bool exact)
{
	return list_make4(makeString(pstrdup(prop)), makeString(pstrdup(op)), values,
					  makeInteger(exact ? 1 : 0));
}

#define filter_exact(f) (intVal(lfourth(f)) != 0)

/* The column a Var names, if it is one of ours and not the record id. */
static char *
column_property(Node *n, FilterContext *cx, Oid *type)
{
	Var		   *v = (Var *) n;
	char	   *prop;

	if (n == NULL || !IsA(n, Var) || v->varno != cx->baserel->relid || v->varattno <= 0)
		return NULL;
	prop = hs_column_property(cx->relid, v->varattno);
	if (hs_is_id_column(cx->relid, v->varattno, prop) ||
		(v->vartype == JSONBOID))
		return NULL;
	*type = v->vartype;
	return kind_of(v->vartype) == KIND_NONE ? NULL : prop;
}

/*
 * A parameter whose value the executor knows when the scan starts: $1 of a
 * generic plan, or an InitPlan's output (x = ANY (ARRAY(SELECT ...))).  It
 * becomes a runtime value: its index in fdw_exprs.
 */
static Node *
runtime_value(Node *n, Oid type, FilterContext *cx)
{
	Param	   *p = (Param *) n;

	if (n == NULL || !IsA(n, Param) || p->paramtype != type ||
		(p->paramkind != PARAM_EXTERN && p->paramkind != PARAM_EXEC))
		return NULL;
	/* a value that changes between rescans is evaluated again at each */
	*cx->exprs = lappend(*cx->exprs, n);
	return (Node *) makeInteger(list_length(*cx->exprs) - 1);
}

/*
 * LIKE patterns that one CONTAINS_TOKEN selects a superset of:
 *
 * 'abc%' -> abc*: HubSpot splits a value into tokens at characters other
 * than letters and digits, so a value starting with letters "abc" has a
 * first token starting with abc.  The prefix must be all ASCII letters or
 * all digits (a tokenizer may also split where letters meet digits).
 *
 * '%@example.com' -> *@example.com, on email properties only: HubSpot
 * documents this wildcard for emails, where the address is one token.
 *
 * Case: LIKE compares case-sensitively, HubSpot case-insensitively on
 * strings and exactly on enumerations, so the pattern as given selects a
 * superset either way.  ILIKE only where the pattern has no letters: on an
 * enumeration HubSpot would miss the other cases.
 */
static char *
like_token(const char *pattern, bool ilike, const char *prop)
{
	size_t		len = strlen(pattern);
	size_t		i;
	bool		letters = true,
				digits = true;

	if (len >= 2 && pattern[len - 1] == '%')
	{
		for (i = 0; i < len - 1; i++)
		{
			letters &= (pattern[i] >= 'a' && pattern[i] <= 'z') ||
				(pattern[i] >= 'A' && pattern[i] <= 'Z');
			digits &= pattern[i] >= '0' && pattern[i] <= '9';
		}
		if (digits || (letters && !ilike))
			return psprintf("%.*s*", (int) len - 1, pattern);
		return NULL;
	}
	if (len >= 4 && pattern[0] == '%' && pattern[1] == '@' && !ilike &&
		strstr(prop, "email") != NULL)
	{
		for (i = 2; i < len; i++)
			if (!((pattern[i] >= 'a' && pattern[i] <= 'z') ||
				  (pattern[i] >= 'A' && pattern[i] <= 'Z') ||
				  (pattern[i] >= '0' && pattern[i] <= '9') ||
				  pattern[i] == '.' || pattern[i] == '-'))
				return NULL;
		return psprintf("*%s", pattern + 1);
	}
	return NULL;
}

/*
 * A comparison under a nondeterministic collation (say, case-insensitive)
 * matches values HubSpot's case-sensitive enumeration compare would not.
 */
static bool
deterministic(Oid collid)
{
	return !OidIsValid(collid) || get_collation_isdeterministic(collid);
}

static List *
op_filter(OpExpr *e, FilterContext *cx)
{
	Node	   *l,
			   *r;
	bool		commuted = false;
	Oid			type;
	char	   *prop;
	const char *op;
	char	   *value;
	Node	   *param;

	if (list_length(e->args) != 2)
		return NIL;
	l = linitial(e->args);
	r = lsecond(e->args);
	if ((IsA(l, Const) || IsA(l, Param)) && IsA(r, Var))
	{
		Node	   *t = l;

		l = r, r = t, commuted = true;
	}
	if ((prop = column_property(l, cx, &type)) == NULL ||
		(op = search_operator(e->opno, type, commuted)) == NULL ||
		!deterministic(e->inputcollid))
		return NIL;
	if (strcmp(op, "LIKE") == 0 || strcmp(op, "ILIKE") == 0)
	{
		if (!IsA(r, Const) || ((Const *) r)->constisnull ||
			(value = like_token(TextDatumGetCString(((Const *) r)->constvalue),
								strcmp(op, "ILIKE") == 0, prop)) == NULL)
			return NIL;
		return filter(prop, "CONTAINS_TOKEN", list_make1(makeString(value)), false);
	}
	if (IsA(r, Param))
	{
		if ((param = runtime_value(r, type, cx)) == NULL)
			return NIL;
		return filter(prop, op, list_make1(param), false);
	}
	if (!IsA(r, Const) || ((Const *) r)->constisnull ||
		((Const *) r)->consttype != type ||
		(value = search_value(((Const *) r)->constvalue, type, false)) == NULL)
		return NIL;
	/* HubSpot's NEQ also selects records without a value, which <> does not */
	return filter(prop, op, list_make1(makeString(value)),
				  kind_of(type) == KIND_EXACT && strcmp(op, "NEQ") != 0);
}

/* The values of an array for IN / NOT IN, or NIL if one cannot be sent. */
static List *
array_values(Datum array, Oid type)
{
	List	   *values = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n,
				i;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(array), type, typlen, typbyval, typalign,
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
	return values;
}

/* x IN (...) and, for exact types, x NOT IN (...) */
static List *
array_filter(ScalarArrayOpExpr *e, FilterContext *cx)
{
	Node	   *c = lsecond(e->args);
	Oid			type;
	char	   *prop;
	const char *op;
	List	   *values;

	if ((prop = column_property(linitial(e->args), cx, &type)) == NULL ||
		(op = search_operator(e->opno, type, false)) == NULL ||
		strcmp(op, e->useOr ? "EQ" : "NEQ") != 0 || !deterministic(e->inputcollid) ||
		get_element_type(exprType(c)) != type)
		return NIL;
	if (IsA(c, Param))
	{
		Node	   *param = runtime_value(c, exprType(c), cx);

		return param ? filter(prop, e->useOr ? "IN" : "NOT_IN", list_make1(param), false) : NIL;
	}
	if (!IsA(c, Const) || ((Const *) c)->constisnull ||
		(values = array_values(((Const *) c)->constvalue, type)) == NIL)
		return NIL;
	return filter(prop, e->useOr ? "IN" : "NOT_IN", values,
				  kind_of(type) == KIND_EXACT && e->useOr);
}

/* a boolean column alone (WHERE vip) or negated (WHERE NOT vip) */
static List *
bool_filter(Node *n, bool value, FilterContext *cx)
{
	Oid			type;
	char	   *prop = column_property(n, cx, &type);

	if (prop == NULL || type != BOOLOID)
		return NIL;
	return filter(prop, "EQ", list_make1(makeString(value ? "true" : "false")), true);
}

static List *
null_filter(NullTest *t, FilterContext *cx)
{
	Oid			type;
	char	   *prop = column_property((Node *) t->arg, cx, &type);

	if (prop == NULL || t->argisrow || kind_of(type) != KIND_EXACT)
		return NIL;
	return filter(prop, t->nulltesttype == IS_NULL ? "NOT_HAS_PROPERTY" : "HAS_PROPERTY", NIL,
				  true);
}

/* One clause as one filter, or NIL. */
static List *
clause_filter(Expr *clause, FilterContext *cx)
{
	if (IsA(clause, OpExpr))
		return op_filter((OpExpr *) clause, cx);
	if (IsA(clause, ScalarArrayOpExpr))
		return array_filter((ScalarArrayOpExpr *) clause, cx);
	if (IsA(clause, NullTest))
		return null_filter((NullTest *) clause, cx);
	if (IsA(clause, Var))
		return bool_filter((Node *) clause, true, cx);
	if (IsA(clause, BoolExpr) && ((BoolExpr *) clause)->boolop == NOT_EXPR)
		return bool_filter(linitial(((BoolExpr *) clause)->args), false, cx);
	return NIL;
}

/* The filters of an AND (or of one clause) that can be sent; others are left out. */
static List *
and_filters(Expr *clause, FilterContext *cx)
{
	List	   *out = NIL;
	ListCell   *lc;

	if (!IsA(clause, BoolExpr) || ((BoolExpr *) clause)->boolop != AND_EXPR)
	{
		List	   *f = clause_filter(clause, cx);

		return f ? list_make1(f) : NIL;
	}
	foreach(lc, ((BoolExpr *) clause)->args)
	{
		List	   *f = clause_filter(lfirst(lc), cx);

		if (f != NIL)
			out = lappend(out, f);
	}
	return out;
}

/*
 * The filter groups HubSpot can apply for baserel's restrictions: the ANDed
 * clauses in every group, and the first OR whose every arm has a filter as
 * one group per arm.  Within HubSpot's limits, counting the keyset filter
 * every group gets: filters beyond them are left out (a superset still).
 * *exprs receives the runtime values.
 */
List *
hs_search_filters(PlannerInfo *root, RelOptInfo *baserel, Oid relid, List **exprs,
				  bool *exact)
{
	FilterContext cx = {baserel, relid, exprs};
	bool		all_exact = true;
	List	   *common = NIL;
	List	   *arms = NIL;
	List	   *groups = NIL;
	ListCell   *lc;
	int			total;

	foreach(lc, baserel->baserestrictinfo)
	{
		Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;

		if (IsA(clause, BoolExpr) && ((BoolExpr *) clause)->boolop == OR_EXPR)
		{
			List	   *these = NIL;
			ListCell   *ac;

			all_exact = false;
			if (arms != NIL || list_length(((BoolExpr *) clause)->args) > HS_SEARCH_MAX_GROUPS)
				continue;
			foreach(ac, ((BoolExpr *) clause)->args)
			{
				List	   *f = and_filters(lfirst(ac), &cx);

				/* an arm HubSpot cannot narrow selects everything: no use */
				if (f == NIL)
				{
					these = NIL;
					break;
				}
				these = lappend(these, f);
			}
			arms = these;
		}
		else
		{
			List	   *f = clause_filter(clause, &cx);

			if (f != NIL)
				common = lappend(common, f);
			all_exact &= f != NIL && filter_exact(f);
		}
	}
	/* every clause as an exact filter, all in one group with room for one more */
	if (exact)
		*exact = all_exact && list_length(common) <= HS_SEARCH_MAX_FILTERS - 1;
	if (arms == NIL)
		groups = common ? list_make1(common) : NIL;
	else
		foreach(lc, arms)
			groups = lappend(groups, list_concat(list_copy(lfirst(lc)), common));
	/* one filter in each group is the keyset's */
	foreach(lc, groups)
		if (list_length(lfirst(lc)) > HS_SEARCH_MAX_FILTERS - 1)
			lfirst(lc) = list_truncate(lfirst(lc), HS_SEARCH_MAX_FILTERS - 1);
	for (;;)
	{
		ListCell   *longest = NULL;

		total = list_length(groups);
		foreach(lc, groups)
		{
			total += list_length(lfirst(lc));
			if (longest == NULL || list_length(lfirst(lc)) > list_length(lfirst(longest)))
				longest = lc;
		}
		if (total <= HS_SEARCH_MAX_ALL_FILTERS)
			break;
		lfirst(longest) = list_truncate(lfirst(longest), list_length(lfirst(longest)) - 1);
	}
	return groups;
}

/*
 * The groups with their runtime values, evaluated now; NIL when nothing is
 * left to send.  A filter whose value cannot be sent (NULL, not lowercase
 * for IN on a string, too many values) is left out of its group: a superset
 * still; a group left empty would select everything, so then no search.
 */
List *
hs_search_resolve(List *groups, List *exprstates, ExprContext *econtext)
{
	List	   *out = NIL;
	ListCell   *gc;

	foreach(gc, groups)
	{
		List	   *group = NIL;
		ListCell   *fc;

		foreach(fc, (List *) lfirst(gc))
		{
			List	   *f = lfirst(fc);
			List	   *values = lthird(f);
			Node	   *v = values ? linitial(values) : NULL;
			ExprState  *es;
			Oid			type;
			Datum		d;
			bool		isnull;
			char	   *s;

			if (v == NULL || !IsA(v, Integer))
			{
				group = lappend(group, f);
				continue;
			}
			es = list_nth(exprstates, intVal(v));
			type = exprType((Node *) es->expr);
			d = ExecEvalExpr(es, econtext, &isnull);
			if (isnull)
				continue;
			if (strcmp(strVal(lsecond(f)), "IN") == 0 || strcmp(strVal(lsecond(f)), "NOT_IN") == 0)
			{
				values = array_values(d, get_element_type(type));
				if (values != NIL)
					group = lappend(group, filter(strVal(linitial(f)), strVal(lsecond(f)), values,
												  false));
			}
			else if ((s = search_value(d, type, false)) != NULL)
				group = lappend(group, filter(strVal(linitial(f)), strVal(lsecond(f)),
											  list_make1(makeString(s)), false));
		}
		if (group == NIL)
			return NIL;
		out = lappend(out, group);
	}
	return out;
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
 * One page of the search: the filter groups, each with a keyset filter on
 * hs_object_id (sorted ascending, above the last id seen), so that paging
 * never meets HubSpot's 10,000-result cap and never repeats or loses a
 * record.
 */
char *
hs_search_body(List *groups, const char *properties_json, const char *after_id)
{
	StringInfoData buf;
	ListCell   *gc;
	ListCell   *lc;
	List	   *one = list_make1(NIL);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"filterGroups\":[");
	/* no filters but a keyset: one group holding the keyset only */
	if (groups == NIL && after_id)
		groups = one;
	foreach(gc, groups)
	{
		List	   *filters = lfirst(gc);

		appendStringInfoString(&buf, gc == list_head(groups) ? "{\"filters\":[" : ",{\"filters\":[");
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
		appendStringInfoString(&buf, "]}");
	}
	appendStringInfo(&buf, "],\"sorts\":[{\"propertyName\":\"hs_object_id\",\"direction\":\"ASCENDING\"}],"
					 "\"properties\":%s,\"limit\":%d}", properties_json, HS_SEARCH_PAGE);
	return buf.data;
}

/*
 * The property HubSpot can sort by exactly as PostgreSQL sorts the column
 * n, or NULL: numbers, dates, timestamps and booleans compare by value and
 * no collation; strings sort by HubSpot's rules, not the column's collation.
 */
char *
hs_search_sort_property(Node *n, RelOptInfo *baserel, Oid relid)
{
	FilterContext cx = {baserel, relid, NULL};
	Oid			type;
	char	   *prop = column_property(n, &cx, &type);

	return prop && kind_of(type) == KIND_EXACT ? prop : NULL;
}

/*
 * One page of a sorted search: the groups, each also selecting the records
 * that have the sort property (present) or those that do not, so that
 * where HubSpot places records without a value never matters: PostgreSQL's
 * NULLS FIRST / LAST is the order of the two passes.  Paged by offset:
 * the caller never needs more than 10,000 (a LIMIT within that, and every
 * clause applied exactly by HubSpot).
 */
char *
hs_search_sorted_body(List *groups, const char *properties_json, const char *prop,
					  bool desc, bool present, int after)
{
	StringInfoData buf;
	ListCell   *gc;
	ListCell   *lc;
	List	   *one = list_make1(NIL);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"filterGroups\":[");
	if (groups == NIL)
		groups = one;
	foreach(gc, groups)
	{
		List	   *filters = lfirst(gc);

		appendStringInfoString(&buf, gc == list_head(groups) ? "{\"filters\":[" : ",{\"filters\":[");
		foreach(lc, filters)
		{
			append_filter(&buf, lfirst(lc));
			appendStringInfoChar(&buf, ',');
		}
		appendStringInfoString(&buf, "{\"propertyName\":");
		escape_json(&buf, prop);
		appendStringInfo(&buf, ",\"operator\":\"%s\"}]}", present ? "HAS_PROPERTY" : "NOT_HAS_PROPERTY");
	}
	appendStringInfoString(&buf, "],\"sorts\":[{\"propertyName\":");
	/* records without the value: any stable order, ties are PostgreSQL's too */
	escape_json(&buf, present ? prop : "hs_object_id");
	appendStringInfo(&buf, ",\"direction\":\"%s\"}],\"properties\":%s,\"limit\":%d",
					 desc && present ? "DESCENDING" : "ASCENDING", properties_json, HS_SEARCH_PAGE);
	if (after > 0)
		appendStringInfo(&buf, ",\"after\":\"%d\"", after);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* For EXPLAIN: "firstname EQ Ada AND age GT 30", groups in parentheses joined by OR */
char *
hs_search_describe(List *groups)
{
	StringInfoData buf;
	ListCell   *gc;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(gc, groups)
	{
		List	   *filters = lfirst(gc);

		if (gc != list_head(groups))
			appendStringInfoString(&buf, " OR ");
		if (list_length(groups) > 1)
			appendStringInfoChar(&buf, '(');
		foreach(lc, filters)
		{
			List	   *f = lfirst(lc);
			ListCell   *vc;

			appendStringInfo(&buf, "%s%s %s", lc != list_head(filters) ? " AND " : "",
							 strVal(linitial(f)), strVal(lsecond(f)));
			foreach(vc, (List *) lthird(f))
			{
				Node	   *v = lfirst(vc);

				appendStringInfoString(&buf, vc == list_head((List *) lthird(f)) ? " " : ",");
				if (IsA(v, Integer))
					appendStringInfoString(&buf, "(parameter)");
				else
					appendStringInfoString(&buf, strVal(v));
			}
		}
		if (list_length(groups) > 1)
			appendStringInfoChar(&buf, ')');
	}
	return buf.data;
}
