/*-------------------------------------------------------------------------
 * queue.c
 *		The queue's tables, and the worker's side of them.
 *
 * hubspot_queue_data holds one row per queued input and its outcome;
 * hubspot_queue_pack holds inputs that bulk writers queued in packs
 * (queue_write.c writes both).  The worker moves packs into the queue table
 * lowest ids first, claims rows in short transactions (SKIP LOCKED), never
 * holds one across an HTTP call, and writes each row's outcome back as jsonb.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "batch.h"
#include "options.h"
#include "queue.h"
#include "worker.h"

#define QUEUE_TABLE		"hubspot_queue_data"
#define QUEUE_PACK		"hubspot_queue_pack"

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
static HsQueueRels rels;

static void
rels_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rels.queue || relid == rels.pack || relid == rels.seq)
		memset(&rels, 0, sizeof(rels));
}

/*
 * The library writes the queue's columns by position: it must meet the
 * tables of its own release.  After a package upgrade, until ALTER
 * EXTENSION ... UPDATE, the tables are an older release's.
 */
static bool
schema_current(Oid queue)
{
	return get_atttype(queue, 2) == NAMEOID && get_atttype(queue, 3) == TEXTOID;
}

static void
check_schema(Oid queue)
{
	if (!schema_current(queue))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw's SQL objects in this database are older than its library"),
				 errhint("Run ALTER EXTENSION hubspot_fdw UPDATE.")));
}

/* For the worker: is the extension installed, and at this library's release? */
bool
hs_queue_ready(void)
{
	static bool said = false;
	Oid			nsp = extension_schema(true);
	Oid			queue;

	if (!OidIsValid(nsp))
		return false;
	queue = get_relname_relid(QUEUE_TABLE, nsp);
	if (OidIsValid(queue) && schema_current(queue))
		return true;
	if (!said)
		ereport(LOG,
				(errmsg("hubspot_fdw: the extension's SQL objects in database \"%s\" are older than its library; queued rows wait until ALTER EXTENSION hubspot_fdw UPDATE",
						get_database_name(MyDatabaseId))));
	said = true;
	return false;
}

const HsQueueRels *
hs_queue_rels(void)
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
	check_schema(found.queue);
	found.pack = queue_relid(QUEUE_PACK);
	found.seq = queue_relid(HS_QUEUE_SEQ);
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

/* ------------------------------------------------------------------------
 * Worker side (runs as superuser inside the worker's own transactions)
 * ------------------------------------------------------------------------
 */

/*
 * Rows a crash left in 'sending' go back to 'pending': at least once.  A
 * create may have reached HubSpot before the crash and is not idempotent:
 * it becomes 'unknown' for the user to settle, unless it is a create if
 * absent (keyed by a unique property), whose lookup will tell.
 */
