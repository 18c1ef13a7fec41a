/*-------------------------------------------------------------------------
 * queue.h
 *		The queue table: rows written in the user's transaction, claimed
 *		and settled by the worker, and the SQL functions around it.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_QUEUE_H
#define HUBSPOT_QUEUE_H

#include "access/xact.h"
#include "utils/jsonb.h"

#include "hubspot_api.h"

typedef struct HsQueueWriter HsQueueWriter;

/* one claimed row */
typedef struct HsQueueRow
{
	int64		id;
	Oid			owner;
	Oid			serverid;
	char	   *object_type;
	HsOp		op;
	char	   *id_property;
	char	   *record_key;
	Jsonb	   *properties;
	int			attempts;
} HsQueueRow;

/* how a row ends a round */
typedef struct HsSettle
{
	int64		id;
	const char *state;			/* pending, done, failed */
	Jsonb	   *result;
	Jsonb	   *error;
	int			attempt;		/* 1 if this round counts as an attempt */
} HsSettle;

extern HsQueueWriter *hs_queue_open(void);
extern int64 hs_queue_put(HsQueueWriter *w, Oid serverid, const char *object_type,
						  HsOp op, const char *id_property, const char *record_key,
						  Jsonb *properties);
extern void hs_queue_close(HsQueueWriter *w);
extern HsQueueWriter *hs_queue_stmt_writer(void);
extern void hs_queue_statement_end(void);
extern void hs_queue_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									  SubTransactionId parentSubid, void *arg);
extern void hs_queue_xact_callback(XactEvent event, void *arg);
extern void hs_queue_mark_queued(void);

extern bool hs_queue_exists(void);
extern void hs_queue_recover(void);
extern HsQueueRow *hs_queue_claim(MemoryContext cxt, int limit, Oid *skip_servers, int nskip,
								  int *nrows, int *unpacked);
extern void hs_queue_settle(HsSettle *s, int n);
extern int64 hs_queue_cleanup(int retention_s, int limit);
extern Oid	hs_queue_pending_owner(Oid serverid);

#endif							/* HUBSPOT_QUEUE_H */
