/*-------------------------------------------------------------------------
 * queue.c
 *		The queue table behind the hubspot_queue view.
 *
 * Writers (the FDW, hubspot_enqueue, hubspot_push) insert rows directly
 * through the heap and index AMs: ordinary roles hold no privilege on the
 * table, and this is several times cheaper per row than SQL.  The rows are
 * part of the writer's transaction, so a rollback sends nothing; a commit
 * wakes this database's worker through its latch.
 *
 * The worker claims rows in short transactions (SKIP LOCKED), never holds
 * one across an HTTP call, and writes each row's outcome back as jsonb.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "batch.h"
#include "options.h"
#include "queue.h"
#include "worker.h"

#define QUEUE_TABLE		"hubspot_queue_data"
#define QUEUE_PACK		"hubspot_queue_pack"
#define QUEUE_SEQ		"hubspot_queue_data_id_seq"
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
	TimestampTz now;
	Datum		pending;		/* 'pending' as text, made once */
	MemoryContext cxt;			/* the writer's; callers put rows from shorter ones */
	MemoryContext bufcxt;		/* the buffered run's values, reset by each flush */

	/* the buffered run: inputs of one kind, in id order */
	Oid			serverid;
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
 * Statement writers: a row-level trigger puts every row it fires for into
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

static Oid
extension_schema(bool missing_ok)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("hubspot_fdw"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(nsp) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"hubspot_fdw\" is not installed in this database")));
	return nsp;
}

bool
hs_queue_exists(void)
{
	return OidIsValid(extension_schema(true));
}

static Oid
queue_relid(const char *name)
{
	Oid			relid = get_relname_relid(name, extension_schema(false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("hubspot_fdw's queue table \"%s\" is missing", name),
				 errhint("Reinstall the extension.")));
	return relid;
}

/*
 * The writers' relations, looked up once per backend: finding the
 * extension's schema is a catalog scan, which a row-level trigger would
 * otherwise pay on every row it fires for.  An invalidation of any of them
 * (DROP EXTENSION, ALTER EXTENSION ... SET SCHEMA) forgets all three.
 */
typedef struct HsQueueRels
{
	Oid			queue;
	Oid			pack;
	Oid			seq;
} HsQueueRels;

static HsQueueRels rels;

static void
rels_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rels.queue || relid == rels.pack || relid == rels.seq)
		memset(&rels, 0, sizeof(rels));
}

static const HsQueueRels *
queue_rels(void)
{
	static bool callback = false;
	HsQueueRels found;

	if (OidIsValid(rels.queue))
		return &rels;
	if (!callback)
	{
		CacheRegisterRelcacheCallback(rels_invalidate, (Datum) 0);
		callback = true;
	}
	/* the lookups may process invalidations: publish the result at the end */
	found.queue = queue_relid(QUEUE_TABLE);
	found.pack = queue_relid(QUEUE_PACK);
	found.seq = queue_relid(QUEUE_SEQ);
	rels = found;
	return &rels;
}

/* "schema.name", quoted, for SPI */
static char *
queue_name_of(const char *name)
{
	return quote_qualified_identifier(get_namespace_name(extension_schema(false)), name);
}

static char *
queue_name(void)
{
	return queue_name_of(QUEUE_TABLE);
}

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
						QUEUE_SEQ, increment),
				 errdetail("Each writer takes a block of %d queue ids at a time.", HS_MULTI_INSERT),
				 errhint("ALTER SEQUENCE %s INCREMENT BY %d.", QUEUE_SEQ, HS_MULTI_INSERT)));
}

