/*-------------------------------------------------------------------------
 * hubspot_fdw.c
 *		Foreign data wrapper for HubSpot CRM: module wiring only.
 *
 * _PG_init defines the GUCs and, when preloaded, reserves shared memory
 * and registers the launcher; the handler and validator hand the work to
 * src/.  Data flows one way: SQL entry points -> queue -> worker ->
 * hubspot_api -> http.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "assoc_table.h"
#include "dispatch.h"
#include "import.h"
#include "modify.h"
#include "options.h"
#include "queue_write.h"
#include "ratelimit.h"
#include "scan.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(hubspot_fdw_handler);
PG_FUNCTION_INFO_V1(hubspot_fdw_validator);

static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
hs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hs_ratelimit_shmem_size() + hs_worker_shmem_size());
	RequestNamedLWLockTranche("hubspot_fdw_ratelimit", 1);
	RequestNamedLWLockTranche("hubspot_fdw_workers", 1);
}

static void
hs_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hs_ratelimit_shmem_init();
	hs_worker_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

static void
define_gucs(void)
{
	DefineCustomBoolVariable("hubspot_fdw.enabled",
							 "Whether the workers send queued writes.",
							 "When off, writes stay queued until it is turned on again.",
							 &hs_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hubspot_fdw.naptime",
							"How long an idle worker sleeps between looks at the queue.",
							"Commits wake the worker at once; this is only the fallback.",
							&hs_naptime_ms, 10000, 10, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("hubspot_fdw.retention",
							"How long done queue rows are kept.",
							NULL,
							&hs_retention_s, 7 * 86400, 0, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("hubspot_fdw.failed_retention",
							"How long failed, unknown and discarded queue rows are kept.",
							"Longer than done rows by default: someone may still fix, retry or look at them.",
							&hs_failed_retention_s, 30 * 86400, 0, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("hubspot_fdw.log_calls",
							 "Log every HubSpot call (method, URL, status, time; never the token).",
							 NULL,
							 &hs_log_calls, false, PGC_SUSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("hubspot_fdw");
}

/* Rows a row-level hubspot_push() put during a statement are written at its end. */
static void
hs_executor_end(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	hs_queue_statement_end();
}

/* ... and at the end of a utility statement that fires triggers (COPY). */
static void
hs_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	if (!IsA(pstmt->utilityStmt, TransactionStmt))
		hs_queue_statement_end();
}

void
_PG_init(void)
{
	define_gucs();
	RegisterXactCallback(hs_queue_xact_callback, NULL);
	RegisterSubXactCallback(hs_queue_subxact_callback, NULL);
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = hs_executor_end;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = hs_process_utility;
	RegisterXactCallback(hs_worker_xact_callback, NULL);

	/*
	 * The queue and its workers need shared memory; without preloading, the
	 * synchronous hubspot_batch_* functions still work, and the features
	 * that need the worker say so when used.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hs_shmem_startup;
	hs_worker_register_launcher();
}

/*
 * Association tables (from_type, to_type) are scanned by assoc_table.c;
 * their plans carry its tag, so the executor's calls route by the plan.
 */
static bool
is_assoc_table(Oid relid)
{
	return HS_TABLE_IS_ASSOC(hs_table_get(relid));
}

static void
route_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	if (is_assoc_table(relid))
		hs_assoc_rel_size(root, baserel, relid);
	else
		hsGetForeignRelSize(root, baserel, relid);
}

static void
route_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid)
{
	if (is_assoc_table(relid))
		hs_assoc_paths(root, baserel, relid);
	else
		hsGetForeignPaths(root, baserel, relid);
}

static ForeignScan *
route_plan(PlannerInfo *root, RelOptInfo *baserel, Oid relid, ForeignPath *best_path,
		   List *tlist, List *scan_clauses, Plan *outer_plan)
{
	if (is_assoc_table(relid))
		return hs_assoc_plan(root, baserel, relid, best_path, tlist, scan_clauses, outer_plan);
	return hsGetForeignPlan(root, baserel, relid, best_path, tlist, scan_clauses, outer_plan);
}

#define ASSOC_SCAN(node) hs_assoc_scan_plan((ForeignScan *) (node)->ss.ps.plan)

static void
route_begin(ForeignScanState *node, int eflags)
{
	if (ASSOC_SCAN(node))
		hs_assoc_begin(node, eflags);
	else
		hsBeginForeignScan(node, eflags);
}

static TupleTableSlot *
route_iterate(ForeignScanState *node)
{
	return ASSOC_SCAN(node) ? hs_assoc_iterate(node) : hsIterateForeignScan(node);
}

static void
route_rescan(ForeignScanState *node)
{
	if (ASSOC_SCAN(node))
		hs_assoc_rescan(node);
	else
		hsReScanForeignScan(node);
}

static void
route_end(ForeignScanState *node)
{
	if (!ASSOC_SCAN(node))
		hsEndForeignScan(node);
}

static void
route_explain(ForeignScanState *node, ExplainState *es)
{
	if (ASSOC_SCAN(node))
		hs_assoc_explain(node, es);
	else
		hsExplainForeignScan(node, es);
}

Datum
hubspot_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = route_rel_size;
	r->GetForeignPaths = route_paths;
	r->GetForeignPlan = route_plan;
	r->BeginForeignScan = route_begin;
	r->IterateForeignScan = route_iterate;
	r->ReScanForeignScan = route_rescan;
	r->EndForeignScan = route_end;
	r->ExplainForeignScan = route_explain;

	r->AddForeignUpdateTargets = hsAddForeignUpdateTargets;
	r->PlanForeignModify = hsPlanForeignModify;
	r->BeginForeignModify = hsBeginForeignModify;
	r->ExecForeignInsert = hsExecForeignInsert;
	r->ExecForeignBatchInsert = hsExecForeignBatchInsert;
	r->GetForeignModifyBatchSize = hsGetForeignModifyBatchSize;
	r->ExecForeignUpdate = hsExecForeignUpdate;
	r->ExecForeignDelete = hsExecForeignDelete;
	r->EndForeignModify = hsEndForeignModify;
	r->BeginForeignInsert = hsBeginForeignInsert;
	r->EndForeignInsert = hsEndForeignInsert;
	r->IsForeignRelUpdatable = hsIsForeignRelUpdatable;
	r->ExplainForeignModify = hsExplainForeignModify;

	r->ImportForeignSchema = hsImportForeignSchema;

	PG_RETURN_POINTER(r);
}

Datum
hubspot_fdw_validator(PG_FUNCTION_ARGS)
{
	hs_validate_options(untransformRelOptions(PG_GETARG_DATUM(0)), PG_GETARG_OID(1));
	PG_RETURN_VOID();
}
