/*-------------------------------------------------------------------------
 * modify.h
 *		INSERT / UPDATE / DELETE on hubspot_fdw foreign tables, and the
 *		row-to-properties mapping shared with hubspot_push().
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_MODIFY_H
#define HUBSPOT_MODIFY_H

#include "foreign/fdwapi.h"

#include "convert.h"

/* How the columns of a relation map to HubSpot properties. */
typedef struct HsColumnMap
{
	int			natts;
	char	  **props;			/* NULL: column not sent */
	HsConverter *conv;
	bool	   *is_extra;		/* jsonb catch-all column */
	int			id_attno;		/* HubSpot record id column, 0 if none */
	int			key_attno;		/* column of the id property, 0 if none */
} HsColumnMap;

extern void hs_props_add_column(HsProps *p, HsColumnMap *map, int i,
								Datum value, bool isnull, bool send_null);

extern void hsAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
									  RangeTblEntry *target_rte, Relation target_relation);
extern List *hsPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
								 Index resultRelation, int subplan_index);
extern void hsBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								 List *fdw_private, int subplan_index, int eflags);
extern TupleTableSlot *hsExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot **hsExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
												 TupleTableSlot **slots,
												 TupleTableSlot **planSlots, int *numSlots);
extern int	hsGetForeignModifyBatchSize(ResultRelInfo *rinfo);
extern TupleTableSlot *hsExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot *hsExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern void hsEndForeignModify(EState *estate, ResultRelInfo *rinfo);
extern void hsBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo);
extern void hsEndForeignInsert(EState *estate, ResultRelInfo *rinfo);
extern int	hsIsForeignRelUpdatable(Relation rel);
extern void hsExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								   List *fdw_private, int subplan_index,
								   struct ExplainState *es);

#endif							/* HUBSPOT_MODIFY_H */
