/*-------------------------------------------------------------------------
 * resolve.h
 *		Archive by unique value: look the record ids up first.
 *
 * HubSpot's batch/archive takes record ids only (an idProperty in its
 * inputs is not part of its schema), so an archive keyed by a unique
 * property (email, say) is a batch/read by that property, then an archive
 * of the ids found.  A record not found counts as archived.  The queue's
 * worker and hubspot_batch_archive() both go through here.  A create keyed
 * by a unique property (INSERT ... ON CONFLICT DO NOTHING) is the same
 * lookup, then a create of the records not found: one found is left as it
 * is and its row says so ("existing": true).
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_RESOLVE_H
#define HUBSPOT_RESOLVE_H

#include "dispatch.h"

typedef struct HsResolve
{
	HsJob	   *job;			/* the archive job, keyed by unique values */
	HsJob	   *read;			/* the lookup */
	HsJob	   *sub;			/* the archive of the ids found, or NULL */
	int		   *map;			/* sub's input k is job's input map[k] */
} HsResolve;

extern bool hs_resolve_needed(HsJob *job);
extern HsJob *hs_resolve_begin(HsResolve *r, HsJob *job);
extern HsJob *hs_resolve_lookup_done(HsResolve *r);
extern void hs_resolve_finish(HsResolve *r);

#endif							/* HUBSPOT_RESOLVE_H */
