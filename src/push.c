/*-------------------------------------------------------------------------
 * push.c
 *		hubspot_push(): a trigger that queues an application table's
 *		committed changes for HubSpot.
 *
 *   CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON customers
 *     FOR EACH ROW EXECUTE FUNCTION
 *     hubspot_push('contacts', 'email' [, 'server'] [, 'option=value' ...]);
 *
 * Options: exclude=col1,col2  rename=col:property,...  on_delete=archive|ignore
 *          associate=col:to_type.property[:label],...
 *
 * associate keeps an association current from a foreign key column (the
 * column is not sent as a property): INSERT links the record to the
 * to_type record whose property has the column's value; an UPDATE that
 * changes the value unlinks the old one and links the new one.  The links
 * are queued after the record's own write, so they wait for it.
 *
 * INSERT queues an upsert keyed by the key column with every mapped,
 * non-NULL column; UPDATE only the columns whose value HubSpot would see
 * change (NULL clears with ""); DELETE an archive (or nothing).  The same
 * function works FOR EACH STATEMENT with transition tables, which queues a
 * 100,000-row UPDATE in one pass.  Either way the rows go to the
 * statement's writer (queue_write.c), which writes them in packs when the
 * statement ends.  Values convert exactly as the FDW's.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "parser/parse_relation.h"
#include "utils/varlena.h"

#include "batch.h"
#include "input.h"
#include "modify.h"
#include "options.h"
#include "queue_write.h"

PG_FUNCTION_INFO_V1(hubspot_push);

/* associate=col:to_type.property[:label] */
typedef struct HsPushLink
{
	int			attno;			/* the foreign key column */
	char	   *to_type;
	char	   *property;		/* hs_object_id: the column holds record ids */
	char	   *label;
	char	   *pair;			/* "object_type/to_type", as the queue names it */
} HsPushLink;

typedef struct HsPush
{
	char	   *object_type;
	List	   *links;			/* HsPushLink */
	HsServer   *server;
	HsColumnMap map;
	char	   *id_property;	/* property of the key column */
	bool		archive_on_delete;
	TupleDesc	desc;
	HsQueueWriter *writer;
	MemoryContext rowcxt;
} HsPush;

static void
bad_arg(Relation rel, const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("hubspot_push() on \"%s\": %s", RelationGetRelationName(rel), msg),
			 hint ? errhint("%s", hint) : 0));
}

static int
column_index(Relation rel, const char *name)
{
	int			attno = attnameAttNum(rel, name, false);

	if (attno <= 0)
		bad_arg(rel, psprintf("column \"%s\" does not exist", name),
				"Name columns of the table the trigger is on.");
	return attno - 1;
}

static List *
split_list(Relation rel, char *value, char sep)
{
	List	   *items = NIL;

	if (!SplitIdentifierString(value, sep, &items))
		bad_arg(rel, psprintf("cannot parse option value \"%s\"", value), NULL);
	return items;
}

static HsPushLink *
parse_link(HsPush *p, Relation rel, char *entry)
{
	HsPushLink *l = palloc0(sizeof(HsPushLink));
	char	   *colon = strchr(entry, ':');
	char	   *dot = NULL;
	char	   *label;

	if (colon == NULL || (dot = strchr(colon + 1, '.')) == NULL)
		bad_arg(rel, psprintf("associate entry \"%s\" is not column:to_type.property[:label]", entry),
				"For example associate=company_domain:companies.domain.");
	*colon = '\0';
	*dot = '\0';
	if ((label = strchr(dot + 1, ':')) != NULL)
		*label++ = '\0';
	l->attno = column_index(rel, entry) + 1;
	l->to_type = pstrdup(colon + 1);
	hs_check_object_type(l->to_type);
	l->property = pstrdup(dot + 1);
	hs_check_property_name("associate", l->property);
	l->label = label && *label ? pstrdup(label) : NULL;
	l->pair = psprintf("%s/%s", p->object_type, l->to_type);
	/* the foreign key is the link, not a property of the record */
	p->map.props[l->attno - 1] = NULL;
	return l;
}

