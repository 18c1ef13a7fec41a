/*-------------------------------------------------------------------------
 * assoc_table.c
 *		Foreign tables of associations (from_type, to_type).
 *
 * A row is one association between a record of from_type and one of
 * to_type: its key columns (OPTIONS (side 'from'|'to', property ...))
 * name the records, by record id (property 'hs_object_id') or by a
 * property's value; an optional "label" column names the label (NULL:
 * the default, unlabelled association).  INSERT and DELETE queue
 * associate and dissociate rows (sent after COMMIT, after the records'
 * own writes).  SELECT reads every from record's associations: the from
 * records are listed, their associations read 1,000 records a call, the
 * to records' keys read 100 a call; WHERE clauses are checked locally.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_operator.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "assoc.h"
#include "assoc_table.h"
#include "dispatch.h"
#include "keys.h"
#include "scan.h"

/* the first element of an association scan's fdw_private */
#define HS_ASSOC_SCAN_TAG "hubspot_fdw association scan"

/* Which columns of an association table are what. */
struct HsAssocColumns
{
	int			side_att[2];	/* attno of the from / to key column */
	char	   *side_prop[2];	/* its property; NULL: record id */
	int			label_att;		/* 0: no label column */
};

static void
assoc_columns(Relation rel, HsAssocColumns *c)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	int			i;

	memset(c, 0, sizeof(*c));
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		int			side;

		if (att->attisdropped)
			continue;
		side = hs_column_side(relid, i);
		if (side >= 0)
		{
			char	   *prop = hs_column_property(relid, i);

			if (c->side_att[side] != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("association table \"%s\" has two columns with side '%s'",
								RelationGetRelationName(rel), side ? "to" : "from")));
			c->side_att[side] = i;
			c->side_prop[side] = strcmp(prop, "hs_object_id") == 0 ? NULL : prop;
		}
		else if (strcmp(NameStr(att->attname), "label") == 0)
			c->label_att = i;
	}
	for (i = 0; i < 2; i++)
		if (c->side_att[i] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("association table \"%s\" has no column with side '%s'",
							RelationGetRelationName(rel), i ? "to" : "from"),
					 errhint("Give one key column OPTIONS (side '%s', property '...').",
							 i ? "to" : "from")));
}

static char *
column_text(TupleTableSlot *slot, int attno)
{
	Oid			out;
	bool		varlena;

	if (slot->tts_isnull[attno - 1])
		return NULL;
	getTypeOutputInfo(TupleDescAttr(slot->tts_tupleDescriptor, attno - 1)->atttypid,
					  &out, &varlena);
	return OidOutputFunctionCall(out, slot->tts_values[attno - 1]);
}

/* The columns of an association table, looked up once per statement. */
HsAssocColumns *
hs_assoc_columns(Relation rel)
{
	HsAssocColumns *c = palloc(sizeof(HsAssocColumns));

	assoc_columns(rel, c);
	return c;
}

/* The association an INSERTed or DELETEd row names. */
HsAssoc *
hs_assoc_of_row(HsTable *t, Relation rel, HsAssocColumns *c, TupleTableSlot *slot, HsOp op)
{
	char	   *v[2];
	int			s;

	slot_getallattrs(slot);
	for (s = 0; s < 2; s++)
	{
		v[s] = column_text(slot, c->side_att[s]);
		if (v[s] == NULL || v[s][0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("column \"%s\" of \"%s\" must name the %s record",
							NameStr(TupleDescAttr(slot->tts_tupleDescriptor, c->side_att[s] - 1)->attname),
							RelationGetRelationName(rel), s ? "to" : "from")));
	}
	return hs_make_assoc(op, t->from_type, t->to_type, c->side_prop[0], v[0], c->side_prop[1], v[1],
						 c->label_att ? column_text(slot, c->label_att) : NULL,
						 psprintf("a row of \"%s\"", RelationGetRelationName(rel)));
}

/* ------------------------------------------------------------------------
 * SELECT
 * ------------------------------------------------------------------------
 */
