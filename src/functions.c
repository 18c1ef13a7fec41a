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
#include "convert.h"
#include "input.h"
#include "options.h"
#include "queue_write.h"
#include "ratelimit.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(hubspot_enqueue);
PG_FUNCTION_INFO_V1(hubspot_flush);
PG_FUNCTION_INFO_V1(hubspot_retry);
PG_FUNCTION_INFO_V1(hubspot_discard);
PG_FUNCTION_INFO_V1(hubspot_server_state);
PG_FUNCTION_INFO_V1(hubspot_worker_status_fn);

/* associate / dissociate: one queue row per input, keyed by its pair */
static Datum
enqueue_associations(FunctionCallInfo fcinfo, HsOp op, const char *pair,
					 const char *servername)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HsServer   *server;
	HsAssoc   **items;
	HsQueueWriter *w;
	int			n;
	int			i;

	items = hs_parse_assoc_inputs(op, pair, PG_GETARG_JSONB_P(2), &n);
	server = hs_server_get_by_name(servername);
	(void) hs_token_get(server->serverid, GetUserId());
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (n == 0)
		return (Datum) 0;
	w = hs_queue_open();
	for (i = 0; i < n; i++)
	{
		Datum		id;
		bool		isnull = false;

		id = Int64GetDatum(hs_queue_put(w, server->serverid, pair, op, NULL,
										hs_assoc_key(items[i]),
										hs_assoc_input_jsonb(items[i])));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
	}
	hs_queue_close(w);
	return (Datum) 0;
}

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
				 errhint("Use \"upsert\", \"update\", \"create\", \"archive\", \"associate\" or \"dissociate\".")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"inputs\" must not be NULL")));
	if (HS_OP_IS_ASSOC(op))
		return enqueue_associations(fcinfo, op, object_type, servername);
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

/* The caller's properties as a jsonb object of strings, or NULL. */
static Jsonb *
retry_properties(FunctionCallInfo fcinfo)
{
	Jsonb	   *jb;
	HsProps		props;

	if (PG_ARGISNULL(1))
		return NULL;
	jb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"properties\" must be a JSON object"),
				 errhint("For example: '{\"email\": \"ada@example.com\"}'.")));
	hs_props_init(&props);
	hs_props_add_jsonb(&props, &jb->root, "argument \"properties\"");
	return hs_props_jsonb(&props);
}

/*
 * Run one UPDATE of the caller's own rows (a superuser's: anyone's) as the
 * queue's owner: $1 the ids or NULL, $2 the caller, $3 whether superuser,
 * $4 the properties or NULL.  Returns how many rows it changed.
 */
