/*-------------------------------------------------------------------------
 * scan.c
 *		SELECT from a hubspot_fdw foreign table.
 *
 * Reads HubSpot's list endpoint page by page (100 a page, "after" paging),
 * asking only for the properties of the columns the query uses.  All
 * quals are checked locally.  Keys go to batch/read instead: constants,
 * parameters, and a join's local keys (a parameterized path read once for
 * all its loops).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include <curl/curl.h>
#include <math.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "catalog/pg_am.h"
#include "catalog/pg_operator.h"
#include "commands/defrem.h"
#include "catalog/pg_type.h"
#include "nodes/value.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "convert.h"
#include "dispatch.h"
#include "import.h"
#include "keys.h"
#include "search.h"
#include "options.h"
#include "scan.h"

#define HS_PAGE_SIZE 100
/*
 * Longer property lists do not go into a URL (HubSpot answers 414 from
 * about 2,000 characters on): pages are listed by id only, and their
 * properties read with batch/read, which takes the list in its body.
 */
#define HS_MAX_QUERY_PROPS 1500

typedef struct HsScanState
{
	HsServer   *server;
	char	   *token;
	char	   *base_query;
	int			natts;
	char	  **props;			/* per attribute: property, NULL if unused */
	bool	   *is_id;
	bool	   *is_extra;
	FmgrInfo   *in;
	Oid		   *ioparam;
	Oid		   *types;			/* each attribute's type */
	Jsonb	   *page;
	int			pos;
	int			count;
	char	   *after;
	bool		done;
	HsTable    *table;
	char	   *props_json;		/* the used properties as a JSON array */
	List	   *lookup;			/* pushed-down ids or key values, or NIL */
	bool		lookup_by_key;	/* values of lookup_property, not record ids */
	char	   *lookup_property;
	HsJob	   *read;			/* batch/read of the lookup */
	int			read_pos;
	MemoryContext pagecxt;		/* the current page; Iterate's own context is per tuple */
	MemoryContext scancxt;		/* the scan's */
	List	   *filters;		/* filter groups pushed to HubSpot's search, or NIL */
	List	   *plan_filters;	/* the same as planned, runtime values unevaluated */
	bool		is_lookup;		/* batch/read of pushed-down ids or keys */
	int			lookup_param;	/* index in fdw_exprs of the lookup's values, or -1 */
	List	   *lookup_consts;	/* the lookup's values as planned */
	List	   *exprstates;		/* fdw_exprs, ready to evaluate */
	bool		resolved;		/* runtime values evaluated for this (re)scan */
	bool		learn_list;		/* count a full listing's rows for estimates */
	int64		listed;			/* rows of the listing so far */
	char	   *estimate_source;	/* for EXPLAIN VERBOSE */
	char	   *sort_prop;		/* ORDER BY done by HubSpot: the property, or NULL */
	bool		sort_desc;
	bool		sort_nulls_first;
	int			sort_pass;		/* 0, 1: records with a value or without, in NULLS order */
	int			sort_offset;	/* "after" within the pass */
	Oid			relid;
	MemoryContext paramcxt;		/* runtime values, for one (re)scan */
	char	   *last_id;		/* search: the keyset, the last record id seen */
	bool		wide;			/* properties read by batch/read, not in the URL */
	bool		archived_pass;	/* listing archived records (archived 'true' or 'both') */
	Jsonb	  **wide_results;	/* the current page's records, in page order */
	bool		has_extra;		/* a catch-all jsonb column is used */
	List	   *names;			/* the properties asked for */
	List	   *mapped;			/* the table's columns' properties: not in the catch-all */
	bool		is_join;		/* a parameterized path: the keys of a local table */
	Oid			join_relid;		/* the local table */
	AttrNumber	join_attnum;	/* its column */
	bool		join_inh;		/* with its children (inheritance, partitions) */
	bool		join_prefetch;	/* all its keys read once; else each loop's alone */
	bool		join_started;
	HTAB	   *join_cache;		/* JoinEntry by key, in joincxt */
	MemoryContext joincxt;		/* the join's records, for the whole scan */
	List	   *join_rows;		/* this loop's records */
	int			join_pos;
} HsScanState;

/*
 * Row counts learnt from earlier scans, per server and table, in this
 * backend: a full listing's rows (key ""), and each search's total (key:
 * its filters as EXPLAIN describes them).  Planning costs no call.
 */
typedef struct LearntKey
{
	Oid			serverid;
	Oid			relid;
	uint32		filters;		/* hash of the description, 0 for a full listing */
} LearntKey;

typedef struct LearntEntry
{
	LearntKey	key;
	double		rows;
} LearntEntry;

static HTAB *learnt = NULL;

#define HS_LEARNT_MAX 10000

static LearntKey
learnt_key(Oid serverid, Oid relid, const char *filters)
{
	LearntKey	k;

	memset(&k, 0, sizeof(k));
	k.serverid = serverid;
	k.relid = relid;
	/* 0 stays the full listing's */
	k.filters = filters && *filters ? (hash_bytes((const unsigned char *) filters,
												  strlen(filters)) | 1) : 0;
	return k;
}

static void
learn_rows(Oid serverid, Oid relid, const char *filters, double rows)
{
	LearntKey	k = learnt_key(serverid, relid, filters);
	LearntEntry *e;

	/* one entry per distinct filters: start afresh rather than grow without end */
	if (learnt != NULL && hash_get_num_entries(learnt) >= HS_LEARNT_MAX)
	{
		hash_destroy(learnt);
		learnt = NULL;
	}
	if (learnt == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(LearntKey);
		ctl.entrysize = sizeof(LearntEntry);
		learnt = hash_create("hubspot_fdw learnt row counts", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS);
	}
	e = hash_search(learnt, &k, HASH_ENTER, NULL);
	e->rows = rows;
}

static bool
learnt_rows(Oid serverid, Oid relid, const char *filters, double *rows)
{
	LearntKey	k = learnt_key(serverid, relid, filters);
	LearntEntry *e;

	if (learnt == NULL || (e = hash_search(learnt, &k, HASH_FIND, NULL)) == NULL)
		return false;
	*rows = e->rows;
	return true;
}

#define HS_DEFAULT_ROWS 1000
/*
 * A listing of a table whose size nothing has told is costed as this many
 * records: CRMs are rarely that small, and a join's keys read by batch/read
 * (bounded by a local table) are then preferred to listing it.
 */
#define HS_DEFAULT_LIST_ROWS 10000
/* one HubSpot call, against a row's processing: calls dominate a scan's time */
#define HS_CALL_COST 1000.0

/*
 * Estimates without a call: a search's total learnt for the same filters;
 * else the table's learnt row count (a full listing) times the clauses'
 * selectivity; else a default.  baserel->fdw_private: [source, calls].
 */
