/*-------------------------------------------------------------------------
 * queue_write.c
 *		Writing the queue in the user's transaction.
 *
 * Writers (the FDW, hubspot_enqueue, hubspot_push) insert directly through
 * the heap and index AMs: ordinary roles hold no privilege on the queue's
 * tables, and this is several times cheaper per row than SQL.  A writer
 * buffers up to 1,000 inputs; a run of inputs of one kind goes in as one
 * hubspot_queue_pack row (arrays of ids, keys and properties), a short one
 * as rows of hubspot_queue_data.  One nextval reserves the ids of a whole
 * run.  Everything is part of the writer's transaction, so a rollback
 * sends nothing; a commit wakes this database's worker through its latch.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "queue.h"
#include "queue_write.h"
#include "worker.h"

#define NATTS			14
#define PACK_NATTS		12

/*
 * Rows are written in groups with table_multi_insert, as COPY does.  The
 * queue's sequence increments by this much: one nextval reserves the ids of
 * a whole group, which keeps them in write order at a thousandth of the cost
 * of a nextval per input.
 */
#define HS_MULTI_INSERT	1000

/*
 * A run of at least this many inputs of one kind goes into one pack row;
 * fewer go in as rows of their own, which the worker claims without the
 * unpacking step (a single-row INSERT stays as quick to send as before).
 */
#define HS_PACK_MIN		32

/* one input waiting in the writer's buffer */
typedef struct HsQueueEntry
{
	int64		id;
	Datum		key;			/* text, or 0 for NULL */
	Datum		props;			/* jsonb, or 0 for NULL */
} HsQueueEntry;

struct HsQueueWriter
{
	Relation	rel;
	Relation	packrel;		/* opened by the first pack */
	Oid			seqid;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	CommandId	cid;
	Oid			owner;
	Datum		owner_name;		/* name: the queue names roles and servers */
	TimestampTz now;
	Datum		pending;		/* 'pending' as text, made once */
	MemoryContext cxt;			/* the writer's; callers put rows from shorter ones */
	MemoryContext bufcxt;		/* the buffered run's values, reset by each flush */

	/* the buffered run: inputs of one kind, in id order */
	Oid			serverid;
	Datum		server_name;	/* text */
	char	   *object_type;
	HsOp		op;
	char	   *id_property;
	int64		first_id;		/* the run's block of ids */
	HsQueueEntry *entries;
	int			nbuf;
	int			capacity;		/* of entries: grows, most writers put one row */

	ResourceOwner resowner;		/* that holds its relations */
	SubTransactionId subxid;	/* a statement writer's subtransaction */
};

/* set when this transaction queued something: wake the worker at commit */
static bool queued_in_xact = false;

/*
 * The block of ids taken last in this backend.  A run whose block is older
 * starts a new one, so that ids follow the order of puts across writers.
 */
static int64 last_block = 0;

/*
 * Statement writers: hubspot_push() puts every row it fires for into
 * one writer per subtransaction, so that a 100,000-row UPDATE queues packs,
 * not 100,000 rows.  The writer is flushed when the statement ends
 * (ExecutorEnd, or ProcessUtility for COPY), when its subtransaction commits
 * and before the transaction commits or prepares; it is dropped, unwritten,
 * when its subtransaction or transaction aborts.  Rows put in a
 * subtransaction are thus always written in that same subtransaction.
 */
#define HS_MAX_STMT_WRITERS 8
static HsQueueWriter *stmt_writers[HS_MAX_STMT_WRITERS];
static int	nstmt_writers = 0;

/* A block of ids must hold a whole group, or ids would repeat. */
static void
check_id_blocks(Oid seqid)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		increment;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seqid);
	increment = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
	ReleaseSysCache(tup);
	if (increment < HS_MULTI_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw's queue sequence \"%s\" increments by " INT64_FORMAT,
						HS_QUEUE_SEQ, increment),
				 errdetail("Each writer takes a block of %d queue ids at a time.", HS_MULTI_INSERT),
				 errhint("ALTER SEQUENCE %s INCREMENT BY %d.", HS_QUEUE_SEQ, HS_MULTI_INSERT)));
}