HsQueueWriter *
hs_queue_open(void)
{
	HsQueueWriter *w = palloc0(sizeof(HsQueueWriter));

	if (!hs_worker_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw must be loaded via shared_preload_libraries to queue writes"),
				 errdetail("Queued writes are sent after COMMIT by a background worker."),
				 errhint("Add hubspot_fdw to shared_preload_libraries and restart the server, or call hubspot_batch_*() to send at once.")));
	w->rel = table_open(queue_rels()->queue, RowExclusiveLock);
	w->seqid = queue_rels()->seq;
	check_id_blocks(w->seqid);
	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->slots = palloc0(sizeof(TupleTableSlot *) * HS_PACK_MIN);
	w->capacity = HS_PACK_MIN;
	w->entries = palloc(sizeof(HsQueueEntry) * w->capacity);
	w->cid = GetCurrentCommandId(true);
	w->owner = GetUserId();
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

			slot = w->slots[i] = table_slot_create(w->rel, NULL);
			MemoryContextSwitchTo(old);
		}
		ExecClearTuple(slot);
		values = slot->tts_values;
		nulls = slot->tts_isnull;
		memset(nulls, true, sizeof(bool) * NATTS);
		values[0] = Int64GetDatum(e->id), nulls[0] = false;
		values[1] = ObjectIdGetDatum(w->owner), nulls[1] = false;
		values[2] = ObjectIdGetDatum(w->serverid), nulls[2] = false;
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
		ExecInsertIndexTuples(w->rri, w->slots[i], w->estate, false, false, NULL, NIL);
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
			w->packrel = table_open(queue_rels()->pack, RowExclusiveLock);
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
	values[2] = ObjectIdGetDatum(w->owner);
	values[3] = ObjectIdGetDatum(w->serverid);
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

/* ------------------------------------------------------------------------
 * Worker side (runs as superuser inside the worker's own transactions)
 * ------------------------------------------------------------------------
 */

/* Rows a crash left in 'sending' go back to 'pending': at least once. */
void
hs_queue_recover(void)
{
	char	   *sql = psprintf("UPDATE %s SET state = 'pending' WHERE state = 'sending'",
							   queue_name());

	if (SPI_execute(sql, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not reset sending rows");
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("hubspot_fdw: %llu queued writes caught in sending are pending again",
						(unsigned long long) SPI_processed)));
}