void
hsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Oid			serverid = GetForeignTable(foreigntableid)->serverid;
	List	   *exprs = NIL;
	bool		exact;
	List	   *groups = hs_search_filters(root, baserel, foreigntableid, &exprs, &exact);
	char	   *desc = hs_search_describe(groups);
	Selectivity sel = clauselist_selectivity(root, baserel->baserestrictinfo, 0,
											 JOIN_INNER, NULL);
	double		table_rows;
	double		rows;
	double		calls;
	const char *source;

	if (!learnt_rows(serverid, foreigntableid, "", &table_rows))
		table_rows = HS_DEFAULT_ROWS, source = "default";
	else
		source = "learnt";
	rows = table_rows * sel;
	calls = ceil((strcmp(source, "default") == 0 ? HS_DEFAULT_LIST_ROWS : table_rows) /
				 HS_PAGE_SIZE);
	if (groups != NIL)
	{
		double		found;

		/* HubSpot's total for these filters: the local recheck may keep fewer */
		if (learnt_rows(serverid, foreigntableid, desc, &found))
			rows = found, source = "learnt";
		else
			found = rows * 2;	/* pushed filters are often a superset */
		calls = ceil(found / 200) + 1;
	}
	baserel->rows = clamp_row_est(rows);
	baserel->fdw_private = list_make3(makeString(pstrdup(source)),
									  makeInteger((int) Min(calls, 1000000)),
									  makeInteger(exact ? 1 : 0));
}

/*
 * ORDER BY one column + LIMIT, done by HubSpot's search: the sort as
 * [property, descending, nulls first], or NIL where it would not be exact.
 * Only for a query on this table alone, where every clause is a filter
 * HubSpot applies exactly (no row is dropped here, so a LIMIT of n needs
 * n records at most, within the 10,000 one search returns), on a column
 * that sorts by value without a collation (numbers, dates, timestamps,
 * booleans), with the btree order PostgreSQL would use.  NULLs: two
 * passes, those with a value and those without, in the order asked.
 */
static List *
sort_pushdown(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	HsTable    *t = hs_table_get(relid);
	PathKey    *pk;
	ListCell   *lc;

	if (list_length(root->query_pathkeys) != 1 || root->limit_tuples <= 0 ||
		root->limit_tuples > HS_SEARCH_MAX_RESULTS ||
		bms_membership(root->all_baserels) != BMS_SINGLETON ||
		root->parse->commandType != CMD_SELECT || root->parse->rowMarks != NIL ||
		!intVal(lthird(baserel->fdw_private)) || t->archived != HS_ARCHIVED_FALSE)
		return NIL;
	pk = linitial(root->query_pathkeys);
	if (pk->pk_eclass->ec_has_volatile)
		return NIL;
	/* the properties go in the body: leave room within its 3,000 characters */
	{
		Bitmapset  *attrs = NULL;
		int			chars = 0;
		int			i;

		pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
		foreach(lc, baserel->baserestrictinfo)
			pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
		if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
			return NIL;
		for (i = -1; (i = bms_next_member(attrs, i)) >= 0;)
			if (i + FirstLowInvalidHeapAttributeNumber > 0)
				chars += strlen(hs_column_property(relid, i + FirstLowInvalidHeapAttributeNumber)) + 3;
		if (chars > 1200)
			return NIL;
	}
	foreach(lc, pk->pk_eclass->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		Node	   *e = (Node *) em->em_expr;
		char	   *prop;
		Oid			opclass;

		if (!bms_equal(em->em_relids, baserel->relids) || !IsA(e, Var))
			continue;
		if ((prop = hs_search_sort_property(e, baserel, relid)) == NULL)
			return NIL;
		/* the type's own default btree order, not a user's operator class */
		opclass = GetDefaultOpClass(exprType(e), BTREE_AM_OID);
		if (!OidIsValid(opclass) || get_opclass_family(opclass) != pk->pk_opfamily)
			return NIL;
		return list_make3(makeString(prop), makeInteger(hs_pathkey_descending(pk) ? 1 : 0),
						  makeInteger(pk->pk_nulls_first ? 1 : 0));
	}
	return NIL;
}

/*
 * Joins with a local table: "key column = local column".  A nested loop
 * over a parameterized path reads, once, the keys the local table holds
 * (batch/read, 100 a call) and hands each rescan the records of its key;
 * or, when the loops are fewer than those calls, reads each loop's key
 * alone.  The join clause stays a local qual: the result is PostgreSQL's.
 */
#define HS_JOIN_MAX_KEYS 10000

typedef struct HsJoinKey
{
	int			kind;			/* 1 = record ids, 2 = values of a unique property */
	char	   *prop;
	Var		   *outer;			/* the local table's column */
	Node	   *outer_expr;		/* the same as the clause has it (maybe relabelled) */
} HsJoinKey;

/* The key lookups accept: the id column, the id_property column, a contact's email. */
static int
key_kind(HsTable *t, Oid relid, AttrNumber attno, char **prop)
{
	if (attno <= 0)
		return 0;
	*prop = hs_column_property(relid, attno);
	if (hs_is_id_column(relid, attno, *prop))
		return 1;
	if ((t->id_property && strcmp(*prop, t->id_property) == 0) ||
		(strcmp(*prop, "email") == 0 && strcmp(t->object_type, "contacts") == 0))
		return 2;
	return 0;
}

/*
 * Is the clause "key column = a column of one ordinary local table", with
 * an equality HubSpot's key compare never narrows (deterministic)?
 */
static bool
join_key(PlannerInfo *root, RelOptInfo *baserel, Oid relid, Expr *clause, HsJoinKey *k)
{
	OpExpr	   *op = (OpExpr *) clause;
	HsTable    *t = hs_table_get(relid);
	Node	   *args[2];
	int			i;

	if (!IsA(clause, OpExpr) || op->opno != TextEqualOperator || list_length(op->args) != 2 ||
		t->archived == HS_ARCHIVED_BOTH ||
		(OidIsValid(op->inputcollid) && !get_collation_isdeterministic(op->inputcollid)))
		return false;
	args[0] = linitial(op->args);
	args[1] = lsecond(op->args);
	for (i = 0; i < 2; i++)
	{
		Var		   *fv = (Var *) args[i];
		Node	   *other = args[1 - i];
		Var		   *ov;
		RangeTblEntry *rte;

		if (!IsA(fv, Var) || fv->varno != baserel->relid || fv->varlevelsup != 0)
			continue;
		while (IsA(other, RelabelType))
			other = (Node *) ((RelabelType *) other)->arg;
		ov = (Var *) other;
		if (!IsA(ov, Var) || ov->varno == baserel->relid || ov->varlevelsup != 0 ||
			ov->varattno <= 0 || ov->varno >= root->simple_rel_array_size)
			return false;
		rte = root->simple_rte_array[ov->varno];
		if (rte == NULL || rte->rtekind != RTE_RELATION ||
			(rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_MATVIEW &&
			 rte->relkind != RELKIND_PARTITIONED_TABLE))
			return false;
		if ((k->kind = key_kind(t, relid, fv->varattno, &k->prop)) == 0)
			return false;
		k->outer = ov;
		k->outer_expr = args[1 - i];
		return true;
	}
	return false;
}

