/*-------------------------------------------------------------------------
 * modify.c
 *		INSERT / UPDATE / DELETE on hubspot_fdw foreign tables.
 *
 * With delivery 'on_commit' (the default) each row becomes a queue row in
 * the writing transaction: INSERT an upsert keyed by id_property (or a
 * create without it), UPDATE a batch/update of the columns set, DELETE an
 * archive, both keyed by the record id column.  With 'immediate' the same
 * inputs are sent during the statement and HubSpot's errors fail it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/inherit.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "assoc_table.h"
#include "batch.h"
#include "dispatch.h"
#include "modify.h"
#include "options.h"
#include "queue_write.h"
#include "scan.h"

typedef struct HsModifyState
{
	Relation	rel;
	HsTable    *table;
	HsServer   *server;
	CmdType		cmd;
	HsColumnMap map;
	bool	   *read_only;		/* per attribute: OPTIONS (read_only 'true') */
	List	   *target_attrs;	/* UPDATE: the columns set */
	AttrNumber	junk_id;		/* UPDATE/DELETE: the record id */
	AttrNumber	junk_row;		/* DELETE ... RETURNING: the row as read */
	bool		if_absent;		/* INSERT ... ON CONFLICT DO NOTHING */
	HsQueueWriter *writer;		/* on_commit */
	struct HsAssocColumns *assoc_cols;	/* association tables: once a statement */
	char	   *token;			/* immediate */
	MemoryContext rowcxt;
} HsModifyState;

/*
 * Add column i.  NULLs are skipped unless send_null (UPDATE SET col = NULL
 * clears the property with "").
 */
void
hs_props_add_column(HsProps *p, HsColumnMap *map, int i, Datum value, bool isnull,
					bool send_null)
{
	if (map->props[i] == NULL || i + 1 == map->id_attno)
		return;
	if (isnull)
	{
		if (send_null && !map->is_extra[i])
			hs_props_add(p, map->props[i], "");
		return;
	}
	if (map->is_extra[i])
	{
		Jsonb	   *jb = DatumGetJsonbP(value);

		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" must hold a JSON object of further properties",
							map->props[i])));
		hs_props_add_jsonb(p, &jb->root, psprintf("column \"%s\"", map->props[i]));
		return;
	}
	hs_props_add(p, map->props[i], hs_value_text(&map->conv[i], value, map->props[i]));
}

/* The column map of a foreign table, from its column options. */
static void
foreign_column_map(HsColumnMap *map, Relation rel, const char *id_property)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	int			i;

	map->natts = desc->natts;
	map->props = palloc0(sizeof(char *) * desc->natts);
	map->conv = palloc0(sizeof(HsConverter) * desc->natts);
	map->is_extra = palloc0(sizeof(bool) * desc->natts);
	map->id_attno = map->key_attno = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		map->props[i] = hs_column_property(relid, i + 1);
		hs_converter_init(&map->conv[i], att->atttypid);
		map->is_extra[i] = att->atttypid == JSONBOID &&
			GetForeignColumnOptions(relid, i + 1) == NIL;
		if (hs_is_id_column(relid, i + 1, map->props[i]))
			map->id_attno = i + 1;
		else if (id_property && strcmp(map->props[i], id_property) == 0)
			map->key_attno = i + 1;
	}
}

/*
 * A write to a read-only property is refused here, before anything is
 * queued or sent: HubSpot would refuse it too, but only in the worker,
 * after COMMIT, where the user no longer waits for an answer.
 */
static void
refuse_read_only(Oid relid, int attnum)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot write to read-only column \"%s\" of foreign table \"%s\"",
					get_attname(relid, attnum, false), get_rel_name(relid)),
			 errdetail("HubSpot property \"%s\" is read-only: HubSpot computes or sets its values.",
					   hs_column_property(relid, attnum))));
}

/* ------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------
 */
static int
id_column(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped &&
			hs_is_id_column(RelationGetRelid(rel), i + 1,
							hs_column_property(RelationGetRelid(rel), i + 1)))
			return i + 1;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
			 errmsg("foreign table \"%s\" has no record id column", RelationGetRelationName(rel)),
			 errhint("UPDATE and DELETE need a column named id, or one with OPTIONS (property 'hs_object_id').")));
	return 0;
}