bool
hs_assoc_scan_plan(ForeignScan *fs)
{
	Node	   *first = fs->fdw_private ? linitial(fs->fdw_private) : NULL;

	return first && IsA(first, String) && strcmp(strVal(first), HS_ASSOC_SCAN_TAG) == 0;
}

void
hs_assoc_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	baserel->rows = 1000;
}

void
hs_assoc_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	/* a listing of every from record and a read per 1,000 of them */
	Cost		startup = 1000;
	Cost		total = startup + baserel->rows * 20;

	add_path(baserel, (Path *) hs_create_foreignscan_path(root, baserel, NULL,
													   baserel->rows, startup, total,
													   NIL, NULL, NULL, NIL));
}

/*
 * WHERE from_column = 'x' (or IN (...)) on a text column: only those from
 * records are read, not every one.  The clause stays a local filter.
 */
static List *
from_values(RelOptInfo *baserel, int from_att, bool *found)
{
	ListCell   *lc;

	*found = false;
	foreach(lc, baserel->baserestrictinfo)
	{
		Expr	   *e = ((RestrictInfo *) lfirst(lc))->clause;
		Node	   *l;
		Node	   *r;
		Oid			opno;

		if (IsA(e, OpExpr) && list_length(((OpExpr *) e)->args) == 2)
		{
			opno = ((OpExpr *) e)->opno;
			l = linitial(((OpExpr *) e)->args);
			r = lsecond(((OpExpr *) e)->args);
		}
		else if (IsA(e, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) e)->useOr)
		{
			opno = ((ScalarArrayOpExpr *) e)->opno;
			l = linitial(((ScalarArrayOpExpr *) e)->args);
			r = lsecond(((ScalarArrayOpExpr *) e)->args);
		}
		else
			continue;
		if (opno != TextEqualOperator || !IsA(l, Var) || !IsA(r, Const) ||
			((Var *) l)->varno != baserel->relid || ((Var *) l)->varattno != from_att ||
			(((Const *) r)->consttype != TEXTOID && ((Const *) r)->consttype != TEXTARRAYOID))
			continue;
		*found = true;
		return hs_const_text_values((Const *) r);
	}
	return NIL;
}

ForeignScan *
hs_assoc_plan(PlannerInfo *root, RelOptInfo *baserel, Oid relid, ForeignPath *best_path,
			  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Relation	rel = table_open(rte->relid, NoLock);
	HsAssocColumns c;
	List	   *values;
	bool		found;

	assoc_columns(rel, &c);
	table_close(rel, NoLock);
	values = from_values(baserel, c.side_att[0], &found);
	/* every clause is checked here; a from key also chooses what is read */
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, NIL,
							list_make3(makeString(HS_ASSOC_SCAN_TAG), makeBoolean(found), values),
							NIL, NIL, outer_plan);
}

typedef struct HsAssocRow
{
	char	   *from_id;
	char	   *to_id;
	char	   *label;			/* NULL: the default association */
} HsAssocRow;

typedef struct HsAssocScan
{
	HsTable    *table;
	HsServer   *server;
	char	   *token;
	HsAssocColumns cols;
	bool		keyed;			/* only the from records of from_keys */
	List	   *from_keys;		/* String */
	List	   *rows;			/* HsAssocRow, once read */
	bool		read;
	int			next;
	HTAB	   *keys[2];		/* record id -> key value, for property sides */
} HsAssocScan;

typedef struct HsIdKey
{
	char	   *id;
	char	   *value;
} HsIdKey;

void
hs_assoc_begin(ForeignScanState *node, int eflags)
{
	Relation	rel = node->ss.ss_currentRelation;
	HsAssocScan *st = palloc0(sizeof(HsAssocScan));

	ForeignScan *fs = (ForeignScan *) node->ss.ps.plan;

	node->fdw_state = st;
	st->keyed = boolVal(lsecond(fs->fdw_private));
	st->from_keys = lthird(fs->fdw_private);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st->table = hs_table_get(RelationGetRelid(rel));
	st->server = hs_server_get(GetForeignTable(RelationGetRelid(rel))->serverid);
	st->token = hs_token_get(st->server->serverid, hs_scan_user((ForeignScan *) node->ss.ps.plan, node->ss.ps.state));
	assoc_columns(rel, &st->cols);
}