/* generate_implied_equalities_for_column(): the key columns' members */
static bool
key_member(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
		   EquivalenceMember *em, void *arg)
{
	Var		   *v = (Var *) em->em_expr;
	char	   *prop;

	return IsA(v, Var) && v->varno == rel->relid && v->varlevelsup == 0 &&
		key_kind(hs_table_get(*(Oid *) arg), *(Oid *) arg, v->varattno, &prop) != 0;
}

/*
 * Read once all the keys the local table holds (when those calls are not
 * more than the loops), else each loop's key alone.  fdw_private:
 * [prefetch].
 */
static void
add_join_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	List	   *clauses = list_copy(baserel->joininfo);
	Relids		offered = NULL;
	ListCell   *lc;

	if (baserel->has_eclass_joins)
		clauses = list_concat(clauses,
							  generate_implied_equalities_for_column(root, baserel, key_member,
																	 &relid,
																	 baserel->lateral_referencers));
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		HsJoinKey	k;
		RelOptInfo *outer;
		Relids		required_outer;
		double		loops;
		double		calls;
		bool		prefetch;

		if (!join_key(root, baserel, relid, ri->clause, &k) ||
			!join_clause_is_movable_to(ri, baserel) ||
			bms_is_member(k.outer->varno, offered))
			continue;
		outer = find_base_rel(root, k.outer->varno);
		required_outer = bms_make_singleton(k.outer->varno);
		if (bms_overlap(required_outer, baserel->lateral_referencers))
			continue;
		offered = bms_add_member(offered, k.outer->varno);
		loops = Max(outer->rows, 1);
		calls = ceil(Max(outer->tuples, 1) / HS_PAGE_SIZE);
		prefetch = outer->tuples <= HS_JOIN_MAX_KEYS && calls <= loops;
		if (!prefetch)
			calls = loops;
		/*
		 * A key selects one record at most; a loop costs its share of the
		 * calls.  create_foreignscan_path() makes the join clause the path's
		 * ppi_clauses.
		 */
		add_path(baserel, (Path *)
				 hs_create_foreignscan_path(root, baserel, NULL, 1,
											0, calls * HS_CALL_COST / loops + cpu_tuple_cost,
											NIL, required_outer, NULL,
											list_make1(makeInteger(prefetch ? 1 : 0))));
	}
}

/*
 * The plan of a parameterized path: the join clause's local side becomes
 * fdw_exprs' only expression (a Param once the planner replaces the outer
 * Var); [kind, property, local table, column, with children, prefetch].
 */
static List *
join_plan(PlannerInfo *root, RelOptInfo *baserel, Oid relid, ForeignPath *best_path,
		  List *scan_clauses, List **exprs, Bitmapset **attrs)
{
	Relids		outer = best_path->path.param_info->ppi_req_outer;
	ListCell   *lc;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst(lc);
		HsJoinKey	k;
		RangeTblEntry *rte;

		if (!join_key(root, baserel, relid, ri->clause, &k) ||
			!bms_is_member(k.outer->varno, outer))
			continue;
		rte = root->simple_rte_array[k.outer->varno];
		pull_varattnos((Node *) ri->clause, baserel->relid, attrs);
		*exprs = list_make1(copyObject(k.outer_expr));
		return lappend(list_make5(makeInteger(k.kind), makeString(k.prop),
								  makeInteger((int) rte->relid), makeInteger(k.outer->varattno),
								  makeInteger(rte->inh ? 1 : 0)),
					   linitial(best_path->fdw_private));
	}
	elog(ERROR, "hubspot_fdw: the join clause of a parameterized path is missing");
	return NIL;
}

void
hsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		startup = 100;
	Cost		total = startup + intVal(lsecond(baserel->fdw_private)) * HS_CALL_COST +
		baserel->rows * cpu_tuple_cost;

	List	   *sort;

	add_path(baserel, (Path *) hs_create_foreignscan_path(root, baserel, NULL,
													   baserel->rows, startup, total,
													   NIL, NULL, NULL, NIL));
	/* the same calls, already in order: cheaper than a listing and a Sort */
	if ((sort = sort_pushdown(root, baserel, foreigntableid)) != NIL)
		add_path(baserel, (Path *) hs_create_foreignscan_path(root, baserel, NULL,
														   baserel->rows, startup, total,
														   root->query_pathkeys, NULL, NULL,
														   sort));
	add_join_paths(root, baserel, foreigntableid);
}

/* The text values of a constant: one for =, several for = ANY(array). */
List *
hs_const_text_values(Const *c)
{
	List	   *values = NIL;

	if (c->constisnull)
		return NIL;
	if (c->consttype == TEXTOID)
		return list_make1(makeString(TextDatumGetCString(c->constvalue)));
	if (c->consttype == TEXTARRAYOID)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;

		deconstruct_array(DatumGetArrayTypeP(c->constvalue), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
			if (!nulls[i])
				values = lappend(values, makeString(TextDatumGetCString(elems[i])));
	}
	return values;
}

/*
 * WHERE id = 'x', id IN (...), and the same on the id_property column (or
 * a contact's email) go to batch/read instead of listing everything:
 * [kind, values, property] where kind 1 = record ids, 2 = values of a
 * unique property; NIL when nothing applies.  The scan itself checks each
 * record it reads against the values as HubSpot compares keys (emails
 * case-insensitively), so the clause is not checked again locally: a
 * contact written as Ada@x.com is found by WHERE email = 'Ada@x.com'.
 * *clause_out is the RestrictInfo that was pushed down.
 */