static int64
update_own_rows(FunctionCallInfo fcinfo, const char *sql_fmt, Jsonb *props)
{
	char	   *q;
	Oid			owner = queue_owner(fcinfo, &q, NULL);
	Oid			save_userid;
	int			save_sec;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Oid			types[4] = {INT8ARRAYOID, OIDOID, BOOLOID, JSONBOID};
	int64		n;

	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	args[1] = ObjectIdGetDatum(GetUserId());
	args[2] = BoolGetDatum(superuser());
	args[3] = props ? JsonbPGetDatum(props) : (Datum) 0;
	nulls[3] = props ? ' ' : 'n';
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	if (SPI_execute_with_args(psprintf(sql_fmt, q), 4, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "hubspot_fdw: could not update queued rows");
	n = (int64) SPI_processed;
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	return n;
}

/*
 * Put the caller's failed and unknown rows (all, or the given ids) back to
 * pending, with properties merged over each row's own.  Every operator and
 * function below is schema-qualified: the caller's search_path plays no part.
 */
Datum
hubspot_retry(PG_FUNCTION_ARGS)
{
	Jsonb	   *props = retry_properties(fcinfo);
	int64		n;

	n = update_own_rows(fcinfo,
						"UPDATE %s SET state = 'pending', attempts = 0, "
						"properties = CASE WHEN $4 IS NULL OR operation OPERATOR(pg_catalog.=) 'archive' "
						"THEN properties ELSE pg_catalog.jsonb_concat(coalesce(properties, '{}'), $4) END "
						"WHERE state OPERATOR(pg_catalog.=) ANY ('{failed,unknown}'::pg_catalog.text[]) "
						"AND ($1 IS NULL OR id OPERATOR(pg_catalog.=) ANY ($1)) "
						"AND ($3 OR owner OPERATOR(pg_catalog.=) ANY (SELECT r.rolname FROM pg_catalog.pg_roles r "
									"WHERE pg_catalog.pg_has_role($2, r.oid, 'USAGE')))",
						props);
	if (n > 0)
		hs_queue_mark_queued();
	PG_RETURN_INT64(n);
}

/*
 * Settle the caller's given pending, failed or unknown rows as discarded;
 * a row being sent is left alone.  Packed rows are unpacked first, so that
 * they can be settled one by one.
 */
Datum
hubspot_discard(PG_FUNCTION_ARGS)
{
	char	   *q;
	char	   *pack;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	Oid			type = INT8ARRAYOID;
	Datum		arg;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"ids\" must not be NULL"),
				 errhint("Name the queue ids to discard, e.g. ARRAY(SELECT id FROM hubspot_queue WHERE state = 'failed').")));
	arg = PG_GETARG_DATUM(0);
	owner = queue_owner(fcinfo, &q, &pack);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	/* the queue table before the pack table, as the worker locks them */
	if (SPI_execute(psprintf("LOCK TABLE %s IN ROW EXCLUSIVE MODE", q), false, 0) != SPI_OK_UTILITY ||
		SPI_execute_with_args(psprintf("WITH p AS (DELETE FROM %s p WHERE p.ids OPERATOR(pg_catalog.&&) $1 "
									   "RETURNING *) "
									   "INSERT INTO %s (id, owner, server, object_type, operation, "
									   "id_property, record_key, properties, enqueued_at) "
									   "SELECT u.id, p.owner, p.server, p.object_type, p.operation, "
									   "p.id_property, u.record_key, u.properties, p.enqueued_at "
									   "FROM p, unnest(p.ids, p.record_keys, p.properties) "
									   "AS u(id, record_key, properties)", pack, q),
							  1, &type, &arg, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "hubspot_fdw: could not unpack queued rows");
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);
	PG_RETURN_INT64(update_own_rows(fcinfo,
									"UPDATE %s SET state = 'discarded', sent_at = pg_catalog.now() "
									"WHERE state OPERATOR(pg_catalog.=) ANY ('{pending,failed,unknown}'::pg_catalog.text[]) "
									"AND id OPERATOR(pg_catalog.=) ANY ($1) "
									"AND ($3 OR owner OPERATOR(pg_catalog.=) ANY (SELECT r.rolname FROM pg_catalog.pg_roles r "
									"WHERE pg_catalog.pg_has_role($2, r.oid, 'USAGE')))",
									NULL));
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

/*
 * The pause that holds the caller's rows on a server: the server's own
 * (daily limit, backoff), else an auth pause of the caller's token (a
 * superuser sees any token's).  errbuf gets its text when the caller may
 * read it: HubSpot's messages can quote another role's values, so a role
 * sees only its own token's error; superusers see every error.
 */
static const char *
pause_for_caller(HsServerState *st, char *errbuf, size_t len)
{
	bool		su = superuser();
	char	   *token;
	uint32		mine;

	errbuf[0] = '\0';
	if (su)
		strlcpy(errbuf, st->last_error, len);
	if (st->pause_kind != HS_PAUSE_NONE)
		return pause_name(st->pause_kind);
	token = hs_token_find(st->serverid, GetUserId());
	mine = token ? hs_token_hash(token) : 0;
	if (mine != 0 && hs_server_auth_error(st->serverid, mine, errbuf, len))
		return "auth";
	if (su && st->nauth > 0)
	{
		(void) hs_server_auth_error(st->serverid, st->auth_tokens[0], errbuf, len);
		return "auth";
	}
	return NULL;
}

/*
 * The budget the caller's rows draw on at a server: their own mapping's
 * token; a superuser without one sees the token the server used last.
 */
