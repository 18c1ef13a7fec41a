/*-------------------------------------------------------------------------
 * drain.h
 *		One round of the worker: claim queued rows, merge the writes of
 *		each record, send them, settle each row.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_DRAIN_H
#define HUBSPOT_DRAIN_H

#include "dispatch.h"
#include "queue.h"

typedef struct HsDrainResult
{
	HsDispatchStats calls;
	int64		rows_done;
	int64		rows_failed;
	char		last_error[256];
} HsDrainResult;

typedef struct HsDrainPlan
{
	HsQueueRow *rows;
	int			nrows;
	List	   *groups;			/* HsGroup: one job each */
	List	   *deferred;		/* rows left for the next round */
	List	   *unsendable;		/* HsGroup with no server or no token */
} HsDrainPlan;

extern long hs_drain_wake_ms;
extern char hs_drain_waiting[128];

extern HsDrainPlan *hs_drain_claim(int limit, int *unpacked);
extern void hs_drain_send(HsDrainPlan *plan, HsDrainResult *r);
extern void hs_drain_settle(HsDrainPlan *plan, HsDrainResult *r);
extern void hs_drain_fail_unsettled(HsDrainPlan *plan, const char *message);

#endif							/* HUBSPOT_DRAIN_H */