static List *
lookup_clause(RelOptInfo *baserel, Oid relid, RestrictInfo **clause_out, List **exprs)
{
	HsTable    *t = hs_table_get(relid);
	ListCell   *lc;

	/* batch/read reads live or archived records, not both at once */
	if (t->archived == HS_ARCHIVED_BOTH)
		return NIL;
	foreach(lc, baserel->baserestrictinfo)
	{
		Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;
		Node	   *left = NULL;
		Node	   *right = NULL;
		Oid			opno = InvalidOid;
		char	   *prop;
		Var		   *var;
		int			kind;

		if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
		{
			opno = ((OpExpr *) clause)->opno;
			left = linitial(((OpExpr *) clause)->args);
			right = lsecond(((OpExpr *) clause)->args);
		}
		else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
		{
			opno = ((ScalarArrayOpExpr *) clause)->opno;
			left = linitial(((ScalarArrayOpExpr *) clause)->args);
			right = lsecond(((ScalarArrayOpExpr *) clause)->args);
		}
		/*
		 * A constant, or a parameter known when the scan starts: $1 of a
		 * generic plan, or id = ANY (ARRAY(SELECT ...)), an InitPlan's
		 * output, which reads a local table's keys in batches of 100.
		 */
		if (opno != TextEqualOperator || left == NULL || !IsA(left, Var) ||
			!(IsA(right, Const) ||
			  (IsA(right, Param) && (((Param *) right)->paramkind == PARAM_EXTERN ||
									 ((Param *) right)->paramkind == PARAM_EXEC) &&
			   (((Param *) right)->paramtype == TEXTOID ||
				((Param *) right)->paramtype == TEXTARRAYOID))) ||
			((Var *) left)->varno != baserel->relid)
			continue;
		var = (Var *) left;
		prop = hs_column_property(relid, var->varattno);
		if (hs_is_id_column(relid, var->varattno, prop))
			kind = 1;
		else if ((t->id_property && strcmp(prop, t->id_property) == 0) ||
				 (strcmp(prop, "email") == 0 && strcmp(t->object_type, "contacts") == 0))
			kind = 2;
		else
			continue;
		*clause_out = (RestrictInfo *) lfirst(lc);
		if (IsA(right, Param))
		{
			*exprs = lappend(*exprs, right);
			return list_make4(makeInteger(kind), NIL, makeString(prop),
							  makeInteger(list_length(*exprs) - 1));
		}
		return list_make4(makeInteger(kind), hs_const_text_values((Const *) right), makeString(prop),
						  makeInteger(-1));
	}
	return NIL;
}

ForeignScan *
hsGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	Bitmapset  *attrs = NULL;
	List	   *used = NIL;
	List	   *filters = NIL;
	List	   *exprs = NIL;
	List	   *sort = NIL;
	List	   *lookup = NIL;
	List	   *join = NIL;
	RestrictInfo *pushed = NULL;
	ListCell   *lc;
	int			i;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
	/* a join's keys: the local table's values, read once or loop by loop */
	if (best_path->path.param_info != NULL)
		join = join_plan(root, baserel, foreigntableid, best_path, scan_clauses, &exprs, &attrs);
	/* a whole-row reference (attno 0) needs every column */
	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
		attrs = NULL, used = lappend_int(used, 0);
	for (i = -1; (i = bms_next_member(attrs, i)) >= 0;)
	{
		int			attno = i + FirstLowInvalidHeapAttributeNumber;

		if (attno > 0)
			used = lappend_int(used, attno);
	}
	/* a sorted path: HubSpot's search applies every clause and the order */
	/* a join's reads: every clause is checked here, the join's too */
	if (join != NIL)
		sort = NIL;
	else if (best_path->fdw_private != NIL)
	{
		sort = best_path->fdw_private;
		filters = hs_search_filters(root, baserel, foreigntableid, &exprs, NULL);
	}
	else if ((lookup = lookup_clause(baserel, foreigntableid, &pushed, &exprs)) != NIL)
		scan_clauses = list_delete_ptr(list_copy(scan_clauses), pushed);
	else
		filters = hs_search_filters(root, baserel, foreigntableid, &exprs, NULL);
	/* search filters select a superset: every clause is still checked here */
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, exprs,
							lappend(list_make5(used, lookup, filters,
											   linitial(baserel->fdw_private), sort),
									join),
							NIL, NIL, outer_plan);
}

/* The list query and the JSON array of the properties asked for. */
static void
build_queries(HsScanState *st)
{
	StringInfoData props;
	StringInfoData json;
	ListCell   *lc;

	initStringInfo(&props);
	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	foreach(lc, st->names)
	{
		appendStringInfo(&props, "%s%s", props.len ? "," : "", (char *) lfirst(lc));
		if (json.len > 1)
			appendStringInfoChar(&json, ',');
		escape_json(&json, lfirst(lc));
	}
	st->wide = props.len > HS_MAX_QUERY_PROPS;
	st->base_query = psprintf("limit=%d%s%s", HS_PAGE_SIZE,
							  props.len && !st->wide ? "&properties=" : "",
							  st->wide ? "" : props.data);
	appendStringInfoChar(&json, ']');
	st->props_json = json.data;
}

static bool
is_mapped(HsScanState *st, const char *name, int len)
{
	ListCell   *lc;

	foreach(lc, st->mapped)
		if (strncmp(lfirst(lc), name, len) == 0 && ((char *) lfirst(lc))[len] == '\0')
			return true;
	return false;
}

/*
 * The catch-all column holds every property no column maps, so all of the
 * type's properties are asked for (by name: HubSpot returns only the
 * properties asked for).  A long list makes the scan wide: its names go in
 * batch/read bodies, never in a URL.
 */
static void
add_unmapped_properties(HsScanState *st)
{
	ListCell   *lc;

	foreach(lc, hs_property_names(st->server, st->token, st->table->object_type))
		if (!is_mapped(st, lfirst(lc), strlen(lfirst(lc))))
			st->names = lappend(st->names, lfirst(lc));
	build_queries(st);
}

static void
map_columns(HsScanState *st, Relation rel, List *used)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		all = used != NIL && linitial_int(used) == 0;
	int			i;

	st->natts = desc->natts;
	st->props = palloc0(sizeof(char *) * desc->natts);
	st->is_id = palloc0(sizeof(bool) * desc->natts);
	st->is_extra = palloc0(sizeof(bool) * desc->natts);
	st->in = palloc0(sizeof(FmgrInfo) * desc->natts);
	st->ioparam = palloc0(sizeof(Oid) * desc->natts);
	st->types = palloc0(sizeof(Oid) * desc->natts);
	for (i = 0; i < desc->natts; i++)
		st->types[i] = TupleDescAttr(desc, i)->atttypid;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			infn;

		if (att->attisdropped || (!all && !list_member_int(used, i + 1)))
			continue;
		st->props[i] = hs_column_property(RelationGetRelid(rel), i + 1);
		st->is_id[i] = hs_is_id_column(RelationGetRelid(rel), i + 1, st->props[i]);
		st->is_extra[i] = att->atttypid == JSONBOID &&
			GetForeignColumnOptions(RelationGetRelid(rel), i + 1) == NIL;
		getTypeInputInfo(att->atttypid, &infn, &st->ioparam[i]);
		fmgr_info(infn, &st->in[i]);
		if (!st->is_id[i] && !st->is_extra[i])
			st->names = lappend(st->names, st->props[i]);
		st->has_extra |= st->is_extra[i];
	}
	/* every column maps a property, used or not; the id column hs_object_id */
	for (i = 0; st->has_extra && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *prop;

		if (att->attisdropped)
			continue;
		prop = hs_column_property(RelationGetRelid(rel), i + 1);
		if (hs_is_id_column(RelationGetRelid(rel), i + 1, prop))
			prop = "hs_object_id";
		else if (att->atttypid == JSONBOID &&
				 GetForeignColumnOptions(RelationGetRelid(rel), i + 1) == NIL)
			continue;
		st->mapped = lappend(st->mapped, prop);
	}
	build_queries(st);
}