static void
apply_option(HsPush *p, Relation rel, char *arg)
{
	char	   *eq = strchr(arg, '=');
	char	   *name = pnstrdup(arg, eq - arg);
	char	   *value = pstrdup(eq + 1);
	ListCell   *lc;

	if (strcmp(name, "exclude") == 0)
	{
		foreach(lc, split_list(rel, value, ','))
			p->map.props[column_index(rel, lfirst(lc))] = NULL;
	}
	else if (strcmp(name, "rename") == 0)
	{
		foreach(lc, split_list(rel, value, ','))
		{
			char	   *pair = lfirst(lc);
			char	   *colon = strchr(pair, ':');

			if (colon == NULL)
				bad_arg(rel, psprintf("rename entry \"%s\" is not column:property", pair), NULL);
			*colon = '\0';
			hs_check_property_name("rename", colon + 1);
			p->map.props[column_index(rel, pair)] = pstrdup(colon + 1);
		}
	}
	else if (strcmp(name, "on_delete") == 0)
	{
		if (strcmp(value, "archive") != 0 && strcmp(value, "ignore") != 0)
			bad_arg(rel, psprintf("invalid on_delete \"%s\"", value),
					"Use on_delete=archive or on_delete=ignore.");
		p->archive_on_delete = strcmp(value, "archive") == 0;
	}
	else if (strcmp(name, "associate") == 0)
	{
		foreach(lc, split_list(rel, value, ','))
			p->links = lappend(p->links, parse_link(p, rel, lfirst(lc)));
	}
	else
		bad_arg(rel, psprintf("unknown option \"%s\"", name),
				"Valid options are exclude=..., rename=col:property,..., on_delete=archive|ignore and associate=col:to_type.property[:label],....");
}

/* Everything the trigger's arguments say, checked on every fire. */
static HsPush *
push_setup(TriggerData *td)
{
	Relation	rel = td->tg_relation;
	Trigger    *tg = td->tg_trigger;
	HsPush	   *p = palloc0(sizeof(HsPush));
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	int			nfixed;

	if (tg->tgnargs < 2)
		bad_arg(rel, "needs at least an object type and a key column",
				"Use hubspot_push('contacts', 'email' [, 'server'] [, 'exclude=col,...'] ...).");
	p->object_type = tg->tgargs[0];
	hs_check_object_type(p->object_type);
	nfixed = (tg->tgnargs >= 3 && strchr(tg->tgargs[2], '=') == NULL) ? 3 : 2;
	p->server = hs_server_get_by_name(nfixed == 3 ? tg->tgargs[2] : "hubspot");
	(void) hs_token_get(p->server->serverid, GetUserId());
	p->archive_on_delete = true;
	/* a copy: the cached slots must not pin the relcache entry's descriptor */
	p->desc = CreateTupleDescCopy(desc);

	p->map.natts = desc->natts;
	p->map.props = palloc0(sizeof(char *) * desc->natts);
	p->map.conv = palloc0(sizeof(HsConverter) * desc->natts);
	p->map.is_extra = palloc0(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		p->map.props[i] = pstrdup(NameStr(att->attname));
		hs_converter_init(&p->map.conv[i], att->atttypid);
	}
	p->map.key_attno = column_index(rel, tg->tgargs[1]) + 1;
	for (i = nfixed; i < tg->tgnargs; i++)
	{
		if (strchr(tg->tgargs[i], '=') == NULL)
			bad_arg(rel, psprintf("argument \"%s\" is not an option", tg->tgargs[i]),
					"Options look like exclude=col1,col2 or rename=col:property.");
		apply_option(p, rel, tg->tgargs[i]);
	}
	if (p->map.props[p->map.key_attno - 1] == NULL)
		bad_arg(rel, "the key column cannot be excluded", NULL);
	p->id_property = p->map.props[p->map.key_attno - 1];
	hs_check_property_name("the key column", p->id_property);
	return p;
}

static char *
key_of(HsPush *p, TupleTableSlot *slot)
{
	int			k = p->map.key_attno - 1;

	if (slot->tts_isnull[k])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("hubspot_push(): key column \"%s\" is NULL",
						NameStr(TupleDescAttr(p->desc, k)->attname)),
				 errdetail("A row without a key cannot be sent to HubSpot."),
				 errhint("Make the key column NOT NULL.")));
	return hs_value_text(&p->map.conv[k], slot->tts_values[k], p->id_property);
}

