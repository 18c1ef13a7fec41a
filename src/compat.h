/*-------------------------------------------------------------------------
 * compat.h
 *		Every difference between the PostgreSQL majors hubspot_fdw builds
 *		against, in one place: 15, 16 (guarded from the 16 sources and
 *		release notes, not tested), 17, 18 and 19.
 *
 * The other files call the hs_* wrappers below with the arguments of the
 * PostgreSQL 15 function they replace, and never test PG_VERSION_NUM
 * themselves.  Include it after postgres.h.
 *
 *	15 -> 16	pg_foreign_server_aclcheck() became object_aclcheck();
 *				RangeTblEntry.checkAsUser moved to RTEPermissionInfo (the
 *				executor has ExecGetResultRelCheckAsUser() and
 *				ForeignScan.checkAsUser instead); ExecInsertIndexTuples()
 *				takes onlySummarizing.
 *	16 -> 17	makeJsonLexContextCstringLen() takes a JsonLexContext first;
 *				create_foreignscan_path() takes fdw_restrictinfo.
 *	17 -> 18	create_foreignscan_path() takes disabled_nodes; ExplainState
 *				and ExplainProperty*() moved to commands/explain_state.h and
 *				commands/explain_format.h (fdwapi.h no longer includes
 *				commands/explain.h).
 *	18 -> 19	pushJsonbValue() builds into a JsonbInState; ExecInsertIndexTuples()
 *				takes flags; fall-through is marked with pg_fallthrough
 *				(-Wimplicit-fallthrough=5 ignores comments); utils/tuplestore.h,
 *				access/htup_details.h (GETSTRUCT) and utils/timestamp.h
 *				(DatumGetTimestampTz) are no longer pulled in by other headers,
 *				so this one includes them.
 *-------------------------------------------------------------------------
 */
#ifndef HS_COMPAT_H
#define HS_COMPAT_H

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_foreign_server.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/pathnodes.h"
#include "nodes/plannodes.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#if PG_VERSION_NUM < 150000
#error "hubspot_fdw needs PostgreSQL 15 or later"
#endif

/* 19 marks an intended fall-through with pg_fallthrough; older majors accept the attribute too. */
#ifndef pg_fallthrough
#if __has_attribute(fallthrough)
#define pg_fallthrough __attribute__((fallthrough))
#else
#define pg_fallthrough ((void) 0)
#endif
#endif

/* USAGE on a foreign server. */
static inline AclResult
hs_foreign_server_aclcheck(Oid serverid, Oid roleid, AclMode mode)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ForeignServerRelationId, serverid, roleid, mode);
#else
	return pg_foreign_server_aclcheck(serverid, roleid, mode);
#endif
}

/* A lexer over len bytes of json (palloc'd in the current context). */
static inline JsonLexContext *
hs_json_lex_context(char *json, int len, int encoding, bool need_escapes)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, encoding, need_escapes);
#else
	return makeJsonLexContextCstringLen(json, len, encoding, need_escapes);
#endif
}

/* Is a pathkey's order descending?  18 names the direction by CompareType. */
static inline bool
hs_pathkey_descending(PathKey *pk)
{
#if PG_VERSION_NUM >= 180000
	return pk->pk_cmptype == COMPARE_GT;
#else
	return pk->pk_strategy == BTGreaterStrategyNumber;
#endif
}

/* create_foreignscan_path() with 15's arguments (no disabled nodes, no fdw_restrictinfo). */
static inline ForeignPath *
hs_create_foreignscan_path(PlannerInfo *root, RelOptInfo *rel, PathTarget *target,
						   double rows, Cost startup_cost, Cost total_cost,
						   List *pathkeys, Relids required_outer,
						   Path *fdw_outerpath, List *fdw_private)
{
#if PG_VERSION_NUM >= 180000
	return create_foreignscan_path(root, rel, target, rows, 0, startup_cost, total_cost,
								   pathkeys, required_outer, fdw_outerpath, NIL, fdw_private);
#elif PG_VERSION_NUM >= 170000
	return create_foreignscan_path(root, rel, target, rows, startup_cost, total_cost,
								   pathkeys, required_outer, fdw_outerpath, NIL, fdw_private);
#else
	return create_foreignscan_path(root, rel, target, rows, startup_cost, total_cost,
								   pathkeys, required_outer, fdw_outerpath, fdw_private);
#endif
}

/* ExecInsertIndexTuples() with 15's arguments (never "only summarizing"). */
static inline List *
hs_exec_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate,
							bool update, bool noDupErr, bool *specConflict,
							List *arbiterIndexes)
{
#if PG_VERSION_NUM >= 190000
	return ExecInsertIndexTuples(rri, estate,
								 (update ? EIIT_IS_UPDATE : 0) | (noDupErr ? EIIT_NO_DUPE_ERROR : 0),
								 slot, arbiterIndexes, specConflict);
#elif PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, update, noDupErr, specConflict,
								 arbiterIndexes, false);
#else
	return ExecInsertIndexTuples(rri, slot, estate, update, noDupErr, specConflict,
								 arbiterIndexes);
#endif
}

/*
 * The user a foreign scan runs as: the view owner's under a view, else the
 * current user.  16 keeps it in the plan; 15 in the range table entry.
 */
static inline Oid
hs_scan_user(ForeignScan *fs, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return OidIsValid(fs->checkAsUser) ? fs->checkAsUser : GetUserId();
#else
	RangeTblEntry *rte = exec_rt_fetch(fs->scan.scanrelid, estate);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/* The user an INSERT/UPDATE/DELETE of a result relation runs as (same rule). */
static inline Oid
hs_result_rel_user(ResultRelInfo *rinfo, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecGetResultRelCheckAsUser(rinfo, estate);
#else
	RangeTblEntry *rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);

	return OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
#endif
}

/*
 * Building a jsonb value with pushJsonbValue(): declare an HsJsonbBuild
 * initialised to {0} and push into it; each push returns the value so far
 * (the complete one after the last WJB_END_*).
 */
#if PG_VERSION_NUM >= 190000
typedef JsonbInState HsJsonbBuild;
#else
typedef struct HsJsonbBuild
{
	JsonbParseState *parseState;
	JsonbValue *result;
} HsJsonbBuild;
#endif

static inline JsonbValue *
hs_push_jsonb_value(HsJsonbBuild *b, JsonbIteratorToken seq, JsonbValue *v)
{
#if PG_VERSION_NUM >= 190000
	pushJsonbValue(b, seq, v);
#else
	b->result = pushJsonbValue(&b->parseState, seq, v);
#endif
	return b->result;
}

#endif							/* HS_COMPAT_H */
