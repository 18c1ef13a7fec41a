/*-------------------------------------------------------------------------
 * queue_write.h
 *		Writing the queue in the user's transaction: writers, packs, id
 *		blocks, and the statement writers of row-level triggers.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_QUEUE_WRITE_H
#define HUBSPOT_QUEUE_WRITE_H

#include "access/xact.h"
#include "utils/jsonb.h"

#include "hubspot_api.h"

typedef struct HsQueueWriter HsQueueWriter;

extern HsQueueWriter *hs_queue_open(void);
extern HsQueueWriter *hs_queue_open_as(Oid owner);
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

#endif							/* HUBSPOT_QUEUE_WRITE_H */
