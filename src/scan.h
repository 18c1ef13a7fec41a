/*-------------------------------------------------------------------------
 * scan.h
 *		SELECT from a hubspot_fdw foreign table: HubSpot's list endpoint,
 *		page by page, asking only for the properties the query uses.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_SCAN_H
#define HUBSPOT_SCAN_H

#include "commands/explain.h"
#include "compat.h"
#include "foreign/fdwapi.h"
#include "nodes/pathnodes.h"

extern void hsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern void hsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern ForeignScan *hsGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									 Oid foreigntableid, ForeignPath *best_path,
									 List *tlist, List *scan_clauses, Plan *outer_plan);
extern void hsBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *hsIterateForeignScan(ForeignScanState *node);
extern void hsReScanForeignScan(ForeignScanState *node);
extern void hsEndForeignScan(ForeignScanState *node);
extern void hsExplainForeignScan(ForeignScanState *node, ExplainState *es);
extern List *hs_const_text_values(Const *c);

/* shared with modify.c: which column is the HubSpot record id */

#endif							/* HUBSPOT_SCAN_H */