void
hsBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fs = (ForeignScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	HsScanState *st = palloc0(sizeof(HsScanState));
	Oid			userid;

	node->fdw_state = st;
	st->scancxt = CurrentMemoryContext;
	st->pagecxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "hubspot_fdw page",
										ALLOCSET_DEFAULT_SIZES);
	st->paramcxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt, "hubspot_fdw values",
										 ALLOCSET_SMALL_SIZES);
	st->relid = RelationGetRelid(rel);
	st->table = hs_table_get(RelationGetRelid(rel));
	st->server = hs_server_get(GetForeignTable(RelationGetRelid(rel))->serverid);
	map_columns(st, rel, linitial(fs->fdw_private));
	st->lookup_param = -1;
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
	{
		userid = hs_scan_user(fs, node->ss.ps.state);
		st->token = hs_token_get(st->server->serverid, userid);
		if (st->has_extra)
			add_unmapped_properties(st);
	}
	if (lsecond(fs->fdw_private) != NIL)
	{
		List	   *lookup = lsecond(fs->fdw_private);

		st->is_lookup = true;
		st->lookup_by_key = intVal(linitial(lookup)) == 2;
		st->lookup = st->lookup_consts = lsecond(lookup);
		st->lookup_property = strVal(lthird(lookup));
		st->lookup_param = intVal(lfourth(lookup));
	}
	st->plan_filters = st->filters = lthird(fs->fdw_private);
	st->estimate_source = strVal(lfourth(fs->fdw_private));
	if (list_nth(fs->fdw_private, 4) != NIL)
	{
		List	   *sort = list_nth(fs->fdw_private, 4);

		st->sort_prop = strVal(linitial(sort));
		st->sort_desc = intVal(lsecond(sort)) != 0;
		st->sort_nulls_first = intVal(lthird(sort)) != 0;
	}
	if (list_nth(fs->fdw_private, 5) != NIL)
	{
		List	   *join = list_nth(fs->fdw_private, 5);

		st->is_join = true;
		st->lookup_by_key = intVal(linitial(join)) == 2;
		st->lookup_property = strVal(lsecond(join));
		st->join_relid = (Oid) intVal(lthird(join));
		st->join_attnum = intVal(lfourth(join));
		st->join_inh = intVal(list_nth(join, 4)) != 0;
		st->join_prefetch = intVal(list_nth(join, 5)) != 0;
		st->joincxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt,
											"hubspot_fdw join keys", ALLOCSET_DEFAULT_SIZES);
	}
	st->archived_pass = st->table->archived == HS_ARCHIVED_TRUE;
	/* search never returns archived records */
	if (st->wide || st->table->archived != HS_ARCHIVED_FALSE)
		st->plan_filters = st->filters = NIL;
	st->exprstates = ExecInitExprList(fs->fdw_exprs, (PlanState *) node);
}

/*
 * Search pages by keyset: the next page is the records above the last id
 * of this one (HubSpot sorts them by hs_object_id), so paging is never cut
 * at HubSpot's 10,000 results and never repeats or skips a record.  A page
 * with paging.next has more after it; a short page may still (HubSpot says
 * so), so only the absence of paging ends the scan.
 */
static void
keyset_next(HsScanState *st, JsonbValue *paging)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&st->page->root, "results", &v);
	JsonbValue *last = getIthJsonbValueFromContainer(results->val.binary.data, st->count - 1);
	JsonbValue	iv;
	char	   *id = last->type == jbvBinary ?
		hs_jsonb_scalar_text(hs_jsonb_get(last->val.binary.data, "id", &iv)) : NULL;

	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("HubSpot's search answer for server \"%s\" holds a record without an id",
						st->server->servername)));
	st->last_id = MemoryContextStrdup(st->scancxt, id);
	st->done = st->after == NULL;
	st->after = NULL;
}

/* A wide table's page: the listed ids' properties, by batch/read. */
static void
read_page(HsScanState *st)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&st->page->root, "results", &v);
	HsInput   **ins = palloc(sizeof(HsInput *) * st->count);
	HsJob	   *job;
	int			i;

	for (i = 0; i < st->count; i++)
	{
		JsonbValue *item = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbValue	iv;
		HsInput    *in = palloc0(sizeof(HsInput));

		if (item->type == jbvBinary)
			in->id = hs_jsonb_scalar_text(hs_jsonb_get(item->val.binary.data, "id", &iv));
		if (in->id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("HubSpot's list answer for server \"%s\" holds a record without an id",
							st->server->servername)));
		in->key = hs_record_key(NULL, in->id);
		in->trace = psprintf("%d", i + 1);
		ins[i] = in;
	}
	job = hs_job_new(st->server, st->token, st->table->object_type, HS_OP_READ, ins, st->count);
	job->read_extra = psprintf("\"properties\":%s", st->props_json);
	hs_dispatch(&job, 1, true, NULL);
	hs_job_raise(job);
	st->wide_results = palloc0(sizeof(Jsonb *) * st->count);
	/* a record archived between the two calls is simply absent */
	for (i = 0; i < st->count; i++)
		st->wide_results[i] = job->out[i].result;
}

