/*-------------------------------------------------------------------------
 * worker.c
 *		The launcher and the per-database workers that drain the queue.
 *
 * The launcher (a static worker) starts one dynamic worker per database
 * at server start; CREATE EXTENSION starts one for its database when it
 * commits.  A worker whose database lacks the extension exits with 0 and is
 * not restarted; one that dies otherwise is restarted by the postmaster.
 * A shared slot per database makes sure only one worker drains it.
 *
 * A round: claim pending rows (short transaction), merge the writes of each
 * record, send them all with hs_dispatch() (no transaction open), write each
 * row's outcome back (short transaction).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "batch.h"
#include "drain.h"
#include "queue.h"
#include "ratelimit.h"
#include "worker.h"

#define HS_MAX_WORKERS		64
#define HS_CLAIM_LIMIT		5000
#define HS_CLEANUP_EVERY_MS	60000
#define HS_AUTH_PAUSE_MS	(3650L * 86400L * 1000L)

bool		hs_enabled = true;
int			hs_naptime_ms = 10000;
int			hs_retention_s = 7 * 86400;
int			hs_failed_retention_s = 30 * 86400;

typedef struct HsWorkerSlot
{
	Oid			dboid;
	int			pid;
	Latch	   *latch;
	HsWorkerInfo info;
} HsWorkerSlot;

typedef struct HsWorkerShared
{
	LWLock	   *lock;
	HsWorkerSlot slots[HS_MAX_WORKERS];
} HsWorkerShared;

static HsWorkerShared *wshared = NULL;
static HsWorkerSlot *my_slot = NULL;
static Oid	start_at_commit = InvalidOid;

Size
hs_worker_shmem_size(void)
{
	return MAXALIGN(sizeof(HsWorkerShared));
}

void
hs_worker_shmem_init(void)
{
	bool		found;

	wshared = ShmemInitStruct("hubspot_fdw workers", sizeof(HsWorkerShared), &found);
	if (!found)
	{
		memset(wshared, 0, sizeof(HsWorkerShared));
		wshared->lock = &(GetNamedLWLockTranche("hubspot_fdw_workers"))->lock;
	}
}

bool
hs_worker_available(void)
{
	return wshared != NULL;
}

void
hs_worker_wake(Oid dboid)
{
	int			i;

	if (wshared == NULL)
		return;
	for (i = 0; i < HS_MAX_WORKERS; i++)
	{
		HsWorkerSlot *s = &wshared->slots[i];

		if (s->dboid == dboid && s->pid != 0 && s->latch != NULL)
			SetLatch(s->latch);
	}
}

void
hs_worker_register_launcher(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "hubspot_fdw");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "hs_launcher_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "hubspot_fdw launcher");
	snprintf(w.bgw_type, BGW_MAXLEN, "hubspot_fdw launcher");
	RegisterBackgroundWorker(&w);
}

void
hs_worker_start_for_database(Oid dboid)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "hubspot_fdw");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "hs_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "hubspot_fdw worker for database %u", dboid);
	snprintf(w.bgw_type, BGW_MAXLEN, "hubspot_fdw worker");
	w.bgw_main_arg = ObjectIdGetDatum(dboid);
	if (!RegisterDynamicBackgroundWorker(&w, NULL))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a hubspot_fdw worker for database %u", dboid),
				 errhint("Raise max_worker_processes.")));
}

/* ------------------------------------------------------------------------
 * CREATE EXTENSION: start this database's worker once the creation commits
 * ------------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(hubspot_fdw_start_worker);

Datum
hubspot_fdw_start_worker(PG_FUNCTION_ARGS)
{
	if (!hs_worker_available())
		ereport(WARNING,
				(errmsg("hubspot_fdw is not in shared_preload_libraries: queued writes will not be sent"),
				 errhint("Add hubspot_fdw to shared_preload_libraries and restart; hubspot_batch_*() work without it.")));
	else
		start_at_commit = MyDatabaseId;
	PG_RETURN_VOID();
}

void
hs_worker_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && OidIsValid(start_at_commit))
		hs_worker_start_for_database(start_at_commit);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		start_at_commit = InvalidOid;
}

/* ------------------------------------------------------------------------
 * The launcher
 * ------------------------------------------------------------------------
 */