static void
remember_key(HTAB *h, const char *id, const char *value)
{
	char	   *k = pstrdup(id);
	HsIdKey    *e = hash_search(h, &k, HASH_ENTER, NULL);

	e->value = value ? pstrdup(value) : NULL;
}

/* Every live from record's id, and its key property's value. */
static List *
list_from_ids(HsAssocScan *st)
{
	const char *prop = st->cols.side_prop[0];
	List	   *ids = NIL;
	char	   *after = NULL;

	do
	{
		char	   *query = psprintf("limit=100%s%s%s%s", prop ? "&properties=" : "",
									 prop ? prop : "", after ? "&after=" : "", after ? after : "");
		Jsonb	   *page = hs_call_get(st->server, st->token,
									   hs_api_list_url(st->server, st->table->from_type, query));
		JsonbValue	v;
		JsonbValue *results = hs_jsonb_get(&page->root, "results", &v);
		JsonbValue	pv;
		JsonbValue *paging;
		int			i,
					n;

		CHECK_FOR_INTERRUPTS();
		n = results && results->type == jbvBinary ? JsonContainerSize(results->val.binary.data) : 0;
		for (i = 0; i < n; i++)
		{
			JsonbValue *r = getIthJsonbValueFromContainer(results->val.binary.data, i);
			JsonbValue	iv,
						prv,
						vv;
			JsonbValue *props;
			char	   *id;

			if (r->type != jbvBinary)
				continue;
			id = hs_jsonb_scalar_text(hs_jsonb_get(r->val.binary.data, "id", &iv));
			if (id == NULL)
				continue;
			ids = lappend(ids, id);
			if (prop && (props = hs_jsonb_get(r->val.binary.data, "properties", &prv)) != NULL &&
				props->type == jbvBinary)
				remember_key(st->keys[0], id,
							 hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data, prop, &vv)));
		}
		after = NULL;
		paging = hs_jsonb_get(&page->root, "paging", &pv);
		if (paging && paging->type == jbvBinary)
		{
			JsonbValue	nv,
						av;
			JsonbValue *next = hs_jsonb_get(paging->val.binary.data, "next", &nv);

			if (next && next->type == jbvBinary)
				after = hs_jsonb_scalar_text(hs_jsonb_get(next->val.binary.data, "after", &av));
		}
	} while (after != NULL);
	return ids;
}

static HsInput **
id_inputs(List *ids, int *n)
{
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(list_length(ids), 1));
	ListCell   *lc;

	*n = 0;
	foreach(lc, ids)
	{
		HsInput    *in = palloc0(sizeof(HsInput));

		in->id = lfirst(lc);
		in->key = hs_record_key(NULL, in->id);
		ins[(*n)++] = in;
	}
	return ins;
}

/* The label a type reads as: its name, NULL for the default, else CATEGORY:typeId. */
static char *
type_label(JsonbContainer *ty, bool *is_default)
{
	JsonbValue	lv,
				cv,
				tv;
	char	   *label = hs_jsonb_scalar_text(hs_jsonb_get(ty, "label", &lv));
	char	   *cat = hs_jsonb_scalar_text(hs_jsonb_get(ty, "category", &cv));
	char	   *tid = hs_jsonb_scalar_text(hs_jsonb_get(ty, "typeId", &tv));

	*is_default = false;
	if (label)
		return label;
	if (cat && strcmp(cat, "HUBSPOT_DEFINED") == 0)
	{
		*is_default = true;
		return NULL;
	}
	return psprintf("%s:%s", cat ? cat : "?", tid ? tid : "?");
}