HsQueueWriter *
hs_queue_open(void)
{
	return hs_queue_open_as(GetUserId());
}

/*
 * A writer whose rows go out with owner's user mapping: a foreign table
 * reached through a view is written with the view owner's, as PostgreSQL
 * checks its privileges.
 */
HsQueueWriter *
hs_queue_open_as(Oid owner)
{
	HsQueueWriter *w = palloc0(sizeof(HsQueueWriter));

	if (!hs_worker_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw must be loaded via shared_preload_libraries to queue writes"),
				 errdetail("Queued writes are sent after COMMIT by a background worker."),
				 errhint("Add hubspot_fdw to shared_preload_libraries and restart the server, or call hubspot_batch_*() to send at once.")));
	w->rel = table_open(hs_queue_rels()->queue, RowExclusiveLock);
	w->seqid = hs_queue_rels()->seq;
	check_id_blocks(w->seqid);
	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->slots = palloc0(sizeof(TupleTableSlot *) * HS_PACK_MIN);
	w->capacity = HS_PACK_MIN;
	w->entries = palloc(sizeof(HsQueueEntry) * w->capacity);
	w->cid = GetCurrentCommandId(true);
	w->owner = owner;
	w->owner_name = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(owner, false)));
	w->now = GetCurrentTransactionStartTimestamp();
	w->pending = CStringGetTextDatum("pending");
	w->cxt = CurrentMemoryContext;
	w->resowner = CurrentResourceOwner;
	w->bufcxt = AllocSetContextCreate(CurrentMemoryContext, "hubspot_fdw queue writer",
									  ALLOCSET_DEFAULT_SIZES);
	return w;
}