static bool
fetch_page(HsScanState *st)
{
	JsonbValue	v;
	JsonbValue *jv;
	char	   *query = st->base_query;
	char	   *url;
	char	   *after = st->after;
	MemoryContext old;

	if (st->done)
		return false;
	/* the cursor lives in the page about to be freed: keep it for this call */
	if (after)
		after = pstrdup(after);
	MemoryContextReset(st->pagecxt);
	old = MemoryContextSwitchTo(st->pagecxt);
	st->after = after;
	if (st->after)
	{
		char	   *e = curl_easy_escape(NULL, st->after, 0);

		query = psprintf("%s&after=%s", st->base_query, e);
		curl_free(e);
	}
	if (st->sort_prop)
	{
		if (st->sort_offset >= HS_SEARCH_MAX_RESULTS)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("HubSpot's search for server \"%s\" returns at most %d records in one order",
							st->server->servername, HS_SEARCH_MAX_RESULTS),
					 errhint("The records changed during the scan; run the query again.")));
		st->page = hs_call_read(st->server, st->token,
								hs_api_search_url(st->server, st->table->object_type),
								hs_search_sorted_body(st->filters, st->props_json, st->sort_prop,
													  st->sort_desc,
													  st->sort_pass == (st->sort_nulls_first ? 1 : 0),
													  st->sort_offset), true);
	}
	else if (st->filters != NIL)
		st->page = hs_call_read(st->server, st->token,
								hs_api_search_url(st->server, st->table->object_type),
								hs_search_body(st->filters, st->props_json, st->last_id), true);
	else
	{
		if (st->archived_pass)
			query = psprintf("%s&archived=true", query);
		url = hs_api_list_url(st->server, st->table->object_type, query);
		st->page = hs_call_get(st->server, st->token, url);
	}
	/* a search's first page tells how many records its filters select */
	if (st->filters != NIL && st->last_id == NULL && st->sort_prop == NULL)
	{
		jv = hs_jsonb_get(&st->page->root, "total", &v);
		if (jv && jv->type == jbvNumeric)
			learn_rows(st->server->serverid, st->relid, hs_search_describe(st->plan_filters),
					   DatumGetFloat8(DirectFunctionCall1(numeric_float8,
														  NumericGetDatum(jv->val.numeric))));
	}
	jv = hs_jsonb_get(&st->page->root, "results", &v);
	st->count = (jv && jv->type == jbvBinary && JsonContainerIsArray(jv->val.binary.data)) ?
		JsonContainerSize(jv->val.binary.data) : 0;
	st->pos = 0;
	st->after = NULL;
	jv = hs_jsonb_get(&st->page->root, "paging", &v);
	if (jv && jv->type == jbvBinary)
	{
		JsonbValue	nv;
		JsonbValue *next = hs_jsonb_get(jv->val.binary.data, "next", &nv);

		if (next && next->type == jbvBinary)
			st->after = hs_jsonb_scalar_text(hs_jsonb_get(next->val.binary.data, "after", &v));
	}
	st->done = st->after == NULL;
	/* archived 'both': the live records, then the archived ones */
	if (st->done && !st->archived_pass && st->filters == NIL &&
		st->table->archived == HS_ARCHIVED_BOTH)
	{
		st->archived_pass = true;
		st->done = false;
	}
	/* sorted: "after" is an offset within the pass; then the other pass */
	if (st->sort_prop)
	{
		int			next = 0;

		if (st->after)
		{
			char	   *end;
			long		n = strtol(st->after, &end, 10);

			/* an offset that does not move on would read the same page forever */
			if (*end != '\0' || end == st->after || n <= st->sort_offset || n > INT_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("HubSpot's search answer for server \"%s\" holds an invalid paging offset \"%s\"",
								st->server->servername, st->after)));
			next = (int) n;
		}
		st->sort_offset = next;
		if (st->done && st->sort_pass == 0)
			st->sort_pass = 1, st->done = false;
		st->after = NULL;
		if (!st->done)
			st->after = "";		/* not the end: fetch_page continues by offset */
		st->learn_list = false;
	}
	st->listed += st->count;
	if (st->done && st->learn_list)
		learn_rows(st->server->serverid, st->relid, "", st->listed);
	if (st->filters != NIL && st->count > 0 && st->sort_prop == NULL)
		keyset_next(st, jv);
	if (st->wide && st->count > 0)
		read_page(st);
	MemoryContextSwitchTo(old);
	/* an empty page that is not the last (or the end of the live pass) */
	if (st->count == 0 && !st->done)
		return fetch_page(st);
	return st->count > 0;
}

/*
 * The catch-all value: the record's properties that no column maps, as
 * HubSpot sent them.  Properties without a value (null, or "" once
 * cleared) are left out, as a write of null clears them: only what the
 * record holds is shown.
 */
static Datum
extra_value(HsScanState *st, JsonbContainer *props)
{
	HsJsonbBuild b = {0};
	JsonbIterator *it = JsonbIteratorInit(props);
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken tok;

	hs_push_jsonb_value(&b, WJB_BEGIN_OBJECT, NULL);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (v.type == jbvNull || (v.type == jbvString && v.val.string.len == 0) ||
			is_mapped(st, k.val.string.val, k.val.string.len))
			continue;
		hs_push_jsonb_value(&b, WJB_KEY, &k);
		hs_push_jsonb_value(&b, WJB_VALUE, &v);
	}
	return JsonbPGetDatum(JsonbValueToJsonb(hs_push_jsonb_value(&b, WJB_END_OBJECT, NULL)));
}

static void
fill_slot(HsScanState *st, JsonbContainer *obj, TupleTableSlot *slot)
{
	JsonbValue	pv;
	JsonbValue *props = hs_jsonb_get(obj, "properties", &pv);
	int			i;

	for (i = 0; i < st->natts; i++)
	{
		JsonbValue	v;
		char	   *text = NULL;

		slot->tts_isnull[i] = true;
		if (st->props[i] == NULL)
			continue;
		if (st->is_extra[i] && props && props->type == jbvBinary &&
			JsonContainerIsObject(props->val.binary.data))
		{
			slot->tts_values[i] = extra_value(st, props->val.binary.data);
			slot->tts_isnull[i] = false;
			continue;
		}
		if (st->is_id[i])
			text = hs_jsonb_scalar_text(hs_jsonb_get(obj, "id", &v));
		else if (props && props->type == jbvBinary)
			text = hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data, st->props[i], &v));
		if (text == NULL || (text[0] == '\0' && st->types[i] != TEXTOID))
			continue;
		slot->tts_values[i] = hs_value_from_text(text, st->types[i], -1, &st->in[i], st->ioparam[i]);
		slot->tts_isnull[i] = false;
	}
}

/*
 * Pushed-down lookup: one batch/read job for the values, each record once
 * (Ada@x.com and ada@x.com are one contact).
 */
static void
run_lookup(HsScanState *st)
{
	int			n = list_length(st->lookup);
	HsInput   **ins = palloc(sizeof(HsInput *) * n);
	const char *prop = st->lookup_by_key ? st->lookup_property : NULL;
	HTAB	   *seen = hs_key_table("hubspot_fdw lookup keys", n, sizeof(char *));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, st->lookup)
	{
		HsInput    *in = palloc0(sizeof(HsInput));
		bool		found;

		in->id = strVal(lfirst(lc));
		in->id_property = (char *) prop;
		in->key = hs_record_key(in->id_property, in->id);
		in->trace = psprintf("%d", i + 1);
		hash_search(seen, &in->key, HASH_ENTER, &found);
		if (!found)
			ins[i++] = in;
	}
	st->read = hs_job_new(st->server, st->token, st->table->object_type, HS_OP_READ, ins, i);
	st->read->read_extra = psprintf("\"properties\":%s", st->props_json);
	st->read->read_archived = st->table->archived == HS_ARCHIVED_TRUE;
	if (prop && strstr(st->props_json, psprintf("\"%s\"", prop)) == NULL)
		st->read->read_extra = psprintf("\"properties\":[\"%s\"%s%s", prop,
										strlen(st->props_json) > 2 ? "," : "",
										st->props_json + 1);
	hs_dispatch(&st->read, 1, true, NULL);
	hs_job_raise(st->read);
	st->read_pos = 0;
}

/* Does a record read by key hold that key, as HubSpot compares keys? */
static bool
lookup_matches(HsScanState *st, Jsonb *result)
{
	JsonbValue	v;
	JsonbValue *props;
	char	   *value;
	ListCell   *lc;

	if (!st->lookup_by_key)
		return true;
	props = hs_jsonb_get(&result->root, "properties", &v);
	if (props == NULL || props->type != jbvBinary)
		return false;
	value = hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data, st->lookup_property, &v));
	foreach(lc, st->lookup)
		if (hs_key_equal(st->lookup_property, value, strVal(lfirst(lc))))
			return true;
	return false;
}

