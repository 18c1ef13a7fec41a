/*-------------------------------------------------------------------------
 * assoc.h
 *		Associations: each side's key resolved to a record id, each label
 *		to its type, then HubSpot's association calls.
 *
 * HubSpot's association endpoints take record ids only.  A side given by a
 * unique property (email, a custom unique property) is looked up with
 * batch/read; by any other property (a company's domain) with search,
 * which must find exactly one live record.  The queue's worker resolves
 * what it can from earlier queued writes before it comes here;
 * hubspot_batch_associate() comes here directly.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_ASSOC_H
#define HUBSPOT_ASSOC_H

#include "dispatch.h"
#include "input.h"

typedef struct HsAssocRun
{
	HsServer   *server;
	char	   *token;
	char	   *pair;			/* "from_type/to_type" */
	HsAssoc   **items;
	int			n;
	bool		sync;			/* a SQL function's call: waits, ERRORs */
	HsDispatchStats *stats;
	/* why the run stopped before every item was tried, from its calls */
	HsStop		stop;
	HsCallResult stop_result;
	bool		transient_seen;
} HsAssocRun;

extern void hs_assoc_run(HsAssocRun *run);
extern void hs_assoc_resolve(HsAssocRun *run);
extern Jsonb *hs_assoc_side_error(HsAssoc *a, int s, const char *category,
								  const char *fmt,...) pg_attribute_printf(4, 5);

#endif							/* HUBSPOT_ASSOC_H */