void
hsAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
						  RangeTblEntry *target_rte, Relation target_relation)
{
	int			attno;
	Form_pg_attribute att;
	Var		   *var;

	/* an association's row is its identity: DELETE unlinks what it read */
	if (HS_TABLE_IS_ASSOC(hs_table_get(RelationGetRelid(target_relation))))
	{
		add_row_identity_var(root, (Var *) makeWholeRowVar(target_rte, rtindex, 0, false),
							 rtindex, "wholerow");
		return;
	}
	attno = id_column(target_relation);
	att = TupleDescAttr(RelationGetDescr(target_relation), attno - 1);
	var = makeVar(rtindex, attno, att->atttypid, att->atttypmod, att->attcollation, 0);
	add_row_identity_var(root, var, rtindex, "hubspot_id");

	/*
	 * RETURNING (and an UPDATE's unchanged columns in it) is the row as the
	 * scan read it: nothing else can tell what a queued DELETE removes.
	 */
	if (root->parse->returningList != NIL)
		add_row_identity_var(root,
							 (Var *) makeWholeRowVar(target_rte, rtindex, 0, false),
							 rtindex, "wholerow");
}

List *
hsPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	CmdType		operation = plan->operation;
	List	   *target_attrs = NIL;
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	bool		if_absent = false;

	if (HS_TABLE_IS_ASSOC(hs_table_get(rte->relid)) &&
		(operation == CMD_UPDATE || plan->onConflictAction != ONCONFLICT_NONE))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("association table \"%s\" takes INSERT and DELETE only",
						get_rel_name(rte->relid)),
				 errhint("To move a link, DELETE it and INSERT the new one; linking twice is harmless.")));
	if (plan->onConflictAction == ONCONFLICT_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT ... ON CONFLICT DO UPDATE is not supported on hubspot_fdw foreign tables"),
				 errhint("A plain INSERT into a table with an id_property is an upsert already.")));
	if (plan->onConflictAction == ONCONFLICT_NOTHING)
	{
		HsTable    *t = hs_table_get(rte->relid);

		if (t->id_property == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("INSERT ... ON CONFLICT DO NOTHING needs an id_property on foreign table \"%s\"",
							get_rel_name(rte->relid)),
					 errdetail("Whether a record exists is known only by a unique property."),
					 errhint("ALTER FOREIGN TABLE ... OPTIONS (ADD id_property 'email').")));
		if (plan->arbiterIndexes != NIL || plan->onConflictWhere != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ON CONFLICT on hubspot_fdw foreign tables takes no conflict target"),
					 errdetail("Records conflict by the table's id_property only.")));
		if_absent = true;
	}

	if (operation == CMD_UPDATE)
	{
		RelOptInfo *rel = find_base_rel(root, resultRelation);
		Bitmapset  *cols = get_rel_all_updated_cols(root, rel);
		int			col = -1;

		while ((col = bms_next_member(cols, col)) >= 0)
		{
			AttrNumber	attno = col + FirstLowInvalidHeapAttributeNumber;

			if (attno <= 0)
				continue;
			if (hs_column_read_only(rte->relid, attno))
				refuse_read_only(rte->relid, attno);
			target_attrs = lappend_int(target_attrs, attno);
		}
	}
	return list_make2(target_attrs, makeBoolean(if_absent));
}

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------
 */
static HsModifyState *
begin_state(EState *estate, ResultRelInfo *rinfo, CmdType cmd)
{
	HsModifyState *st = palloc0(sizeof(HsModifyState));
	Relation	rel = rinfo->ri_RelationDesc;
	Oid			userid = GetUserId();

	st->rel = rel;
	st->cmd = cmd;
	st->table = hs_table_get(RelationGetRelid(rel));
	if (st->table->archived == HS_ARCHIVED_TRUE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change foreign table \"%s\": it reads archived records",
						RelationGetRelationName(rel)),
				 errdetail("HubSpot does not change archived records."),
				 errhint("Write through a table with archived 'false'; an upsert by a unique property creates the record anew.")));
	st->server = hs_server_get(GetForeignTable(RelationGetRelid(rel))->serverid);
	foreign_column_map(&st->map, rel, st->table->id_property);
	st->read_only = palloc0(sizeof(bool) * st->map.natts);
	for (int i = 0; i < st->map.natts; i++)
		st->read_only[i] = st->map.props[i] != NULL &&
			hs_column_read_only(RelationGetRelid(rel), i + 1);
	if (cmd == CMD_INSERT && st->table->id_property && st->map.key_attno == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no column for its id_property \"%s\"",
						RelationGetRelationName(rel), st->table->id_property),
				 errhint("Add a column named \"%s\" or one with OPTIONS (property '%s').",
						 st->table->id_property, st->table->id_property)));
	if (rinfo->ri_RangeTableIndex > 0 && estate)
		userid = hs_result_rel_user(rinfo, estate);
	/* fail now, not in the worker, if there is no token */
	st->token = hs_token_get(st->server->serverid, userid);
	/* associations are always queued: they wait for their records' writes */
	if (st->table->delivery == HS_DELIVERY_ON_COMMIT || HS_TABLE_IS_ASSOC(st->table))
		st->writer = hs_queue_open_as(userid);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hubspot_fdw row",
									   ALLOCSET_DEFAULT_SIZES);
	rinfo->ri_FdwState = st;
	return st;
}

