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

Datum
hubspot_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *r = makeNode(FdwRoutine);

	r->GetForeignRelSize = hsGetForeignRelSize;
	r->GetForeignPaths = hsGetForeignPaths;
	r->GetForeignPlan = hsGetForeignPlan;
	r->BeginForeignScan = hsBeginForeignScan;
	r->IterateForeignScan = hsIterateForeignScan;
	r->ReScanForeignScan = hsReScanForeignScan;
	r->EndForeignScan = hsEndForeignScan;
	r->ExplainForeignScan = hsExplainForeignScan;

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