/*
 * A join's keys: the records read for each key, as HubSpot compares keys
 * (Ada@x.com and ada@x.com are one); keys read and absent have none.
 */
typedef struct JoinEntry
{
	char	   *key;
	List	   *records;		/* Jsonb * */
} JoinEntry;

/* The key, as HubSpot compares keys, of a value of the join's column. */
static char *
join_key_of(HsScanState *st, const char *value)
{
	return hs_record_key(st->lookup_by_key ? st->lookup_property : NULL, value);
}

/* Read the values (batch/read, 100 a call) into the cache, in its context. */
static void
join_read(HsScanState *st, List *values)
{
	MemoryContext old = MemoryContextSwitchTo(st->joincxt);
	ListCell   *lc;
	int			i;

	st->lookup = values;
	run_lookup(st);
	foreach(lc, values)
	{
		char	   *key = join_key_of(st, strVal(lfirst(lc)));
		JoinEntry  *e = hash_search(st->join_cache, &key, HASH_ENTER, NULL);

		e->records = NIL;
	}
	for (i = 0; i < st->read->n; i++)
	{
		Jsonb	   *r = st->read->out[i].result;
		JsonbValue	v;
		JsonbValue *props;
		char	   *value = NULL;
		char	   *key;
		JoinEntry  *e;
		bool		found;

		if (r == NULL)
			continue;
		if (!st->lookup_by_key)
			value = hs_jsonb_scalar_text(hs_jsonb_get(&r->root, "id", &v));
		else if ((props = hs_jsonb_get(&r->root, "properties", &v)) != NULL &&
				 props->type == jbvBinary)
			value = hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data,
													  st->lookup_property, &v));
		/* a record found by another of its keys holds none of those asked for */
		if (value == NULL)
			continue;
		key = join_key_of(st, value);
		e = hash_search(st->join_cache, &key, HASH_ENTER, &found);
		if (!found)
			e->records = NIL;
		e->records = lappend(e->records, r);
	}
	st->lookup = NIL;
	st->read = NULL;
	MemoryContextSwitchTo(old);
}

/*
 * The local table's keys, read as the current user (privileges and row
 * security apply: the query reads that column already), or NIL with
 * *complete false when there are more than HS_JOIN_MAX_KEYS or the user
 * may not read the whole column.
 */
static List *
join_outer_keys(HsScanState *st, bool *complete)
{
	Oid			relid = st->join_relid;
	const char *col;
	char	   *sql;
	List	   *keys = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	*complete = false;
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, st->join_attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return NIL;
	col = quote_identifier(get_attname(relid, st->join_attnum, false));
	sql = psprintf("SELECT DISTINCT (%s)::pg_catalog.text COLLATE pg_catalog.\"C\" FROM %s%s "
				   "WHERE %s IS NOT NULL LIMIT %d",
				   col, st->join_inh ? "" : "ONLY ",
				   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid)),
				   col, HS_JOIN_MAX_KEYS + 1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "hubspot_fdw: SPI_connect failed");
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "hubspot_fdw: could not read the keys of a join: %s", sql);
	if (SPI_processed <= HS_JOIN_MAX_KEYS)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
										  &isnull);

			CHECK_FOR_INTERRUPTS();
			if (!isnull)
				keys = lappend(keys, makeString(TextDatumGetCString(d)));
		}
		MemoryContextSwitchTo(old);
		*complete = true;
	}
	SPI_finish();
	return keys;
}

/* The records of this rescan's value of the local column. */
static List *
join_records(HsScanState *st, const char *value)
{
	char	   *key;
	JoinEntry  *e;

	if (!st->join_started)
	{
		MemoryContext old = MemoryContextSwitchTo(st->joincxt);

		st->join_started = true;
		st->join_cache = hs_key_table("hubspot_fdw join keys", 256, sizeof(JoinEntry));
		if (st->join_prefetch)
		{
			bool		complete;
			List	   *keys = join_outer_keys(st, &complete);

			st->join_prefetch = complete;
			if (keys != NIL)
				join_read(st, keys);
		}
		MemoryContextSwitchTo(old);
	}
	/* each loop's key alone: the loops' values only live for the loop */
	if (!st->join_prefetch)
	{
		List	   *records = NIL;
		MemoryContext old;
		int			i;

		MemoryContextReset(st->pagecxt);
		old = MemoryContextSwitchTo(st->pagecxt);
		st->lookup = list_make1(makeString(pstrdup(value)));
		run_lookup(st);
		for (i = 0; i < st->read->n; i++)
			if (st->read->out[i].result != NULL &&
				lookup_matches(st, st->read->out[i].result))
				records = lappend(records, st->read->out[i].result);
		MemoryContextSwitchTo(old);
		return records;
	}
	key = join_key_of(st, value);
	if ((e = hash_search(st->join_cache, &key, HASH_FIND, NULL)) != NULL)
		return e->records;
	/* a key the local table did not hold when it was read: alone, once */
	join_read(st, list_make1(makeString(MemoryContextStrdup(st->joincxt, value))));
	e = hash_search(st->join_cache, &key, HASH_FIND, NULL);
	return e ? e->records : NIL;
}

static TupleTableSlot *
iterate_join(ForeignScanState *node, HsScanState *st, TupleTableSlot *slot)
{
	Jsonb	   *r;

	if (!st->resolved)
	{
		MemoryContext old;
		bool		isnull;
		Datum		d;

		MemoryContextReset(st->paramcxt);
		old = MemoryContextSwitchTo(st->paramcxt);
		d = ExecEvalExpr(linitial(st->exprstates), node->ss.ps.ps_ExprContext, &isnull);
		st->join_rows = isnull ? NIL : join_records(st, TextDatumGetCString(d));
		st->join_pos = 0;
		st->resolved = true;
		MemoryContextSwitchTo(old);
	}
	if (st->join_pos >= list_length(st->join_rows))
		return slot;
	r = list_nth(st->join_rows, st->join_pos++);
	fill_slot(st, &r->root, slot);
	ExecStoreVirtualTuple(slot);
	return slot;
}

static TupleTableSlot *
iterate_lookup(HsScanState *st, TupleTableSlot *slot)
{
	if (st->read == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(st->pagecxt);

		run_lookup(st);
		MemoryContextSwitchTo(old);
	}
	/* inputs HubSpot does not know (OBJECT_NOT_FOUND) are simply absent */
	while (st->read_pos < st->read->n &&
		   (st->read->out[st->read_pos].result == NULL ||
			!lookup_matches(st, st->read->out[st->read_pos].result)))
		st->read_pos++;
	if (st->read_pos >= st->read->n)
		return slot;
	fill_slot(st, &st->read->out[st->read_pos++].result->root, slot);
	ExecStoreVirtualTuple(slot);
	return slot;
}