/* A short run: one queue row per input. */
static void
write_rows(HsQueueWriter *w)
{
	Datum		object_type = CStringGetTextDatum(w->object_type);
	Datum		operation = CStringGetTextDatum(hs_op_name(w->op));
	Datum		id_property = w->id_property ? CStringGetTextDatum(w->id_property) : (Datum) 0;
	int			i;

	Assert(w->nbuf < HS_PACK_MIN);
	for (i = 0; i < w->nbuf; i++)
	{
		HsQueueEntry *e = &w->entries[i];
		TupleTableSlot *slot = w->slots[i];
		Datum	   *values;
		bool	   *nulls;

		if (slot == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(w->cxt);
			ResourceOwner save = CurrentResourceOwner;

			/*
			 * The slot pins the tuple descriptor until the writer closes: in
			 * the writer's resource owner, whichever statement or trigger
			 * flushes first (a trigger mixing records and links does).
			 */
			CurrentResourceOwner = w->resowner;
			PG_TRY();
			{
				slot = w->slots[i] = table_slot_create(w->rel, NULL);
			}
			PG_FINALLY();
			{
				CurrentResourceOwner = save;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(old);
		}
		ExecClearTuple(slot);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		memset(nulls, true, sizeof(bool) * NATTS);
		values[0] = Int64GetDatum(e->id), nulls[0] = false;
		values[1] = w->owner_name, nulls[1] = false;
		values[2] = w->server_name, nulls[2] = false;
		values[3] = object_type, nulls[3] = false;
		values[4] = operation, nulls[4] = false;
		values[5] = id_property, nulls[5] = (w->id_property == NULL);
		values[6] = e->key, nulls[6] = (e->key == (Datum) 0);
		values[7] = e->props, nulls[7] = (e->props == (Datum) 0);
		values[8] = w->pending, nulls[8] = false;
		values[9] = Int32GetDatum(0), nulls[9] = false;
		values[10] = TimestampTzGetDatum(w->now), nulls[10] = false;
		ExecStoreVirtualTuple(slot);
	}
	table_multi_insert(w->rel, w->slots, w->nbuf, w->cid, 0, NULL);
	for (i = 0; i < w->nbuf; i++)
	{
		hs_exec_insert_index_tuples(w->rri, w->slots[i], w->estate, false, false, NULL, NIL);
		ResetPerTupleExprContext(w->estate);
		ExecClearTuple(w->slots[i]);
	}
}

/* A long run: one pack row holds every input of it. */
static void
write_pack(HsQueueWriter *w)
{
	Datum		values[PACK_NATTS];
	bool		nulls[PACK_NATTS];
	Datum	   *ids = palloc(sizeof(Datum) * w->nbuf);
	Datum	   *keys = palloc(sizeof(Datum) * w->nbuf);
	Datum	   *props = palloc(sizeof(Datum) * w->nbuf);
	bool	   *knull = palloc(sizeof(bool) * w->nbuf);
	bool	   *pnull = palloc(sizeof(bool) * w->nbuf);
	int			dims[1] = {w->nbuf};
	int			lbs[1] = {1};
	int			i;

	if (w->packrel == NULL)
	{
		/* held until the writer closes, which may be in another statement */
		ResourceOwner save = CurrentResourceOwner;

		CurrentResourceOwner = w->resowner;
		PG_TRY();
		{
			w->packrel = table_open(hs_queue_rels()->pack, RowExclusiveLock);
		}
		PG_FINALLY();
		{
			CurrentResourceOwner = save;
		}
		PG_END_TRY();
	}
	for (i = 0; i < w->nbuf; i++)
	{
		ids[i] = Int64GetDatum(w->entries[i].id);
		keys[i] = w->entries[i].key;
		knull[i] = (keys[i] == (Datum) 0);
		props[i] = w->entries[i].props;
		pnull[i] = (props[i] == (Datum) 0);
	}
	memset(nulls, false, sizeof(nulls));
	values[0] = Int64GetDatum(w->entries[0].id);
	values[1] = Int64GetDatum(w->entries[w->nbuf - 1].id);
	values[2] = w->owner_name;
	values[3] = w->server_name;
	values[4] = CStringGetTextDatum(w->object_type);
	values[5] = CStringGetTextDatum(hs_op_name(w->op));
	values[6] = w->id_property ? CStringGetTextDatum(w->id_property) : (Datum) 0;
	nulls[6] = (w->id_property == NULL);
	values[7] = TimestampTzGetDatum(w->now);
	values[8] = PointerGetDatum(construct_array(ids, w->nbuf, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[9] = PointerGetDatum(construct_md_array(keys, knull, 1, dims, lbs, TEXTOID, -1,
												   false, TYPALIGN_INT));
	values[10] = PointerGetDatum(construct_md_array(props, pnull, 1, dims, lbs, JSONBOID, -1,
													false, TYPALIGN_INT));
	values[11] = Int32GetDatum(w->nbuf);
	heap_insert(w->packrel, heap_form_tuple(RelationGetDescr(w->packrel), values, nulls),
				w->cid, 0, NULL);
}

static void
flush_run(HsQueueWriter *w)
{
	MemoryContext old;

	if (w->nbuf == 0)
		return;
	old = MemoryContextSwitchTo(w->bufcxt);
	if (w->nbuf >= HS_PACK_MIN)
		write_pack(w);
	else
		write_rows(w);
	MemoryContextSwitchTo(old);
	MemoryContextReset(w->bufcxt);
	w->nbuf = 0;
}

static bool
same_text(const char *a, const char *b)
{
	return a == NULL ? b == NULL : (b != NULL && strcmp(a, b) == 0);
}

int64
hs_queue_put(HsQueueWriter *w, Oid serverid, const char *object_type, HsOp op,
			 const char *id_property, const char *record_key, Jsonb *properties)
{
	MemoryContext old;
	HsQueueEntry *e;

	if (w->nbuf > 0 && (serverid != w->serverid || op != w->op ||
						!same_text(object_type, w->object_type) ||
						!same_text(id_property, w->id_property) ||
						w->first_id != last_block))
		flush_run(w);
	old = MemoryContextSwitchTo(w->bufcxt);
	if (w->nbuf == 0)
	{
		w->server_name = CStringGetTextDatum(GetForeignServer(serverid)->servername);
		w->serverid = serverid;
		w->object_type = pstrdup(object_type);
		w->op = op;
		w->id_property = id_property ? pstrdup(id_property) : NULL;
	}
	if (w->nbuf == w->capacity)
	{
		w->capacity = Min(w->capacity * 4, HS_MULTI_INSERT);
		w->entries = repalloc(w->entries, sizeof(HsQueueEntry) * w->capacity);
	}
	/* the values live in the caller's row context: keep copies until the flush */
	e = &w->entries[w->nbuf++];
	if (w->nbuf == 1)
		last_block = w->first_id = nextval_internal(w->seqid, false);
	e->id = w->first_id + w->nbuf - 1;
	e->key = record_key ? CStringGetTextDatum(record_key) : (Datum) 0;
	e->props = properties ? datumCopy(JsonbPGetDatum(properties), false, -1) : (Datum) 0;
	MemoryContextSwitchTo(old);
	if (w->nbuf == HS_MULTI_INSERT)
		flush_run(w);
	queued_in_xact = true;
	return e->id;
}

void
hs_queue_close(HsQueueWriter *w)
{
	int			i;

	flush_run(w);
	for (i = 0; i < HS_PACK_MIN && w->slots[i]; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	ExecCloseIndices(w->rri);
	FreeExecutorState(w->estate);
	if (w->packrel)
		table_close(w->packrel, NoLock);
	table_close(w->rel, NoLock);
	MemoryContextDelete(w->bufcxt);
	pfree(w->entries);
	pfree(w->slots);
	pfree(w);
}

/* Flush and close a statement writer under the resource owner that opened it. */
static void
close_stmt_writer(HsQueueWriter *w)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = w->resowner;
	PG_TRY();
	{
		hs_queue_close(w);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
	}
	PG_END_TRY();
}

/*
 * Close the statement writers of one subtransaction (all, if subxid is
 * invalid); flush them first unless they are being dropped with it.
 */
static void
end_stmt_writers(SubTransactionId subxid, bool flush)
{
	int			i = 0;

	while (i < nstmt_writers)
	{
		HsQueueWriter *w = stmt_writers[i];

		if (subxid != InvalidSubTransactionId && w->subxid != subxid)
		{
			i++;
			continue;
		}
		/* out of the list first: an error while writing must not leave it there */
		stmt_writers[i] = stmt_writers[--nstmt_writers];
		if (flush)
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			close_stmt_writer(w);
			PopActiveSnapshot();
		}
	}
}

/*
 * The current subtransaction's statement writer, opened on first use; NULL
 * if subtransactions nest deeper than we keep writers for (the caller then
 * uses a writer of its own).
 */
HsQueueWriter *
hs_queue_stmt_writer(void)
{
	SubTransactionId cur = GetCurrentSubTransactionId();
	ResourceOwner save = CurrentResourceOwner;
	MemoryContext old;
	HsQueueWriter *w;
	int			i;

	for (i = 0; i < nstmt_writers; i++)
		if (stmt_writers[i]->subxid == cur)
			return stmt_writers[i];
	if (nstmt_writers == HS_MAX_STMT_WRITERS)
		return NULL;
	/* it outlives the statement's resource owner and memory, not the subtransaction */
	old = MemoryContextSwitchTo(CurTransactionContext);
	CurrentResourceOwner = CurTransactionResourceOwner;
	PG_TRY();
	{
		w = hs_queue_open();
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	w->subxid = cur;
	stmt_writers[nstmt_writers++] = w;
	return w;
}

/* A statement ended: write what its row-level triggers queued. */
void
hs_queue_statement_end(void)
{
	if (nstmt_writers > 0)
		end_stmt_writers(GetCurrentSubTransactionId(), true);
}

void
hs_queue_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (nstmt_writers == 0)
		return;
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		end_stmt_writers(mySubid, true);
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		end_stmt_writers(mySubid, false);
}

/* Something this transaction did makes work for the worker after COMMIT. */
void
hs_queue_mark_queued(void)
{
	queued_in_xact = true;
}

void
hs_queue_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* deferred triggers have fired; nothing can be put after this */
			end_stmt_writers(InvalidSubTransactionId, true);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			nstmt_writers = 0;	/* none left after PRE_COMMIT; never carry one over */
			if (queued_in_xact)
				hs_worker_wake(MyDatabaseId);
			queued_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* their relations and memory go with the transaction */
			nstmt_writers = 0;
			queued_in_xact = false;
			break;
		default:
			break;
	}
}