/* Did column i change as HubSpot would see it? */
static bool
column_changed(HsPush *p, int i, TupleTableSlot *o, TupleTableSlot *n)
{
	Form_pg_attribute att = TupleDescAttr(p->desc, i);

	if (o->tts_isnull[i] || n->tts_isnull[i])
		return o->tts_isnull[i] != n->tts_isnull[i];
	if (datumIsEqual(o->tts_values[i], n->tts_values[i], att->attbyval, att->attlen))
		return false;
	return strcmp(hs_value_text(&p->map.conv[i], o->tts_values[i], p->map.props[i]),
				  hs_value_text(&p->map.conv[i], n->tts_values[i], p->map.props[i])) != 0;
}

/* Queue one link (op) between the record keyed key and the column's value. */
static void
queue_link(HsPush *p, HsPushLink *l, HsOp op, char *key, TupleTableSlot *slot)
{
	int			k = l->attno - 1;
	HsAssoc    *a;

	if (slot->tts_isnull[k])
		return;
	a = hs_make_assoc(op, p->object_type, l->to_type, p->id_property, key, l->property,
					  hs_value_text(&p->map.conv[k], slot->tts_values[k], l->property),
					  l->label, "hubspot_push()'s associate");
	hs_queue_put(p->writer, p->server->serverid, l->pair, op, NULL, hs_assoc_key(a),
				 hs_assoc_input_jsonb(a));
}

/* After the record's write: links of a new row, or of changed foreign keys. */
static void
queue_links(HsPush *p, TupleTableSlot *oldslot, TupleTableSlot *newslot, bool key_changed)
{
	ListCell   *lc;

	foreach(lc, p->links)
	{
		HsPushLink *l = lfirst(lc);
		int			k = l->attno - 1;
		bool		changed = oldslot == NULL || key_changed ||
			oldslot->tts_isnull[k] != newslot->tts_isnull[k] ||
			(!newslot->tts_isnull[k] &&
			 strcmp(hs_value_text(&p->map.conv[k], oldslot->tts_values[k], l->property),
					hs_value_text(&p->map.conv[k], newslot->tts_values[k], l->property)) != 0);

		if (!changed)
			continue;
		if (oldslot)
			queue_link(p, l, HS_OP_DISSOCIATE, key_of(p, oldslot), oldslot);
		queue_link(p, l, HS_OP_ASSOCIATE, key_of(p, newslot), newslot);
	}
}

/* One row's change: oldslot NULL for INSERT, newslot NULL for DELETE. */
static void
queue_row(HsPush *p, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	MemoryContext old;
	HsProps		props;
	bool		key_changed;
	int			i;

	MemoryContextReset(p->rowcxt);
	old = MemoryContextSwitchTo(p->rowcxt);
	if (oldslot)
		slot_getallattrs(oldslot);
	if (newslot == NULL)
	{
		if (p->archive_on_delete)
			hs_queue_put(p->writer, p->server->serverid, p->object_type, HS_OP_ARCHIVE,
						 p->id_property, key_of(p, oldslot), NULL);
		MemoryContextSwitchTo(old);
		return;
	}
	slot_getallattrs(newslot);
	key_changed = oldslot && column_changed(p, p->map.key_attno - 1, oldslot, newslot);
	hs_props_init(&props);
	for (i = 0; i < p->map.natts; i++)
	{
		if (p->map.props[i] == NULL)
			continue;
		/* an UPDATE sends what changed; a new key gets the whole row */
		if (oldslot && !key_changed && !column_changed(p, i, oldslot, newslot))
			continue;
		hs_props_add_column(&props, &p->map, i, newslot->tts_values[i],
							newslot->tts_isnull[i], oldslot != NULL);
	}
	if (props.n > 0 || oldslot == NULL)
		hs_queue_put(p->writer, p->server->serverid, p->object_type, HS_OP_UPSERT,
					 p->id_property, key_of(p, newslot), hs_props_jsonb(&props));
	queue_links(p, oldslot, newslot, key_changed);
	MemoryContextSwitchTo(old);
}