static char *
spi_text(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static int
cmp_row_id(const void *a, const void *b)
{
	int64		x = ((const HsQueueRow *) a)->id;
	int64		y = ((const HsQueueRow *) b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Move the packs with the lowest ids, about limit inputs and at least one
 * pack, into the queue table as pending rows with the ids they were given
 * when queued.  Returns how many packs moved.
 */
static int
unpack(int limit)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = Int32GetDatum(limit);
	bool		isnull;

	if (plan == NULL)
	{
		Oid			type = INT4OID;
		char	   *q = queue_name();
		char	   *p = queue_name_of(QUEUE_PACK);
		char	   *sql = psprintf(
								   "WITH p AS (DELETE FROM %s WHERE first_id IN "
								   "(SELECT first_id FROM (SELECT first_id, "
								   "sum(n) OVER (ORDER BY first_id) - n AS before FROM %s) b "
								   "WHERE before < $1) "
								   "RETURNING *), "
								   "i AS (INSERT INTO %s (id, owner, server_id, object_type, operation, "
								   "id_property, record_key, properties, enqueued_at) "
								   "SELECT u.id, p.owner, p.server_id, p.object_type, p.operation, "
								   "p.id_property, u.record_key, u.properties, p.enqueued_at "
								   "FROM p, unnest(p.ids, p.record_keys, p.properties) "
								   "AS u(id, record_key, properties)) "
								   "SELECT count(*) FROM p",
								   p, p, q);

		plan = SPI_prepare(sql, 1, &type);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the queue unpack: %s", SPI_result_code_string(SPI_result));
	}
	if (SPI_execute_plan(plan, &arg, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not unpack queued writes");
	return (int) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											 &isnull));
}

/*
 * Unpack packs worth about limit rows, then claim up to limit pending rows
 * in id order, skipping paused servers.  A row whose id is above a pack
 * still packed waits: per record, the order of ids is the order of writes.
 * The rows are palloc'd in the caller's context, not SPI's.  *unpacked
 * tells whether packs moved, which is work done even if no row was claimed.
 */
HsQueueRow *
hs_queue_claim(MemoryContext cxt, int limit, Oid *skip_servers, int nskip, int *nrows,
			   int *unpacked)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[2];
	HsQueueRow *rows;
	uint64		i;

	/*
	 * The queue table before the pack table, as writers and DROP EXTENSION
	 * take them: the unpack statement alone would lock the pack table first.
	 */
	LockRelationOid(queue_rels()->queue, RowExclusiveLock);
	*unpacked = unpack(limit);
	if (plan == NULL)
	{
		Oid			types[2] = {OIDARRAYOID, INT4OID};
		char	   *q = queue_name();
		char	   *sql = psprintf(
								   "UPDATE %s q SET state = 'sending', sent_at = now() "
								   "WHERE q.id IN (SELECT id FROM %s WHERE state = 'pending' "
								   "AND server_id <> ALL($1) "
								   "AND id < (SELECT coalesce(min(first_id), 9223372036854775807) FROM %s) "
								   "ORDER BY id LIMIT $2 "
								   "FOR UPDATE SKIP LOCKED) "
								   "RETURNING q.id, q.owner, q.server_id, q.object_type, "
								   "q.operation, q.id_property, q.record_key, q.properties, q.attempts",
								   q, q, queue_name_of(QUEUE_PACK));

		plan = SPI_prepare(sql, 2, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the queue claim: %s", SPI_result_code_string(SPI_result));
	}
	args[0] = PointerGetDatum(construct_array((Datum *) skip_servers, nskip, OIDOID,
											  sizeof(Oid), true, TYPALIGN_INT));
	args[1] = Int32GetDatum(limit);
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim queued writes");

	rows = MemoryContextAllocZero(cxt, sizeof(HsQueueRow) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		HsQueueRow *r = &rows[i];
		MemoryContext old = MemoryContextSwitchTo(cxt);
		bool		isnull;
		Datum		d;
		char	   *op;

		r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		r->serverid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		r->object_type = spi_text(tup, desc, 4);
		op = spi_text(tup, desc, 5);
		if (!hs_op_from_name(op, &r->op))
			r->op = HS_OP_UPSERT;
		r->id_property = spi_text(tup, desc, 6);
		r->record_key = spi_text(tup, desc, 7);
		d = SPI_getbinval(tup, desc, 8, &isnull);
		r->properties = isnull ? NULL : DatumGetJsonbPCopy(d);
		r->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		MemoryContextSwitchTo(old);
	}
	*nrows = (int) SPI_processed;
	qsort(rows, *nrows, sizeof(HsQueueRow), cmp_row_id);
	return rows;
}

/* Write every row's outcome back in one statement. */
void
hs_queue_settle(HsSettle *s, int n)
{
	static SPIPlanPtr plan = NULL;
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *states = palloc(sizeof(Datum) * n);
	Datum	   *results = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	Datum	   *incs = palloc(sizeof(Datum) * n);
	bool	   *rnull = palloc(sizeof(bool) * n);
	bool	   *enull = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		args[5];
	int			i;

	if (n == 0)
		return;
	if (plan == NULL)
	{
		Oid			types[5] = {INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID,
		JSONBARRAYOID, INT4ARRAYOID};
		char	   *sql = psprintf(
								   "UPDATE %s q SET state = u.state, result = u.result, "
								   "error = coalesce(u.error, CASE WHEN u.state = 'done' THEN NULL ELSE q.error END), "
								   "attempts = q.attempts + u.inc, sent_at = now() "
								   "FROM unnest($1, $2, $3, $4, $5) AS u(id, state, result, error, inc) "
								   "WHERE q.id = u.id AND q.state = 'sending'",
								   queue_name());

		plan = SPI_prepare(sql, 5, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the queue settle: %s", SPI_result_code_string(SPI_result));
	}
	for (i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(s[i].id);
		states[i] = CStringGetTextDatum(s[i].state);
		results[i] = s[i].result ? JsonbPGetDatum(s[i].result) : (Datum) 0;
		rnull[i] = s[i].result == NULL;
		errors[i] = s[i].error ? JsonbPGetDatum(s[i].error) : (Datum) 0;
		enull[i] = s[i].error == NULL;
		incs[i] = Int32GetDatum(s[i].attempt);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(states, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_md_array(results, rnull, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_md_array(errors, enull, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(incs, n, INT4OID, 4, true, TYPALIGN_INT));
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not settle queued writes");
}

/* Remove done rows older than the retention, a few at a time. */
int64
hs_queue_cleanup(int retention_s, int limit)
{
	char	   *q = queue_name();
	char	   *sql = psprintf("DELETE FROM %s WHERE id IN (SELECT id FROM %s "
							   "WHERE state = 'done' AND sent_at < now() - make_interval(secs => %d) "
							   "LIMIT %d)", q, q, retention_s, limit);

	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clean up the queue");
	return (int64) SPI_processed;
}

/* Some role with pending rows for a server (to test its token). */
Oid
hs_queue_pending_owner(Oid serverid)
{
	char	   *sql = psprintf("SELECT owner FROM %s WHERE state = 'pending' AND server_id = %u LIMIT 1",
							   queue_name(), serverid);
	bool		isnull;
	Datum		d;

	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		return InvalidOid;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}