void
hs_queue_recover(void)
{
	char	   *sql = psprintf("UPDATE %s SET "
							   "state = CASE WHEN operation = 'create' AND id_property IS NULL "
							   "THEN 'unknown' ELSE 'pending' END, "
							   "error = CASE WHEN operation = 'create' AND id_property IS NULL "
							   "THEN '{\"status\": \"error\", \"category\": \"WORKER_STOPPED\", "
							   "\"message\": \"the worker stopped while this create was being sent: it may or may not exist in HubSpot\"}'::jsonb "
							   "ELSE error END, "
							   "sent_at = now() WHERE state = 'sending'",
							   queue_name());

	if (SPI_execute(sql, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not reset sending rows");
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("hubspot_fdw: %llu queued writes caught in sending are pending again (creates: unknown)",
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
								   "i AS (INSERT INTO %s (id, owner, server, object_type, operation, "
								   "id_property, record_key, properties, enqueued_at) "
								   "SELECT u.id, p.owner, p.server, p.object_type, p.operation, "
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

/* The names of servers (or roles) as a text[] for the queue's columns. */
static ArrayType *
name_array(Oid *oids, int n, bool roles)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
	{
		const char *name;

		if (roles)
			name = GetUserNameFromId(oids[i], true);
		else
		{
			ForeignServer *fs = GetForeignServerExtended(oids[i], FSV_MISSING_OK);

			name = fs ? fs->servername : NULL;
		}
		d[i] = CStringGetTextDatum(name ? name : "");
	}
	return construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Unpack packs worth about limit rows, then claim up to limit pending rows
 * in id order, skipping paused servers.  A row whose id is above a pack
 * still packed waits: per record, the order of ids is the order of writes.
 * The rows are palloc'd in the caller's context, not SPI's.  *unpacked
 * tells whether packs moved, which is work done even if no row was claimed.
 */
HsQueueRow *
hs_queue_claim(MemoryContext cxt, int limit, Oid *skip_servers, int nskip,
			   Oid *skip_pair_server, Oid *skip_pair_owner, int npairs,
			   int *nrows, int *unpacked)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[4];
	HsQueueRow *rows;
	uint64		i;

	/*
	 * The queue table before the pack table, as writers and DROP EXTENSION
	 * take them: the unpack statement alone would lock the pack table first.
	 */
	LockRelationOid(hs_queue_rels()->queue, RowExclusiveLock);
	*unpacked = unpack(limit);
	if (plan == NULL)
	{
		Oid			types[4] = {TEXTARRAYOID, INT4OID, TEXTARRAYOID, TEXTARRAYOID};
		char	   *q = queue_name();
		char	   *sql = psprintf(
								   "UPDATE %s q SET state = 'sending', sent_at = now() "
								   "WHERE q.id IN (SELECT id FROM %s w WHERE state = 'pending' "
								   "AND server <> ALL($1) "
								   "AND NOT EXISTS (SELECT FROM unnest($3, $4) AS s(srv, own) "
								   "WHERE s.srv = server AND s.own = owner) "
								   "AND id < (SELECT coalesce(min(first_id), 9223372036854775807) FROM %s) "
								   "AND (operation NOT IN ('associate', 'dissociate') OR ("
			/* a side search did not find yet, or a failed try: a pause */
								   "NOT (attempts > 0 AND sent_at > now() - interval '" HS_ASSOC_HOLD "') "
			/* after every earlier write of either type has settled */
								   "AND NOT EXISTS (SELECT FROM %s d WHERE d.state IN ('pending', 'sending') "
								   "AND d.id < w.id AND d.server = w.server "
								   "AND d.operation NOT IN ('associate', 'dissociate') "
								   "AND d.object_type IN (split_part(w.object_type, '/', 1), "
								   "split_part(w.object_type, '/', 2))))) "
								   "ORDER BY id LIMIT $2 "
								   "FOR UPDATE SKIP LOCKED) "
								   "RETURNING q.id, q.owner::text, q.server, q.object_type, "
								   "q.operation, q.id_property, q.record_key, q.properties, q.attempts",
								   q, q, queue_name_of(QUEUE_PACK), q);

		plan = SPI_prepare(sql, 4, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the queue claim: %s", SPI_result_code_string(SPI_result));
	}
	args[0] = PointerGetDatum(name_array(skip_servers, nskip, false));
	args[1] = Int32GetDatum(limit);
	args[2] = PointerGetDatum(name_array(skip_pair_server, npairs, false));
	args[3] = PointerGetDatum(name_array(skip_pair_owner, npairs, true));
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
		r->owner_name = spi_text(tup, desc, 2);
		r->server_name = spi_text(tup, desc, 3);
		r->owner = get_role_oid(r->owner_name, true);
		r->serverid = get_foreign_server_oid(r->server_name, true);
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

/*
 * Remove settled rows past their retention, a few at a time: done rows
 * after retention_s, failed, unknown and discarded ones after
 * failed_retention_s (they are kept longer: someone may still act on them).
 */
int64
hs_queue_cleanup(int retention_s, int failed_retention_s, int limit)
{
	char	   *q = queue_name();
	char	   *sql = psprintf("DELETE FROM %s WHERE id IN ("
							   "(SELECT id FROM %s WHERE state = 'done' "
							   "AND sent_at < now() - make_interval(secs => %d) LIMIT %d) "
							   "UNION ALL "
							   "(SELECT id FROM %s WHERE state IN ('failed', 'unknown', 'discarded') "
							   "AND sent_at < now() - make_interval(secs => %d) LIMIT %d))",
							   q, q, retention_s, limit, q, failed_retention_s, limit);

	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clean up the queue");
	return (int64) SPI_processed;
}

/* The roles with pending rows for a server (to test their tokens). */
Oid *
hs_queue_pending_owners(Oid serverid, int *n)
{
	ForeignServer *fs = GetForeignServerExtended(serverid, FSV_MISSING_OK);
	char	   *sql;
	Oid		   *owners;
	uint64		i;

	*n = 0;
	if (fs == NULL)
		return NULL;
	sql = psprintf("SELECT DISTINCT owner::text FROM %s WHERE state = 'pending' "
				   "AND server = %s LIMIT 64",
				   queue_name(), quote_literal_cstr(fs->servername));
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the queue's owners");
	owners = palloc(sizeof(Oid) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		Oid			role = get_role_oid(spi_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), true);

		if (OidIsValid(role))
			owners[(*n)++] = role;
	}
	return owners;
}

/*
 * The latest settled write, before row before[i], of the record that
 * (types[i], props[i], values[i]) names: by its record key, or by the
 * property's value among the properties it wrote (a company created
 * with its domain).  Values compare without case, as HubSpot's lookups
 * do.  One statement for all sides of a round.
 */
void
hs_queue_earlier_writes(const char *server, const char *owner, int n, int64 *before,
						char **types, char **props, char **values, HsEarlierWrite *out)
{
	static SPIPlanPtr plan = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	Datum	   *d[4];
	Datum		args[6];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	uint64		r;
	int			i;

	memset(out, 0, sizeof(HsEarlierWrite) * n);
	if (n == 0)
		return;
	if (plan == NULL)
	{
		Oid			argtypes[6] = {INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID,
		NAMEOID};
		char	   *q = queue_name();
		char	   *sql = psprintf(
								   "WITH k AS (SELECT * FROM unnest($1, $2, $3, $4) WITH ORDINALITY "
								   "AS k(before, t, p, v, i)), "
								   "props AS (SELECT DISTINCT t, p FROM k), "
								   "cand AS (SELECT q.id, q.object_type AS t, "
								   "coalesce(q.id_property, 'hs_object_id') AS p, lower(q.record_key) AS v, "
								   "q.state, q.result, q.error FROM %s q "
								   "WHERE q.server = $5 AND q.owner = $6 AND q.record_key IS NOT NULL "
								   "AND q.operation IN ('upsert', 'update', 'create') AND q.state IN ('done', 'failed') "
								   "UNION ALL "
								   "SELECT q.id, q.object_type, pr.p, lower(q.properties ->> pr.p), "
								   "q.state, q.result, q.error FROM %s q JOIN props pr ON pr.t = q.object_type "
								   "WHERE q.server = $5 AND q.owner = $6 AND q.properties ? pr.p "
								   "AND q.operation IN ('upsert', 'update', 'create') AND q.state IN ('done', 'failed')) "
								   "SELECT DISTINCT ON (k.i) k.i, c.id, c.state, c.result ->> 'id', "
								   "c.error ->> 'message' FROM k JOIN cand c "
								   "ON c.t = k.t AND c.p = k.p AND c.v = lower(k.v) AND c.id < k.before "
								   "ORDER BY k.i, c.id DESC",
								   q, q);

		plan = SPI_prepare(sql, 6, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the earlier writes lookup: %s",
				 SPI_result_code_string(SPI_result));
	}
	for (i = 0; i < 4; i++)
		d[i] = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
	{
		d[0][i] = Int64GetDatum(before[i]);
		d[1][i] = CStringGetTextDatum(types[i]);
		d[2][i] = CStringGetTextDatum(props[i] ? props[i] : "hs_object_id");
		d[3][i] = CStringGetTextDatum(values[i]);
	}
	args[0] = PointerGetDatum(construct_md_array(d[0], NULL, 1, dims, lbs, INT8OID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	for (i = 1; i < 4; i++)
		args[i] = PointerGetDatum(construct_md_array(d[i], NULL, 1, dims, lbs, TEXTOID, -1,
													 false, TYPALIGN_INT));
	args[4] = CStringGetTextDatum(server);
	args[5] = DirectFunctionCall1(namein, CStringGetDatum(owner));
	if (SPI_execute_plan(plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up earlier queued writes");
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		k = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		HsEarlierWrite *w;
		MemoryContext old;

		if (k < 1 || k > n)
			continue;
		w = &out[k - 1];
		old = MemoryContextSwitchTo(cxt);
		w->row = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		w->state = spi_text(tup, desc, 3);
		w->id = spi_text(tup, desc, 4);
		w->message = spi_text(tup, desc, 5);
		MemoryContextSwitchTo(old);
	}
	/* SPI leaves its own context current: what the caller makes next must outlive it */
	MemoryContextSwitchTo(cxt);
}