/* FOR EACH STATEMENT: old and new transition rows come in the same order. */
static void
queue_transition(HsPush *p, TriggerData *td)
{
	Tuplestorestate *oldts = td->tg_oldtable;
	Tuplestorestate *newts = td->tg_newtable;
	TupleTableSlot *oslot = MakeSingleTupleTableSlot(p->desc, &TTSOpsMinimalTuple);
	TupleTableSlot *nslot = MakeSingleTupleTableSlot(p->desc, &TTSOpsMinimalTuple);
	bool		ins = TRIGGER_FIRED_BY_INSERT(td->tg_event);
	bool		del = TRIGGER_FIRED_BY_DELETE(td->tg_event);

	if (!ins && !del && (oldts == NULL || newts == NULL))
		bad_arg(td->tg_relation, "a statement-level UPDATE trigger needs transition tables",
				"Add REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows.");
	if (ins && newts == NULL)
		bad_arg(td->tg_relation, "a statement-level INSERT trigger needs a transition table",
				"Add REFERENCING NEW TABLE AS new_rows.");
	if (del && oldts == NULL)
		bad_arg(td->tg_relation, "a statement-level DELETE trigger needs a transition table",
				"Add REFERENCING OLD TABLE AS old_rows.");
	if (oldts && !ins)
		tuplestore_rescan(oldts);
	if (newts && !del)
		tuplestore_rescan(newts);
	for (;;)
	{
		bool		more_old = !ins && tuplestore_gettupleslot(oldts, true, false, oslot);
		bool		more_new = !del && tuplestore_gettupleslot(newts, true, false, nslot);

		if (!more_old && !more_new)
			break;
		queue_row(p, more_old ? oslot : NULL, more_new ? nslot : NULL);
	}
	ExecDropSingleTupleTableSlot(oslot);
	ExecDropSingleTupleTableSlot(nslot);
}

/* The trigger's set-up, made once per statement and kept in fn_extra. */
typedef struct HsPushCache
{
	Oid			tgoid;
	HsPush	   *push;
	TupleTableSlot *oslot;
	TupleTableSlot *nslot;
} HsPushCache;

static HsPushCache *
push_cache(FunctionCallInfo fcinfo, TriggerData *td)
{
	HsPushCache *c = fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (c && c->tgoid == td->tg_trigger->tgoid)
		return c;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	c = palloc0(sizeof(HsPushCache));
	c->push = push_setup(td);
	c->push->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hubspot_push row",
											ALLOCSET_DEFAULT_SIZES);
	c->oslot = MakeSingleTupleTableSlot(c->push->desc, &TTSOpsHeapTuple);
	c->nslot = MakeSingleTupleTableSlot(c->push->desc, &TTSOpsHeapTuple);
	c->tgoid = td->tg_trigger->tgoid;
	fcinfo->flinfo->fn_extra = c;
	MemoryContextSwitchTo(old);
	return c;
}

static TupleTableSlot *
row_slot(TupleTableSlot *slot, HeapTuple tuple)
{
	return ExecStoreHeapTuple(tuple, slot, false);
}

Datum
hubspot_push(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HsPushCache *c;
	HsPush	   *p;
	bool		own;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hubspot_push() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hubspot_push() must be an AFTER trigger"),
				 errdetail("A BEFORE trigger could queue rows that a later trigger or constraint rejects.")));
	c = push_cache(fcinfo, td);
	p = c->push;

	/* the statement's writer gathers the rows into packs, written at its end */
	p->writer = hs_queue_stmt_writer();
	own = (p->writer == NULL);
	if (own)
		p->writer = hs_queue_open();
	if (TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		queue_transition(p, td);
	else if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		queue_row(p, NULL, row_slot(c->nslot, td->tg_trigtuple));
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		queue_row(p, row_slot(c->oslot, td->tg_trigtuple), row_slot(c->nslot, td->tg_newtuple));
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		queue_row(p, row_slot(c->oslot, td->tg_trigtuple), NULL);
	if (own)
		hs_queue_close(p->writer);
	p->writer = NULL;
	ExecClearTuple(c->oslot);
	ExecClearTuple(c->nslot);
	return PointerGetDatum(NULL);
}
