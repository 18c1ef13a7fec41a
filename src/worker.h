/*-------------------------------------------------------------------------
 * worker.h
 *		The launcher and the per-database workers that drain the queue.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_WORKER_H
#define HUBSPOT_WORKER_H

#include "access/xact.h"

#include "dispatch.h"

extern bool hs_enabled;
extern int	hs_naptime_ms;
extern int	hs_retention_s;
extern int	hs_failed_retention_s;

extern Size hs_worker_shmem_size(void);
extern void hs_worker_shmem_init(void);
extern void hs_worker_register_launcher(void);
extern bool hs_worker_available(void);
extern void hs_worker_wake(Oid dboid);
extern void hs_worker_start_for_database(Oid dboid);
extern void hs_worker_xact_callback(XactEvent event, void *arg);

/* for hubspot_worker_status */
typedef struct HsWorkerInfo
{
	Oid			dboid;
	int			pid;
	char		state[160];
	HsDispatchStats calls;
	int64		rows_done;
	int64		rows_failed;
	char		last_error[256];
	TimestampTz last_activity;
} HsWorkerInfo;

extern int	hs_worker_infos(HsWorkerInfo *out, int max);

PGDLLEXPORT void hs_launcher_main(Datum arg);
PGDLLEXPORT void hs_worker_main(Datum arg);

#endif							/* HUBSPOT_WORKER_H */