static List *
database_list(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			dbs = lappend_oid(dbs, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return dbs;
}

void
hs_launcher_main(Datum arg)
{
	List	   *tried = NIL;
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("hubspot_fdw launcher");
	cxt = AllocSetContextCreate(TopMemoryContext, "hubspot_fdw launcher",
								ALLOCSET_DEFAULT_SIZES);

	/*
	 * New databases are looked at once a minute; one that gets the extension
	 * later starts its worker from CREATE EXTENSION.
	 */
	for (;;)
	{
		List	   *dbs;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(cxt);
		dbs = database_list();
		foreach(lc, dbs)
		{
			Oid			db = lfirst_oid(lc);

			if (list_member_oid(tried, db))
				continue;
			hs_worker_start_for_database(db);
			MemoryContextSwitchTo(TopMemoryContext);
			tried = lappend_oid(tried, db);
			MemoryContextSwitchTo(cxt);
		}
		MemoryContextReset(cxt);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 60000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * Slots
 * ------------------------------------------------------------------------
 */
static void
release_slot(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	LWLockAcquire(wshared->lock, LW_EXCLUSIVE);
	my_slot->pid = 0;
	my_slot->latch = NULL;
	strlcpy(my_slot->info.state, "stopped", sizeof(my_slot->info.state));
	LWLockRelease(wshared->lock);
	my_slot = NULL;
}

static bool
claim_slot(Oid dboid)
{
	HsWorkerSlot *mine = NULL;
	int			i;

	LWLockAcquire(wshared->lock, LW_EXCLUSIVE);
	for (i = 0; i < HS_MAX_WORKERS; i++)
	{
		HsWorkerSlot *s = &wshared->slots[i];

		if (s->dboid == dboid)
		{
			if (s->pid != 0 && s->pid != MyProcPid && kill(s->pid, 0) == 0)
			{
				LWLockRelease(wshared->lock);
				return false;
			}
			mine = s;
			break;
		}
		if (mine == NULL && (s->dboid == InvalidOid ||
							 (s->pid == 0 && !OidIsValid(s->dboid))))
			mine = s;
	}
	if (mine == NULL)
		for (i = 0; i < HS_MAX_WORKERS && mine == NULL; i++)
			if (wshared->slots[i].pid == 0)
				mine = &wshared->slots[i];
	if (mine == NULL)
	{
		LWLockRelease(wshared->lock);
		ereport(LOG, (errmsg("hubspot_fdw: no free worker slot for database %u", dboid)));
		return false;
	}
	if (mine->dboid != dboid)
		memset(mine, 0, sizeof(*mine));
	mine->dboid = dboid;
	mine->pid = MyProcPid;
	mine->latch = MyLatch;
	mine->info.dboid = dboid;
	mine->info.pid = MyProcPid;
	strlcpy(mine->info.state, "starting", sizeof(mine->info.state));
	my_slot = mine;
	LWLockRelease(wshared->lock);
	return true;
}

static void
set_state(const char *state, const char *error)
{
	LWLockAcquire(wshared->lock, LW_EXCLUSIVE);
	strlcpy(my_slot->info.state, state, sizeof(my_slot->info.state));
	if (error)
		strlcpy(my_slot->info.last_error, error, sizeof(my_slot->info.last_error));
	my_slot->info.last_activity = GetCurrentTimestamp();
	LWLockRelease(wshared->lock);
	pgstat_report_activity(STATE_RUNNING, state);
}

int
hs_worker_infos(HsWorkerInfo *out, int max)
{
	int			n = 0;
	int			i;

	if (wshared == NULL)
		return 0;
	LWLockAcquire(wshared->lock, LW_SHARED);
	for (i = 0; i < HS_MAX_WORKERS && n < max; i++)
		if (OidIsValid(wshared->slots[i].dboid))
			out[n++] = wshared->slots[i].info;
	LWLockRelease(wshared->lock);
	return n;
}

/* ------------------------------------------------------------------------
 * The per-database worker
 * ------------------------------------------------------------------------
 */
static bool
begin_tx(void)
{
	bool		exists;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	exists = hs_queue_exists();
	return exists;
}

static void
end_tx(MemoryContext cxt)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

static void
add_stats(HsDrainResult *r)
{
	HsDispatchStats *c = &my_slot->info.calls;

	LWLockAcquire(wshared->lock, LW_EXCLUSIVE);
	c->calls_2xx += r->calls.calls_2xx;
	c->calls_4xx += r->calls.calls_4xx;
	c->calls_5xx += r->calls.calls_5xx;
	c->calls_failed += r->calls.calls_failed;
	c->calls_429 += r->calls.calls_429;
	my_slot->info.rows_done += r->rows_done;
	my_slot->info.rows_failed += r->rows_failed;
	if (r->last_error[0])
		strlcpy(my_slot->info.last_error, r->last_error, sizeof(my_slot->info.last_error));
	LWLockRelease(wshared->lock);
}

/*
 * Send a round's rows.  Nothing HubSpot answers may end the worker: the
 * answer parser reports what it cannot read as a failed call, and should
 * anything still raise an ERROR here (outside any transaction, with no
 * locks held), the rows get an outcome that says so and the worker goes on
 * with the next round.
 */
static void
send_round(HsDrainPlan *plan, HsDrainResult *r, MemoryContext cxt)
{
	PG_TRY();
	{
		hs_drain_send(plan, r);
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		hs_http_abort_all();
		ereport(LOG,
				(errmsg("hubspot_fdw: a round failed while sending: %s", e->message)));
		hs_drain_fail_unsettled(plan, e->message);
		strlcpy(r->last_error, e->message, sizeof(r->last_error));
	}
	PG_END_TRY();
}

/* One round; returns how many rows it claimed, or packs it unpacked. */
static int
worker_round(MemoryContext cxt)
{
	HsDrainResult r;
	HsDrainPlan *plan;
	int			unpacked = 0;

	memset(&r, 0, sizeof(r));
	if (!begin_tx())
	{
		end_tx(cxt);
		ereport(LOG, (errmsg("hubspot_fdw: extension dropped, worker exits")));
		proc_exit(0);
	}
	if (!hs_queue_ready())
	{
		end_tx(cxt);
		return 0;
	}
	MemoryContextSwitchTo(cxt);
	plan = hs_drain_claim(HS_CLAIM_LIMIT, &unpacked);
	end_tx(cxt);
	if (plan == NULL)
		return unpacked;

	set_state("sending", NULL);
	send_round(plan, &r, cxt);

	begin_tx();
	MemoryContextSwitchTo(cxt);
	hs_drain_settle(plan, &r);
	end_tx(cxt);
	add_stats(&r);
	return plan->nrows;
}

void
hs_worker_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	MemoryContext cxt;
	TimestampTz last_cleanup = 0;
	bool		exists;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (!claim_slot(dboid))
		proc_exit(0);
	before_shmem_exit(release_slot, 0);
	pgstat_report_appname("hubspot_fdw worker");
	/* the database's search_path is its owner's to set: never ours to follow */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

	cxt = AllocSetContextCreate(TopMemoryContext, "hubspot_fdw round",
								ALLOCSET_DEFAULT_SIZES);
	exists = begin_tx();
	if (exists)
		hs_queue_recover();
	end_tx(cxt);
	if (!exists)
		proc_exit(0);
	ereport(LOG, (errmsg("hubspot_fdw worker started (%s)", hs_http_version())));

	for (;;)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		if (hs_enabled)
			n = worker_round(cxt);
		if (n > 0)
			continue;

		if (TimestampDifferenceExceeds(last_cleanup, GetCurrentTimestamp(),
									   Max(1000, Min(HS_CLEANUP_EVERY_MS,
													 Min(hs_retention_s, hs_failed_retention_s) * 1000L))))
		{
			int64		deleted;
			int			i = 0;

			/* short transactions of 1,000 rows, at most 100,000 an idle moment */
			do
			{
				CHECK_FOR_INTERRUPTS();
				deleted = begin_tx() ?
					hs_queue_cleanup(hs_retention_s, hs_failed_retention_s, 1000) : 0;
				end_tx(cxt);
			} while (deleted >= 1000 && ++i < 100);
			last_cleanup = GetCurrentTimestamp();
		}
		/* say what the worker waits for, when it waits for more than work */
		set_state(!hs_enabled ? "disabled" : hs_drain_waiting[0] ? hs_drain_waiting : "idle", NULL);
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 hs_drain_wake_ms > 0 ? Min(hs_naptime_ms, hs_drain_wake_ms) : hs_naptime_ms,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
