/*-------------------------------------------------------------------------
 * callworker.c
 *		The hubspot_batch_* functions' calls, made by a background worker.
 *
 * The backend puts the request (operation, object type, server, inputs)
 * into a DSM segment, starts a short-lived worker connected as the same
 * user, and reads the result rows back through a shm_mq.  An ERROR in the
 * worker comes back as the same ERROR (SQLSTATE, message, detail, hint) in
 * the backend, as with parallel query.  A cancel in the backend terminates
 * the worker, whose HTTP wait honours it at once.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/pqcomm.h"
#include "libpq/pqformat.h"
#include "libpq/pqmq.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "batch.h"
#include "callworker.h"

/*
 * Declared in libpq/libpq-be.h, which needs GSSAPI headers we do not
 * otherwise build with; the worker sets it so that its errors travel with
 * all their fields.
 */
extern PGDLLIMPORT ProtocolVersion FrontendProtocol;

#define HS_CALL_MAGIC		0x48534657
#define HS_CALL_QUEUE_SIZE	(256 * 1024)
#define HS_KEY_REQUEST		1
#define HS_KEY_QUEUE		2

typedef struct HsCallRequest
{
	Oid			dboid;
	Oid			session_userid;
	Oid			current_userid;
	int			sec_context;
	int			op;
	Size		object_type_off;
	Size		server_off;
	Size		inputs_off;		/* the inputs' jsonb varlena, as is */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} HsCallRequest;

static HsCallRequest *
build_request(shm_toc *toc, Size size, HsOp op, const char *object_type,
			  Jsonb *inputs, const char *servername)
{
	HsCallRequest *req = shm_toc_allocate(toc, size);
	Size		off = 0;

	req->dboid = MyDatabaseId;
	req->session_userid = GetSessionUserId();
	GetUserIdAndSecContext(&req->current_userid, &req->sec_context);
	req->op = (int) op;
	req->object_type_off = off;
	strcpy(req->data + off, object_type);
	off += strlen(object_type) + 1;
	req->server_off = off;
	strcpy(req->data + off, servername);
	off += strlen(servername) + 1;
	off = MAXALIGN(off);
	req->inputs_off = off;
	memcpy(req->data + off, inputs, VARSIZE(inputs));
	shm_toc_insert(toc, HS_KEY_REQUEST, req);
	return req;
}

/* Read rows until the worker says it is done; its errors become ours. */
static void
receive_rows(shm_mq_handle *mqh, void (*emit) (Jsonb *row, void *arg), void *arg)
{
	for (;;)
	{
		Size		nbytes;
		void	   *data;
		StringInfoData msg;
		char		type;

		if (shm_mq_receive(mqh, &nbytes, &data, false) != SHM_MQ_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("hubspot_fdw call worker exited before it finished")));
		msg.data = data;
		msg.len = (int) nbytes;
		msg.maxlen = (int) nbytes;
		msg.cursor = 0;
		type = pq_getmsgbyte(&msg);
		if (type == 'd')
		{
			Size		len = msg.len - msg.cursor;
			Jsonb	   *row = palloc(len);

			memcpy(row, msg.data + msg.cursor, len);
			emit(row, arg);
		}
		else if (type == 'E' || type == 'N')
		{
			ErrorData	edata;

			pq_parse_errornotice(&msg, &edata);
			if (edata.elevel > ERROR)
				edata.elevel = ERROR;
			ThrowErrorData(&edata);
		}
		else if (type == 'Z')
			return;
	}
}

void
hs_call_in_worker(HsOp op, const char *object_type, Jsonb *inputs, const char *servername,
				  void (*emit) (Jsonb *row, void *arg), void *arg)
{
	Size		req_size = offsetof(HsCallRequest, data) + strlen(object_type) +
		strlen(servername) + 2 + MAXIMUM_ALIGNOF + VARSIZE(inputs);
	shm_toc_estimator e;
	dsm_segment *seg;
	shm_toc    *toc;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	Size		size;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, req_size);
	shm_toc_estimate_chunk(&e, HS_CALL_QUEUE_SIZE);
	shm_toc_estimate_keys(&e, 2);
	size = shm_toc_estimate(&e);
	seg = dsm_create(size, 0);
	toc = shm_toc_create(HS_CALL_MAGIC, dsm_segment_address(seg), size);
	build_request(toc, req_size, op, object_type, inputs, servername);
	mq = shm_mq_create(shm_toc_allocate(toc, HS_CALL_QUEUE_SIZE), HS_CALL_QUEUE_SIZE);
	shm_toc_insert(toc, HS_KEY_QUEUE, mq);
	shm_mq_set_receiver(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_ConsistentState;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "hubspot_fdw");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "hs_call_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "hubspot_fdw call for PID %d", MyProcPid);
	snprintf(w.bgw_type, BGW_MAXLEN, "hubspot_fdw call");
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
	{
		/* no worker slot free: make the calls here rather than fail */
		dsm_detach(seg);
		hs_batch_run(op, object_type, inputs, servername, emit, arg);
		return;
	}
	shm_mq_set_handle(mqh, handle);
	PG_TRY();
	{
		receive_rows(mqh, emit, arg);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(seg);
}

static void
send_row(Jsonb *row, void *arg)
{
	StringInfoData buf;

	pq_beginmessage(&buf, 'd');
	pq_sendbytes(&buf, (const char *) row, VARSIZE(row));
	pq_endmessage(&buf);
}

void
hs_call_worker_main(Datum arg)
{
	dsm_segment *seg;
	shm_toc    *toc;
	HsCallRequest *req;
	shm_mq_handle *mqh;
	shm_mq	   *mq;
	MemoryContext cxt;
	HsBatchCall *call;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hubspot_fdw call worker could not map its request")));
	toc = shm_toc_attach(HS_CALL_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		elog(ERROR, "bad magic number in hubspot_fdw call segment");
	req = shm_toc_lookup(toc, HS_KEY_REQUEST, false);
	mq = shm_toc_lookup(toc, HS_KEY_QUEUE, false);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	/* from here on, our errors and rows go to the calling backend */
	pq_redirect_to_shm_mq(seg, mqh);
	FrontendProtocol = PG_PROTOCOL_LATEST;

	BackgroundWorkerInitializeConnectionByOid(req->dboid, req->session_userid, 0);
	SetUserIdAndSecContext(req->current_userid, req->sec_context);
	pgstat_report_appname("hubspot_fdw call");
	/* the database's search_path is its owner's to set: never ours to follow */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

	/* catalog lookups in a transaction; the HTTP calls after it, holding no snapshot */
	cxt = AllocSetContextCreate(TopMemoryContext, "hubspot_fdw call", ALLOCSET_DEFAULT_SIZES);
	StartTransactionCommand();
	MemoryContextSwitchTo(cxt);
	call = hs_batch_prepare((HsOp) req->op, req->data + req->object_type_off,
							(Jsonb *) (req->data + req->inputs_off), req->data + req->server_off);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	hs_batch_send(call, send_row, NULL);
	{
		StringInfoData done;

		pq_beginmessage(&done, 'Z');
		pq_endmessage(&done);
	}
	proc_exit(0);
}