static bool
budget_for_caller(HsServerState *st, HsBudgetFigures *f)
{
	char	   *token = hs_token_find(st->serverid, GetUserId());
	uint32		hash = token ? hs_token_hash(token) : (superuser() ? st->last_token : 0);

	if (hash == 0)
		return false;
	hs_ratelimit_figures(hash, hs_server_get(st->serverid)->rate_limit, f);
	return true;
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
		Datum		v[13];
		bool		nl[13] = {0};
		char		err[512];
		const char *reason = pause_for_caller(&st[i], err, sizeof(err));
		bool		auth = reason && strcmp(reason, "auth") == 0;
		ForeignServer *fs = GetForeignServerExtended(st[i].serverid, FSV_MISSING_OK);
		HsBudgetFigures f;
		bool		have = fs && budget_for_caller(&st[i], &f);

		if (fs == NULL)
			continue;
		v[0] = ObjectIdGetDatum(st[i].serverid);
		v[1] = CStringGetTextDatum(fs->servername);
		v[2] = TimestampTzGetDatum(st[i].paused_until);
		/* an auth pause lasts until the token changes: no date to give */
		nl[2] = reason == NULL || auth;
		v[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		nl[3] = reason == NULL;
		v[4] = CStringGetTextDatum(err);
		nl[4] = err[0] == '\0';
		v[5] = Int32GetDatum(have ? f.used : 0);
		nl[5] = !have;
		v[6] = Int32GetDatum(have ? f.calls_per_window : 0);
		nl[6] = !have;
		v[7] = Int32GetDatum(have ? f.window_ms : 0);
		nl[7] = !have;
		v[8] = TimestampTzGetDatum(have ? f.next_free : 0);
		nl[8] = !have;
		v[9] = Int32GetDatum(have ? f.hs_max : 0);
		nl[9] = !have || f.hs_max < 0;
		v[10] = Int32GetDatum(have ? f.hs_remaining : 0);
		nl[10] = !have || f.hs_remaining < 0;
		v[11] = Int64GetDatum(have ? f.hs_daily_remaining : 0);
		nl[11] = !have || f.hs_daily_remaining < 0;
		v[12] = TimestampTzGetDatum(have ? f.daily_until : 0);
		nl[12] = !have || f.daily_until == 0;
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
		char		err[512];
		const char *reason = pause_for_caller(&st[i], err, sizeof(err));
		HsBudgetFigures f;

		if (fs && budget_for_caller(&st[i], &f))
		{
			if (f.hs_remaining >= 0)
				*remaining = *remaining < 0 ? f.hs_remaining : Min(*remaining, f.hs_remaining);
			if (f.hs_daily_remaining >= 0)
				*daily = *daily < 0 ? f.hs_daily_remaining : Min(*daily, f.hs_daily_remaining);
		}
		if (reason && fs)
			appendStringInfo(&buf, "%s%s (%s)", buf.len ? ", " : "", fs->servername, reason);
	}
	return buf.len ? buf.data : NULL;
}

/* "server: used/calls per window s, next call at ...", for each server */
static char *
budget_list(HsServerState *st, int n)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		ForeignServer *fs = GetForeignServerExtended(st[i].serverid, FSV_MISSING_OK);
		HsBudgetFigures f;

		if (fs == NULL || !budget_for_caller(&st[i], &f))
			continue;
		appendStringInfo(&buf, "%s%s: %d of %d calls per %.1f s used, next call %s",
						 buf.len ? "; " : "", fs->servername, f.used, f.calls_per_window,
						 f.window_ms / 1000.0,
						 f.next_free <= GetCurrentTimestamp() ? "now" :
						 psprintf("at %s", timestamptz_to_str(f.next_free)));
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
	char	   *budgets = budget_list(st, ns);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < n; i++)
	{
		Datum		v[16];
		bool		nl[16] = {0};
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
		/* HubSpot's error text can quote a role's values: superusers only */
		v[13] = CStringGetTextDatum(w[i].last_error);
		nl[13] = w[i].last_error[0] == '\0' || !superuser();
		v[14] = TimestampTzGetDatum(w[i].last_activity);
		nl[14] = w[i].last_activity == 0;
		v[15] = budgets ? CStringGetTextDatum(budgets) : (Datum) 0;
		nl[15] = !here || budgets == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	return (Datum) 0;
}
