/*-------------------------------------------------------------------------
 * functions.c
 *		SQL functions around the queue: hubspot_enqueue, hubspot_flush,
 *		hubspot_retry, and the status functions behind the views.
 *
 * Ordinary roles hold no privilege on the queue table, so the statements
 * here run as its owner, restricted to the caller's own rows where the
 * caller's identity matters.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "batch.h"
#include "options.h"
#include "queue_write.h"
#include "ratelimit.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(hubspot_enqueue);
PG_FUNCTION_INFO_V1(hubspot_flush);
PG_FUNCTION_INFO_V1(hubspot_retry);
PG_FUNCTION_INFO_V1(hubspot_server_state);
PG_FUNCTION_INFO_V1(hubspot_worker_status_fn);

Datum
hubspot_enqueue(PG_FUNCTION_ARGS)
{
	char	   *opname = text_to_cstring(hs_text_arg(fcinfo, 0, "operation"));
	char	   *object_type = text_to_cstring(hs_text_arg(fcinfo, 1, "object_type"));
	char	   *servername = text_to_cstring(hs_text_arg(fcinfo, 3, "server"));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HsParsedInputs *p;
	HsServer   *server;
	HsQueueWriter *w;
	HsOp		op;
	int			i;

	if (!hs_op_from_name(opname, &op) || op == HS_OP_READ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid operation \"%s\"", opname),
				 errhint("Use \"upsert\", \"update\", \"create\" or \"archive\".")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"inputs\" must not be NULL")));
	hs_check_object_type(object_type);
	server = hs_server_get_by_name(servername);
	(void) hs_token_get(server->serverid, GetUserId());
	p = hs_parse_inputs(op, PG_GETARG_JSONB_P(2));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (p->n == 0)
		return (Datum) 0;
	w = hs_queue_open();
	for (i = 0; i < p->n; i++)
	{
		HsInput    *in = p->inputs[i];
		Jsonb	   *props = in->properties ?
			DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(in->properties))) : NULL;
		Datum		id;
		bool		isnull = false;

		id = Int64GetDatum(hs_queue_put(w, server->serverid, object_type, op,
										in->id_property, in->id, props));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
	hs_queue_close(w);
	return (Datum) 0;
}

/*
 * The queue table's owner: the statements below run as that role.  Also the
 * qualified names of the queue table and (if pack is not NULL) the pack table.
 */
static Oid
queue_owner(FunctionCallInfo fcinfo, char **qualified, char **pack)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			relid = get_relname_relid("hubspot_queue_data", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("hubspot_fdw's queue table is missing")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	*qualified = quote_qualified_identifier(get_namespace_name(nsp), "hubspot_queue_data");
	if (pack)
		*pack = quote_qualified_identifier(get_namespace_name(nsp), "hubspot_queue_pack");
	return owner;
}