/*
 * Evaluate the runtime values ($1, an InitPlan's output) now that the
 * executor knows them; the first Iterate of each (re)scan does it, not
 * Begin, because an InitPlan of this node is set up after Begin.
 */
static void
resolve_runtime(ForeignScanState *node, HsScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old;

	MemoryContextReset(st->paramcxt);
	old = MemoryContextSwitchTo(st->paramcxt);
	st->lookup = st->lookup_consts;
	if (st->lookup_param >= 0)
	{
		ExprState  *es = list_nth(st->exprstates, st->lookup_param);
		bool		isnull;
		Datum		d = ExecEvalExpr(es, econtext, &isnull);

		st->lookup = NIL;
		if (!isnull)
		{
			Const	   *c = makeConst(exprType((Node *) es->expr), -1, InvalidOid, -1, d,
									  false, false);

			st->lookup = hs_const_text_values(c);
		}
	}
	st->filters = hs_search_resolve(st->plan_filters, st->exprstates, econtext);
	/* a body HubSpot would refuse: list instead (every clause is checked here) */
	if (st->filters != NIL &&
		strlen(hs_search_body(st->filters, st->props_json, "0")) > HS_SEARCH_MAX_BODY)
		st->filters = NIL;
	st->learn_list = !st->is_lookup && st->filters == NIL;
	st->listed = 0;
	st->resolved = true;
	MemoryContextSwitchTo(old);
}

TupleTableSlot *
hsIterateForeignScan(ForeignScanState *node)
{
	HsScanState *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	TupleDesc	desc = slot->tts_tupleDescriptor;
	JsonbValue	v;
	JsonbValue *results;
	JsonbValue *item;

	ExecClearTuple(slot);
	if (!st->resolved && !st->is_join)
		resolve_runtime(node, st);
	if (st->is_join)
		return iterate_join(node, st, slot);
	if (st->is_lookup)
		return st->lookup == NIL ? slot : iterate_lookup(st, slot);
	if (st->done && st->page == NULL)
		return slot;
	if (st->page == NULL || st->pos >= st->count)
		if (!fetch_page(st))
			return slot;
	if (st->wide)
	{
		while (st->pos < st->count && st->wide_results[st->pos] == NULL)
			st->pos++;
		if (st->pos >= st->count)
			return hsIterateForeignScan(node);
		fill_slot(st, &st->wide_results[st->pos++]->root, slot);
		ExecStoreVirtualTuple(slot);
		return slot;
	}
	results = hs_jsonb_get(&st->page->root, "results", &v);
	item = getIthJsonbValueFromContainer(results->val.binary.data, st->pos++);
	if (item->type == jbvBinary)
		fill_slot(st, item->val.binary.data, slot);
	else
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	ExecStoreVirtualTuple(slot);
	return slot;
}

void
hsReScanForeignScan(ForeignScanState *node)
{
	HsScanState *st = node->fdw_state;

	st->page = NULL;
	st->after = NULL;
	st->last_id = NULL;
	st->archived_pass = st->table->archived == HS_ARCHIVED_TRUE;
	st->done = false;
	st->pos = st->count = 0;
	st->read_pos = 0;
	st->sort_pass = st->sort_offset = 0;
	st->resolved = false;
	/* the values may have changed: read them again */
	if (st->lookup_param >= 0)
		st->read = NULL;
}

void
hsEndForeignScan(ForeignScanState *node)
{
}

void
hsExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	HsScanState *st = node->fdw_state;

	char	   *url;

	if (es->verbose)
	{
		ExplainPropertyText("HubSpot properties", st->props_json, es);
		ExplainPropertyText("HubSpot estimate", st->estimate_source, es);
	}
	/* the path only: the host is the server's business, not the plan's */
	if (st->is_join)
	{
		url = hs_api_batch_url(st->server, st->table->object_type, HS_OP_READ,
							   st->table->archived == HS_ARCHIVED_TRUE);
		ExplainPropertyText("HubSpot call",
							psprintf(st->join_prefetch ?
									 "POST %s (%s values of the keys of %s.%s, read once, 100 a call)" :
									 "POST %s (%s value of each loop's %s.%s, 1 a call)",
									 url + strlen(st->server->api_url),
									 st->lookup_by_key ? st->lookup_property : "id",
									 get_rel_name(st->join_relid),
									 get_attname(st->join_relid, st->join_attnum, false)),
							es);
		return;
	}
	if (st->is_lookup && st->lookup_param >= 0 && !st->resolved)
	{
		url = hs_api_batch_url(st->server, st->table->object_type, HS_OP_READ,
							   st->table->archived == HS_ARCHIVED_TRUE);
		ExplainPropertyText("HubSpot call",
							psprintf("POST %s (%s values of a parameter, 100 a call)",
									 url + strlen(st->server->api_url),
									 st->lookup_by_key ? st->lookup_property : "id"), es);
		return;
	}
	if (st->is_lookup)
	{
		url = hs_api_batch_url(st->server, st->table->object_type, HS_OP_READ,
							   st->table->archived == HS_ARCHIVED_TRUE);
		ExplainPropertyText("HubSpot call",
							psprintf("POST %s (%d %s%s)", url + strlen(st->server->api_url),
									 list_length(st->lookup),
									 st->lookup_by_key ? st->lookup_property : "id",
									 list_length(st->lookup) > 1 ? " values" : ""), es);
		return;
	}
	if (st->sort_prop)
	{
		url = hs_api_search_url(st->server, st->table->object_type);
		ExplainPropertyText("HubSpot call",
							psprintf("POST %s (%s%ssorted by %s %s, NULLS %s; pages of %d)",
									 url + strlen(st->server->api_url),
									 hs_search_describe(st->filters), st->filters ? "; " : "",
									 st->sort_prop, st->sort_desc ? "DESC" : "ASC",
									 st->sort_nulls_first ? "FIRST" : "LAST", HS_SEARCH_PAGE), es);
		return;
	}
	if (st->filters != NIL)
	{
		url = hs_api_search_url(st->server, st->table->object_type);
		ExplainPropertyText("HubSpot call",
							psprintf("POST %s (%s; pages of %d by hs_object_id)",
									 url + strlen(st->server->api_url),
									 hs_search_describe(st->filters), HS_SEARCH_PAGE), es);
		return;
	}
	url = hs_api_list_url(st->server, st->table->object_type,
						  st->table->archived == HS_ARCHIVED_TRUE ?
						  psprintf("%s&archived=true", st->base_query) : st->base_query);
	ExplainPropertyText("HubSpot call",
						psprintf("GET %s%s%s", url + strlen(st->server->api_url),
								 st->table->archived == HS_ARCHIVED_BOTH ?
								 ", then the same with archived=true" : "",
								 st->wide ? ", then POST batch/read of each page's ids (properties in the body)" : ""),
						es);
}
