/*-------------------------------------------------------------------------
 * assoc_table.h
 *		Foreign tables of associations (from_type, to_type): INSERT links,
 *		DELETE unlinks, SELECT reads.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_ASSOC_TABLE_H
#define HUBSPOT_ASSOC_TABLE_H

#include "compat.h"
#include "foreign/fdwapi.h"
#include "nodes/pathnodes.h"
#include "utils/rel.h"

#include "input.h"
#include "options.h"

typedef struct HsAssocColumns HsAssocColumns;

extern HsAssocColumns *hs_assoc_columns(Relation rel);
extern HsAssoc *hs_assoc_of_row(HsTable *t, Relation rel, HsAssocColumns *c,
								TupleTableSlot *slot, HsOp op);

extern bool hs_assoc_scan_plan(ForeignScan *fs);
extern void hs_assoc_rel_size(PlannerInfo *root, RelOptInfo *baserel, Oid relid);
extern void hs_assoc_paths(PlannerInfo *root, RelOptInfo *baserel, Oid relid);
extern ForeignScan *hs_assoc_plan(PlannerInfo *root, RelOptInfo *baserel, Oid relid,
								  ForeignPath *best_path, List *tlist, List *scan_clauses,
								  Plan *outer_plan);
extern void hs_assoc_begin(ForeignScanState *node, int eflags);
extern TupleTableSlot *hs_assoc_iterate(ForeignScanState *node);
extern void hs_assoc_rescan(ForeignScanState *node);
extern void hs_assoc_explain(ForeignScanState *node, ExplainState *es);

#endif							/* HUBSPOT_ASSOC_TABLE_H */