void
hsBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					 List *fdw_private, int subplan_index, int eflags)
{
	HsModifyState *st;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st = begin_state(mtstate->ps.state, rinfo, mtstate->operation);
	st->target_attrs = linitial(fdw_private);
	st->if_absent = boolVal(lsecond(fdw_private));
	if (st->if_absent && st->writer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("INSERT ... ON CONFLICT DO NOTHING is not supported with delivery 'immediate'"),
				 errhint("Use delivery 'on_commit', or hubspot_batch_read() before hubspot_batch_create().")));
	if (st->cmd == CMD_DELETE && HS_TABLE_IS_ASSOC(st->table))
	{
		st->junk_row = ExecFindJunkAttributeInTlist(outerPlanState(mtstate)->plan->targetlist,
													"wholerow");
		if (!AttributeNumberIsValid(st->junk_row))
			elog(ERROR, "could not find junk wholerow column");
	}
	else if (st->cmd == CMD_UPDATE || st->cmd == CMD_DELETE)
	{
		Plan	   *subplan = outerPlanState(mtstate)->plan;

		st->junk_id = ExecFindJunkAttributeInTlist(subplan->targetlist, "hubspot_id");
		if (!AttributeNumberIsValid(st->junk_id))
			elog(ERROR, "could not find junk hubspot_id column");
		st->junk_row = ExecFindJunkAttributeInTlist(subplan->targetlist, "wholerow");
	}
}

void
hsBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	begin_state(mtstate ? mtstate->ps.state : NULL, rinfo, CMD_INSERT);
}

/* Send one job now; any row HubSpot refuses fails the statement. */
static HsJob *
send_now(HsModifyState *st, HsOp op, HsInput **ins, int n)
{
	HsJob	   *job = hs_job_new(st->server, st->token, st->table->object_type, op, ins, n);
	int			i;

	hs_dispatch(&job, 1, true, NULL);
	hs_job_raise(job);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v;
		Jsonb	   *e = job->out[i].error;
		char	   *msg;
		char	   *cat;

		if (e == NULL)
			continue;
		msg = hs_jsonb_scalar_text(hs_jsonb_get(&e->root, "message", &v));
		cat = hs_jsonb_scalar_text(hs_jsonb_get(&e->root, "category", &v));
		if (job->out[i].unknown)
			ereport(ERROR,
					(errcode(ERRCODE_TRANSACTION_RESOLUTION_UNKNOWN),
					 errmsg("HubSpot may or may not have created a row of \"%s\": its answer was lost",
							RelationGetRelationName(st->rel)),
					 errdetail("%s", msg ? msg : "no answer"),
					 errhint("Look the record up in HubSpot before you insert it again; an id_property makes inserts upserts, which are safe to repeat.")));
		ereport(ERROR,
				(errcode(cat && strcmp(cat, "VALIDATION_ERROR") == 0 ?
						 ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_FDW_ERROR),
				 errmsg("HubSpot refused a row of \"%s\": %s",
						RelationGetRelationName(st->rel), msg ? msg : "unknown error"),
				 errdetail("%s", JsonbToCString(NULL, &e->root, VARSIZE(e)))));
	}
	return job;
}

