/*-------------------------------------------------------------------------
 * queue.h
 *		The queue's tables, and the worker's side of them: unpack, claim,
 *		settle, recover, clean up.  Writers are in queue_write.h.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_QUEUE_H
#define HUBSPOT_QUEUE_H

#include "access/xact.h"
#include "utils/jsonb.h"

#include "hubspot_api.h"

/* the queue sequence: it hands out blocks of ids (queue_write.c) */
#define HS_QUEUE_SEQ	"hubspot_queue_data_id_seq"

/* the queue's relations, looked up once per backend */
typedef struct HsQueueRels
{
	Oid			queue;
	Oid			pack;
	Oid			seq;
} HsQueueRels;

/* one claimed row */
typedef struct HsQueueRow
{
	int64		id;
	Oid			owner;			/* InvalidOid: no role of that name */
	Oid			serverid;		/* InvalidOid: no server of that name */
	char	   *owner_name;		/* as the queue holds them: by name, */
	char	   *server_name;	/* so that they survive dump and restore */
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

/* an association row that waits (search lag, a failed try) is not claimed for this long */
#define HS_ASSOC_HOLD "3 s"

/* the latest settled write of a record named by an association's side */
typedef struct HsEarlierWrite
{
	int64		row;			/* 0: none */
	char	   *state;			/* done or failed */
	char	   *id;				/* done: the record id */
	char	   *message;		/* failed: why */
} HsEarlierWrite;

extern void hs_queue_earlier_writes(const char *server, const char *owner, int n,
									int64 *before, char **types, char **props, char **values,
									HsEarlierWrite *out);
extern const HsQueueRels *hs_queue_rels(void);
extern bool hs_queue_exists(void);
extern bool hs_queue_ready(void);
extern void hs_queue_recover(void);
extern HsQueueRow *hs_queue_claim(MemoryContext cxt, int limit, Oid *skip_servers, int nskip,
								  Oid *skip_pair_server, Oid *skip_pair_owner, int npairs,
								  int *nrows, int *unpacked);
extern void hs_queue_settle(HsSettle *s, int n);
extern int64 hs_queue_cleanup(int retention_s, int failed_retention_s, int limit);
extern Oid *hs_queue_pending_owners(Oid serverid, int *n);

#endif							/* HUBSPOT_QUEUE_H */
