/*-------------------------------------------------------------------------
 * search.h
 *		WHERE clauses that HubSpot's search endpoint can apply, and the
 *		search request that applies them.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_SEARCH_H
#define HUBSPOT_SEARCH_H

#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"

/* HubSpot's limits (REFERENCE.md section 9, as corrected there) */
#define HS_SEARCH_MAX_GROUPS	5
#define HS_SEARCH_MAX_FILTERS	6	/* in one group; keyset paging takes one */
#define HS_SEARCH_MAX_ALL_FILTERS 18	/* in all groups, keyset filters included */
#define HS_SEARCH_MAX_BODY		3000
#define HS_SEARCH_PAGE			200
#define HS_SEARCH_MAX_RESULTS	10000	/* per query, paging included */

extern List *hs_search_filters(PlannerInfo *root, RelOptInfo *baserel, Oid relid,
							   List **exprs, bool *exact);
extern char *hs_search_sort_property(Node *n, RelOptInfo *baserel, Oid relid);
extern char *hs_search_sorted_body(List *groups, const char *properties_json, const char *prop,
								   bool desc, bool present, int after);
extern List *hs_search_resolve(List *groups, List *exprstates, ExprContext *econtext);
extern char *hs_search_body(List *groups, const char *properties_json, const char *after_id);
extern char *hs_search_describe(List *groups);

#endif							/* HUBSPOT_SEARCH_H */