static int64
spi_int8(const char *sql, int nargs, Oid *types, Datum *values)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 1) < 0 ||
		SPI_processed != 1)
		elog(ERROR, "hubspot_fdw: query failed: %s", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

static long
interval_ms(Interval *iv)
{
	double		ms = iv->time / 1000.0 + iv->day * 86400000.0 + iv->month * 30.0 * 86400000.0;

	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	return ms > (double) (LONG_MAX / 2) ? LONG_MAX / 2 : (long) ms;
}

/*
 * Wait until every queue row committed before the call is done or failed;
 * return how many are still unsettled (0 = all).
 */
Datum
hubspot_flush(PG_FUNCTION_ARGS)
{
	long		timeout = PG_ARGISNULL(0) ? 60000 : interval_ms(PG_GETARG_INTERVAL_P(0));
	TimestampTz start = GetCurrentTimestamp();
	char	   *q;
	char	   *pack;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int64		target;
	int64		left;
	char	   *count_sql;
	Datum		args[2];
	Oid			types[2] = {INT8OID, XIDOID};

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hubspot_flush() cannot wait inside a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in READ COMMITTED, where it sees the worker's progress.")));
	if (!hs_worker_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw is not in shared_preload_libraries: no worker sends queued writes")));
	owner = queue_owner(fcinfo, &q, &pack);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	target = spi_int8(psprintf("SELECT greatest((SELECT max(id) FROM %s), "
							   "(SELECT max(last_id) FROM %s), 0)", q, pack), 0, NULL, NULL);
	args[0] = Int64GetDatum(target);
	args[1] = TransactionIdGetDatum(GetTopTransactionIdIfAny());
	/* one statement, one snapshot: a pack is either still packed or unpacked */
	count_sql = psprintf("SELECT (SELECT count(*) FROM %s WHERE id <= $1 "
						 "AND state IN ('pending', 'sending') AND NOT (xmin = $2)) + "
						 "(SELECT coalesce(sum(n), 0) FROM %s WHERE first_id <= $1 "
						 "AND NOT (xmin = $2))", q, pack);
	/* look often at first, then less: each look costs the worker too */
	for (long pause = 5;; pause = Min(pause * 3 / 2, 200))
	{
		left = spi_int8(count_sql, 2, types, args);
		if (left == 0 || TimestampDifferenceExceeds(start, GetCurrentTimestamp(), (int) Min(timeout, INT_MAX)))
			break;
		hs_worker_wake(MyDatabaseId);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pause, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	PG_RETURN_INT64(left);
}

/* Put failed rows (the caller's own, or all for a superuser) back to pending. */
Datum
hubspot_retry(PG_FUNCTION_ARGS)
{
	Oid			caller = GetUserId();
	char	   *q;
	Oid			owner = queue_owner(fcinfo, &q, NULL);
	Oid			save_userid;
	int			save_sec;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Oid			types[3] = {INT8ARRAYOID, OIDOID, BOOLOID};
	int64		n;

	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	args[1] = ObjectIdGetDatum(caller);
	args[2] = BoolGetDatum(superuser());
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (SPI_execute_with_args(psprintf("UPDATE %s SET state = 'pending', attempts = 0 "
									   "WHERE state = 'failed' AND ($1 IS NULL OR id = ANY($1)) "
									   "AND ($3 OR pg_catalog.pg_has_role($2, owner, 'USAGE'))", q),
							  3, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hubspot_fdw: could not retry failed rows");
	n = (int64) SPI_processed;
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	if (n > 0)
		hs_queue_mark_queued();
	PG_RETURN_INT64(n);
}

static const char *
pause_name(HsPauseKind k)
{
	switch (k)
	{
		case HS_PAUSE_AUTH:
			return "auth";
		case HS_PAUSE_DAILY:
			return "daily limit";
		case HS_PAUSE_BACKOFF:
			return "backoff";
		default:
			return NULL;
	}
}

Datum
hubspot_server_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HsServerState st[64];
	int			n = hs_server_states(st, 64);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		v[8];
		bool		nl[8] = {0};
		const char *reason = pause_name(st[i].pause_kind);

		v[0] = ObjectIdGetDatum(st[i].serverid);
		v[1] = TimestampTzGetDatum(st[i].paused_until);
		nl[1] = reason == NULL;
		v[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		nl[2] = reason == NULL;
		v[3] = CStringGetTextDatum(st[i].last_error);
		nl[3] = st[i].last_error[0] == '\0';
		v[4] = Int32GetDatum(st[i].budget_used);
		v[5] = Int32GetDatum(st[i].budget_max);
		nl[5] = st[i].budget_max < 0;
		v[6] = Int32GetDatum(st[i].hs_remaining);
		nl[6] = st[i].hs_remaining < 0;
		v[7] = Int64GetDatum(st[i].hs_daily_remaining);
		nl[7] = st[i].hs_daily_remaining < 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	return (Datum) 0;
}

/* Servers of this database that are paused, "name (reason)", comma-separated. */
static char *
paused_list(HsServerState *st, int n, int *remaining, long *daily)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	*remaining = -1;
	*daily = -1;
	for (i = 0; i < n; i++)
	{
		ForeignServer *fs = GetForeignServerExtended(st[i].serverid, FSV_MISSING_OK);
		const char *reason = pause_name(st[i].pause_kind);

		if (st[i].hs_remaining >= 0)
			*remaining = *remaining < 0 ? st[i].hs_remaining : Min(*remaining, st[i].hs_remaining);
		if (st[i].hs_daily_remaining >= 0)
			*daily = *daily < 0 ? st[i].hs_daily_remaining : Min(*daily, st[i].hs_daily_remaining);
		if (reason && fs)
			appendStringInfo(&buf, "%s%s (%s)", buf.len ? ", " : "", fs->servername, reason);
	}
	return buf.len ? buf.data : NULL;
}

Datum
hubspot_worker_status_fn(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HsWorkerInfo w[64];
	HsServerState st[64];
	int			n = hs_worker_infos(w, 64);
	int			ns = hs_server_states(st, 64);
	int			remaining;
	long		daily;
	char	   *paused = paused_list(st, ns, &remaining, &daily);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		v[15];
		bool		nl[15] = {0};
		char	   *db = get_database_name(w[i].dboid);
		bool		here = w[i].dboid == MyDatabaseId;

		v[0] = CStringGetDatum(db ? db : "?");
		if (db)
			v[0] = DirectFunctionCall1(namein, CStringGetDatum(db));
		else
			nl[0] = true;
		v[1] = Int32GetDatum(w[i].pid);
		nl[1] = w[i].pid == 0;
		v[2] = CStringGetTextDatum(w[i].state);
		v[3] = Int64GetDatum(w[i].calls.calls_2xx);
		v[4] = Int64GetDatum(w[i].calls.calls_4xx);
		v[5] = Int64GetDatum(w[i].calls.calls_5xx);
		v[6] = Int64GetDatum(w[i].calls.calls_failed);
		v[7] = Int64GetDatum(w[i].calls.calls_429);
		v[8] = Int64GetDatum(w[i].rows_done);
		v[9] = Int64GetDatum(w[i].rows_failed);
		v[10] = Int32GetDatum(remaining);
		nl[10] = !here || remaining < 0;
		v[11] = Int64GetDatum(daily);
		nl[11] = !here || daily < 0;
		v[12] = paused ? CStringGetTextDatum(paused) : (Datum) 0;
		nl[12] = !here || paused == NULL;
		v[13] = CStringGetTextDatum(w[i].last_error);
		nl[13] = w[i].last_error[0] == '\0';
		v[14] = TimestampTzGetDatum(w[i].last_activity);
		nl[14] = w[i].last_activity == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	return (Datum) 0;
}