/* The input an INSERTed row becomes; its properties are left in props. */
static HsInput *
row_input(HsModifyState *st, TupleTableSlot *slot, HsOp *op, HsProps *props)
{
	HsInput    *in = palloc0(sizeof(HsInput));
	int			i;

	slot_getallattrs(slot);
	for (i = 0; i < st->map.natts; i++)
		if (st->read_only[i] && !slot->tts_isnull[i])
			refuse_read_only(RelationGetRelid(st->rel), i + 1);
	hs_props_init(props);
	for (i = 0; i < st->map.natts; i++)
		hs_props_add_column(props, &st->map, i, slot->tts_values[i],
							slot->tts_isnull[i], false);
	if (st->map.id_attno && !slot->tts_isnull[st->map.id_attno - 1])
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("cannot insert a value into the record id column of \"%s\"",
						RelationGetRelationName(st->rel)),
				 errdetail("HubSpot assigns record ids."),
				 errhint("Use UPDATE to change an existing record.")));
	*op = HS_OP_CREATE;
	if (st->table->id_property)
	{
		int			k = st->map.key_attno - 1;

		if (slot->tts_isnull[k])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("column \"%s\" of \"%s\" must not be NULL: it keys the upsert",
							NameStr(TupleDescAttr(slot->tts_tupleDescriptor, k)->attname),
							RelationGetRelationName(st->rel))));
		/* ON CONFLICT DO NOTHING: a create of what is not there yet */
		*op = st->if_absent ? HS_OP_CREATE : HS_OP_UPSERT;
		in->id = hs_value_text(&st->map.conv[k], slot->tts_values[k], st->map.props[k]);
		in->id_property = st->table->id_property;
		if (st->writer == NULL)
			in->key = hs_record_key(in->id_property, in->id);
	}
	return in;
}

static void
queue_input(HsModifyState *st, HsOp op, HsInput *in, HsProps *props)
{
	hs_queue_put(st->writer, st->server->serverid, st->table->object_type, op,
				 in->id_property, in->id, props ? hs_props_jsonb(props) : NULL);
}

/* An association table's row: one associate or dissociate queued. */
static void
queue_assoc(HsModifyState *st, TupleTableSlot *slot, HsOp op)
{
	HsAssoc    *a;

	if (st->assoc_cols == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(st));

		st->assoc_cols = hs_assoc_columns(st->rel);
		MemoryContextSwitchTo(old);
	}
	a = hs_assoc_of_row(st->table, st->rel, st->assoc_cols, slot, op);

	hs_queue_put(st->writer, st->server->serverid, st->table->object_type, op, NULL,
				 hs_assoc_key(a), hs_assoc_input_jsonb(a));
}

/* RETURNING of an immediate INSERT sees the id HubSpot gave. */
static void
store_id(HsModifyState *st, TupleTableSlot *slot, Jsonb *result, MemoryContext cxt)
{
	JsonbValue	v;
	char	   *id;
	int			k = st->map.id_attno - 1;

	if (k < 0 || result == NULL)
		return;
	id = hs_jsonb_scalar_text(hs_jsonb_get(&result->root, "id", &v));
	if (id == NULL)
		return;
	slot_getallattrs(slot);
	ExecMaterializeSlot(slot);
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Oid			infn,
					ioparam;
		FmgrInfo	in;
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, k);

		getTypeInputInfo(att->atttypid, &infn, &ioparam);
		fmgr_info(infn, &in);
		slot->tts_values[k] = hs_value_from_text(id, att->atttypid, att->atttypmod, &in, ioparam);
		slot->tts_isnull[k] = false;
		MemoryContextSwitchTo(old);
	}
}

TupleTableSlot **
hsExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot **slots,
						 TupleTableSlot **planSlots, int *numSlots)
{
	HsModifyState *st = rinfo->ri_FdwState;
	MemoryContext old;
	HsInput   **ins;
	HsOp		op = HS_OP_CREATE;
	int			i;

	MemoryContextReset(st->rowcxt);
	old = MemoryContextSwitchTo(st->rowcxt);
	if (HS_TABLE_IS_ASSOC(st->table))
	{
		for (i = 0; i < *numSlots; i++)
			queue_assoc(st, slots[i], HS_OP_ASSOCIATE);
		MemoryContextSwitchTo(old);
		return slots;
	}
	ins = palloc(sizeof(HsInput *) * *numSlots);
	for (i = 0; i < *numSlots; i++)
	{
		HsProps		props;

		ins[i] = row_input(st, slots[i], &op, &props);
		ins[i]->trace = psprintf("%d", i + 1);
		if (st->writer)
			queue_input(st, op, ins[i], &props);
		else
			ins[i]->properties = hs_props_text(&props);
	}
	if (st->writer == NULL)
	{
		HsJob	   *job = send_now(st, op, ins, *numSlots);

		for (i = 0; i < *numSlots; i++)
			store_id(st, slots[i], job->out[i].result, estate->es_query_cxt);
	}
	MemoryContextSwitchTo(old);
	return slots;
}

TupleTableSlot *
hsExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	int			n = 1;

	return *hsExecForeignBatchInsert(estate, rinfo, &slot, &planSlot, &n);
}