static void
add_rows_of(HsAssocScan *st, const char *from_id, Jsonb *result, List **to_ids, HTAB *seen)
{
	JsonbValue	v;
	JsonbValue *tos = hs_jsonb_get(&result->root, "to", &v);
	int			t,
				nt;

	nt = tos && tos->type == jbvBinary && JsonContainerIsArray(tos->val.binary.data) ?
		JsonContainerSize(tos->val.binary.data) : 0;
	for (t = 0; t < nt; t++)
	{
		JsonbValue *to = getIthJsonbValueFromContainer(tos->val.binary.data, t);
		JsonbValue	iv,
					tv;
		JsonbValue *types;
		char	   *to_id;
		bool		found;
		int			k,
					ntypes;
		bool		any = false;
		bool		default_done = false;

		if (to->type != jbvBinary)
			continue;
		to_id = hs_jsonb_scalar_text(hs_jsonb_get(to->val.binary.data, "toObjectId", &iv));
		types = hs_jsonb_get(to->val.binary.data, "associationTypes", &tv);
		if (to_id == NULL)
			continue;
		hash_search(seen, &to_id, HASH_ENTER, &found);
		if (!found)
			*to_ids = lappend(*to_ids, to_id);
		ntypes = types && types->type == jbvBinary ? JsonContainerSize(types->val.binary.data) : 0;
		for (k = 0; k < ntypes; k++)
		{
			JsonbValue *ty = getIthJsonbValueFromContainer(types->val.binary.data, k);
			HsAssocRow *row;
			bool		is_default;
			char	   *label;

			if (ty->type != jbvBinary)
				continue;
			label = type_label(ty->val.binary.data, &is_default);
			/* without a label column, one row per pair */
			if (st->cols.label_att == 0 && any)
				continue;
			/* the unlabelled type (and its primary twin's default) is one row */
			if (is_default && default_done)
				continue;
			default_done |= is_default;
			row = palloc0(sizeof(HsAssocRow));
			row->from_id = pstrdup(from_id);
			row->to_id = to_id;
			row->label = label;
			st->rows = lappend(st->rows, row);
			any = true;
		}
	}
}

/* The key values of side s's records, 100 ids a batch/read. */
static void
read_keys(HsAssocScan *st, int s, List *to_ids)
{
	const char *prop = st->cols.side_prop[s];
	StringInfoData extra;
	HsJob	   *job;
	int			n;
	int			i;

	if (prop == NULL || to_ids == NIL)
		return;
	initStringInfo(&extra);
	appendStringInfoString(&extra, "\"properties\":[");
	escape_json(&extra, prop);
	appendStringInfoChar(&extra, ']');
	{
		HsInput   **ins = id_inputs(to_ids, &n);

		job = hs_job_new(st->server, st->token, s ? st->table->to_type : st->table->from_type,
						 HS_OP_READ, ins, n);
	}
	job->read_extra = extra.data;
	hs_dispatch(&job, 1, true, NULL);
	hs_job_raise(job);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v,
					vv;
		JsonbValue *props;

		if (job->out[i].result == NULL)
			continue;
		props = hs_jsonb_get(&job->out[i].result->root, "properties", &v);
		if (props && props->type == jbvBinary)
			remember_key(st->keys[s], job->inputs[i]->id,
						 hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data, prop, &vv)));
	}
}

/*
 * The from records a WHERE clause names: their keys resolved as links
 * resolve them (batch/read or search), their stored key values read back
 * (the filter compares those, as for a full read).
 */