int
hsGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	HsModifyState *st = rinfo->ri_FdwState;

	/* as postgres_fdw: no batching when rows must come back one by one */
	if (st == NULL || rinfo->ri_projectReturning != NULL ||
		rinfo->ri_WithCheckOptions != NIL ||
		(rinfo->ri_TrigDesc &&
		 (rinfo->ri_TrigDesc->trig_insert_before_row ||
		  rinfo->ri_TrigDesc->trig_insert_after_row)))
		return 1;
	/* queued rows gain nothing from batching; sent ones go by the call */
	return st->writer ? 1 : st->server->batch_size;
}

static char *
junk_id(HsModifyState *st, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, st->junk_id, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("cannot change a row of \"%s\" without a record id",
						RelationGetRelationName(st->rel))));
	return hs_value_text(&st->map.conv[st->map.id_attno - 1], d, "id");
}

static void
keyed_write(HsModifyState *st, HsOp op, char *id, HsProps *props)
{
	HsInput    *in = palloc0(sizeof(HsInput));

	in->id = id;
	in->key = hs_record_key(NULL, id);
	in->trace = "1";
	if (st->writer)
		queue_input(st, op, in, props);
	else
	{
		in->properties = props ? hs_props_text(props) : NULL;
		send_now(st, op, &in, 1);
	}
}

TupleTableSlot *
hsExecForeignUpdate(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	HsModifyState *st = rinfo->ri_FdwState;
	MemoryContext old;
	HsProps		props;
	ListCell   *lc;

	MemoryContextReset(st->rowcxt);
	old = MemoryContextSwitchTo(st->rowcxt);
	slot_getallattrs(slot);
	hs_props_init(&props);
	foreach(lc, st->target_attrs)
	{
		int			attno = lfirst_int(lc);

		if (attno == st->map.id_attno)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the record id of a HubSpot object")));
		/* planning refused it already: this keeps the rule at the one place every row passes */
		if (st->read_only[attno - 1])
			refuse_read_only(RelationGetRelid(st->rel), attno);
		hs_props_add_column(&props, &st->map, attno - 1, slot->tts_values[attno - 1],
							slot->tts_isnull[attno - 1], true);
	}
	keyed_write(st, HS_OP_UPDATE, junk_id(st, planSlot), &props);
	MemoryContextSwitchTo(old);
	return slot;
}

TupleTableSlot *
hsExecForeignDelete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	HsModifyState *st = rinfo->ri_FdwState;
	MemoryContext old;

	MemoryContextReset(st->rowcxt);
	old = MemoryContextSwitchTo(st->rowcxt);
	if (!HS_TABLE_IS_ASSOC(st->table))
		keyed_write(st, HS_OP_ARCHIVE, junk_id(st, planSlot), NULL);
	MemoryContextSwitchTo(old);
	if (AttributeNumberIsValid(st->junk_row))
	{
		bool		isnull;
		Datum		d = ExecGetJunkAttribute(planSlot, st->junk_row, &isnull);

		if (!isnull)
		{
			HeapTupleHeader th = DatumGetHeapTupleHeader(d);
			HeapTupleData tup;

			tup.t_len = HeapTupleHeaderGetDatumLength(th);
			ItemPointerSetInvalid(&tup.t_self);
			tup.t_tableOid = RelationGetRelid(st->rel);
			tup.t_data = th;
			/* the values must outlive the plan slot's tuple */
			ExecForceStoreHeapTuple(&tup, slot, false);
			ExecMaterializeSlot(slot);
			if (HS_TABLE_IS_ASSOC(st->table))
			{
				old = MemoryContextSwitchTo(st->rowcxt);
				queue_assoc(st, slot, HS_OP_DISSOCIATE);
				MemoryContextSwitchTo(old);
			}
		}
	}
	return slot;
}

void
hsEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	HsModifyState *st = rinfo->ri_FdwState;

	if (st == NULL)
		return;
	if (st->writer)
		hs_queue_close(st->writer);
	MemoryContextDelete(st->rowcxt);
	rinfo->ri_FdwState = NULL;
}

void
hsEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	hsEndForeignModify(estate, rinfo);
}

int
hsIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

void
hsExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					   List *fdw_private, int subplan_index, ExplainState *es)
{
	HsTable    *t = hs_table_get(RelationGetRelid(rinfo->ri_RelationDesc));
	CmdType		cmd = mtstate->operation;
	const char *op = cmd == CMD_INSERT ? (t->id_property ? "upsert" : "create") :
		cmd == CMD_UPDATE ? "update" : "archive";

	ExplainPropertyText("HubSpot call",
						psprintf("batch/%s of %s%s", op, t->object_type,
								 t->delivery == HS_DELIVERY_IMMEDIATE ?
								 ", sent during the statement" : ", queued and sent after COMMIT"),
						es);
}