static List *
keyed_from_ids(HsAssocScan *st)
{
	HsAssocRun	run = {0};
	List	   *ids = NIL;
	ListCell   *lc;
	int			i = 0;

	run.server = st->server;
	run.token = st->token;
	run.pair = st->table->object_type;
	run.sync = true;
	run.items = palloc(sizeof(HsAssoc *) * Max(list_length(st->from_keys), 1));
	foreach(lc, st->from_keys)
	{
		HsAssoc    *a = palloc0(sizeof(HsAssoc));
		char	   *v = strVal(lfirst(lc));

		a->op = HS_OP_ASSOCIATE;
		a->side[HS_FROM].type = st->table->from_type;
		a->side[HS_FROM].property = st->cols.side_prop[0];
		a->side[HS_FROM].value = v;
		/* a record id is digits, or names no record */
		if (st->cols.side_prop[0] == NULL)
		{
			if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v))
				continue;
			a->side[HS_FROM].id = v;
		}
		a->side[HS_TO].id = "0";
		run.items[i++] = a;
	}
	run.n = i;
	hs_assoc_resolve(&run);
	for (i = 0; i < run.n; i++)
		if (run.items[i]->side[HS_FROM].id && !list_member(ids, makeString(run.items[i]->side[HS_FROM].id)))
			ids = lappend(ids, makeString(run.items[i]->side[HS_FROM].id));
	{
		List	   *plain = NIL;

		foreach(lc, ids)
			plain = lappend(plain, strVal(lfirst(lc)));
		read_keys(st, 0, plain);
		return plain;
	}
}

static void
read_all(HsAssocScan *st)
{
	List	   *from_ids;
	List	   *to_ids = NIL;
	HTAB	   *seen = hs_key_table("hubspot_fdw association to ids", 256, sizeof(char *));
	HsInput   **ins;
	HsJob	   *job;
	int			n;
	int			i;

	st->keys[0] = hs_key_table("hubspot_fdw from keys", 256, sizeof(HsIdKey));
	st->keys[1] = hs_key_table("hubspot_fdw to keys", 256, sizeof(HsIdKey));
	from_ids = st->keyed ? keyed_from_ids(st) : list_from_ids(st);
	if (from_ids == NIL)
		return;
	ins = id_inputs(from_ids, &n);
	job = hs_job_new(st->server, st->token, st->table->object_type, HS_OP_ASSOC_READ, ins, n);
	hs_dispatch(&job, 1, true, NULL);
	hs_job_raise(job);
	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (job->out[i].result)
			add_rows_of(st, ins[i]->id, job->out[i].result, &to_ids, seen);
	}
	read_keys(st, 1, to_ids);
}

static void
store_text(TupleTableSlot *slot, int attno, const char *text)
{
	Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, attno - 1);
	Oid			infn,
				ioparam;

	if (text == NULL)
		return;
	getTypeInputInfo(att->atttypid, &infn, &ioparam);
	slot->tts_values[attno - 1] = OidInputFunctionCall(infn, (char *) text, ioparam,
													   att->atttypmod);
	slot->tts_isnull[attno - 1] = false;
}

static char *
side_value(HsAssocScan *st, int s, char *id)
{
	HsIdKey    *e;

	if (st->cols.side_prop[s] == NULL)
		return id;
	e = hash_search(st->keys[s], &id, HASH_FIND, NULL);
	return e ? e->value : NULL;
}

TupleTableSlot *
hs_assoc_iterate(ForeignScanState *node)
{
	HsAssocScan *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	HsAssocRow *row;

	ExecClearTuple(slot);
	if (!st->read)
	{
		MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);

		read_all(st);
		st->read = true;
		MemoryContextSwitchTo(old);
	}
	if (st->next >= list_length(st->rows))
		return slot;
	row = list_nth(st->rows, st->next++);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	store_text(slot, st->cols.side_att[0], side_value(st, 0, row->from_id));
	store_text(slot, st->cols.side_att[1], side_value(st, 1, row->to_id));
	if (st->cols.label_att)
		store_text(slot, st->cols.label_att, row->label);
	return ExecStoreVirtualTuple(slot);
}

void
hs_assoc_rescan(ForeignScanState *node)
{
	((HsAssocScan *) node->fdw_state)->next = 0;
}

void
hs_assoc_explain(ForeignScanState *node, ExplainState *es)
{
	Relation	rel = node->ss.ss_currentRelation;
	HsTable    *t = hs_table_get(RelationGetRelid(rel));

	HsAssocScan *st = node->fdw_state;

	ExplainPropertyText("HubSpot",
						psprintf("%s %s, associations batch/read %s (1,000 records a call)",
								 st->keyed ? "look up the given keys of" : "list", t->from_type,
								 t->object_type), es);
}
