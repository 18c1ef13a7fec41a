/* hubspot_fdw--0.2.sql */

\echo Use "CREATE EXTENSION hubspot_fdw" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The foreign data wrapper
-- ---------------------------------------------------------------------------
CREATE FUNCTION hubspot_fdw_handler() RETURNS fdw_handler
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FUNCTION hubspot_fdw_validator(text[], oid) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER hubspot_fdw
	HANDLER hubspot_fdw_handler
	VALIDATOR hubspot_fdw_validator;

-- ---------------------------------------------------------------------------
-- The queue: written in the user's transaction, drained by the worker.
-- Nobody but the extension's own code writes it; roles read it through the
-- hubspot_queue view, which shows them their own rows only.
-- ---------------------------------------------------------------------------
CREATE TABLE hubspot_queue_data (
	id			bigserial NOT NULL,		-- unique by its sequence; no index of its own
	owner		name NOT NULL,			-- role whose user mapping sends the row
	server		text NOT NULL,			-- foreign server; both by name, so that
										-- queued rows survive dump and restore
	object_type text NOT NULL,
	operation	text NOT NULL CHECK (operation IN ('upsert', 'update', 'create', 'archive',
											  'associate', 'dissociate')),
	id_property text,
	record_key	text,
	properties	jsonb,
	state		text NOT NULL DEFAULT 'pending'
				CHECK (state IN ('pending', 'sending', 'done', 'failed', 'unknown', 'discarded')),
	attempts	integer NOT NULL DEFAULT 0,
	enqueued_at timestamptz NOT NULL DEFAULT now(),
	sent_at		timestamptz,
	result		jsonb,
	error		jsonb
);
-- The worker only ever looks for unsettled rows, in id order.  Writers pay
-- for this one index only: done and failed rows get theirs when they settle.
CREATE INDEX hubspot_queue_unsettled ON hubspot_queue_data (id)
	WHERE state IN ('pending', 'sending');
-- hubspot_retry() of failed and unknown rows.
CREATE INDEX hubspot_queue_failed ON hubspot_queue_data (id)
	WHERE state IN ('failed', 'unknown');
-- Retention cleanup of settled rows.
CREATE INDEX hubspot_queue_done ON hubspot_queue_data (sent_at)
	WHERE state = 'done';
-- ... and of the rows kept longer (hubspot_fdw.failed_retention).
CREATE INDEX hubspot_queue_unsent ON hubspot_queue_data (sent_at)
	WHERE state IN ('failed', 'unknown', 'discarded');
-- A queue churns: every row is updated twice and settled rows leave dead
-- entries in the unsettled index, which the worker's claim walks over.
ALTER TABLE hubspot_queue_data SET (autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02);
-- A writer takes its ids a block of 1,000 at a time (one nextval a group of
-- rows, not one a row): ids are unique and in write order, not dense.
ALTER SEQUENCE hubspot_queue_data_id_seq INCREMENT BY 1000;
REVOKE ALL ON hubspot_queue_data FROM PUBLIC;
REVOKE ALL ON SEQUENCE hubspot_queue_data_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('hubspot_queue_data', '');
SELECT pg_catalog.pg_extension_config_dump('hubspot_queue_data_id_seq', '');

-- Bulk writes (a statement-level hubspot_push over many rows, a large INSERT
-- into a foreign table) queue their inputs in packs: one row holds up to
-- 1,000 inputs of one (owner, server, object type, operation), each with its
-- own queue id from the sequence above.  A queue row per input costs about
-- as much as the application's own row; a pack costs a small part of that.
-- The worker unpacks packs into hubspot_queue_data, lowest ids first, before
-- it claims; until then hubspot_queue shows their inputs as pending.
CREATE TABLE hubspot_queue_pack (
	first_id	bigint NOT NULL,		-- ids[1], the lowest
	last_id		bigint NOT NULL,		-- ids[n], the highest
	owner		name NOT NULL,
	server		text NOT NULL,
	object_type text NOT NULL,
	operation	text NOT NULL CHECK (operation IN ('upsert', 'update', 'create', 'archive',
											  'associate', 'dissociate')),
	id_property text,
	enqueued_at timestamptz NOT NULL,
	ids			bigint[] NOT NULL,
	record_keys text[] NOT NULL,
	properties	jsonb[] NOT NULL,
	n			integer NOT NULL		-- how many inputs
);
-- A pack's arrays are tens of kB of repetitive text: lz4 halves to quarters
-- what the writer must write and WAL-log, for less than it saves.  pglz would
-- cost more than it saves, so without lz4 they are stored uncompressed.
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression'
			   AND 'lz4' = ANY (enumvals)) THEN
		ALTER TABLE hubspot_queue_pack ALTER ids SET COMPRESSION lz4,
			ALTER record_keys SET COMPRESSION lz4, ALTER properties SET COMPRESSION lz4;
	ELSE
		ALTER TABLE hubspot_queue_pack ALTER ids SET STORAGE EXTERNAL,
			ALTER record_keys SET STORAGE EXTERNAL, ALTER properties SET STORAGE EXTERNAL;
	END IF;
END $$;
ALTER TABLE hubspot_queue_pack SET (autovacuum_vacuum_threshold = 100,
	autovacuum_vacuum_scale_factor = 0.0);
REVOKE ALL ON hubspot_queue_pack FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('hubspot_queue_pack', '');

CREATE VIEW hubspot_queue WITH (security_barrier) AS
	SELECT q.id, q.server, q.object_type, q.operation,
		   q.id_property, q.record_key, q.properties, q.state, q.attempts,
		   q.enqueued_at, q.sent_at, q.result, q.error
	  FROM hubspot_queue_data q
	 WHERE q.owner IN (SELECT r.rolname FROM pg_catalog.pg_roles r
						WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))
		OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
	UNION ALL
	SELECT u.id, p.server, p.object_type, p.operation,
		   p.id_property, u.record_key, u.properties, 'pending'::text, 0,
		   p.enqueued_at, NULL::timestamptz, NULL::jsonb, NULL::jsonb
	  FROM hubspot_queue_pack p
	 CROSS JOIN LATERAL unnest(p.ids, p.record_keys, p.properties)
		   AS u(id, record_key, properties)
	 WHERE p.owner IN (SELECT r.rolname FROM pg_catalog.pg_roles r
						WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'))
		OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
GRANT SELECT ON hubspot_queue TO PUBLIC;

-- ---------------------------------------------------------------------------
-- Synchronous batch calls: one jsonb row per input, in input order
-- ---------------------------------------------------------------------------
CREATE FUNCTION hubspot_batch_upsert(object_type text, inputs jsonb,
									 server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_upsert' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_update(object_type text, inputs jsonb,
									 server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_update' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_create(object_type text, inputs jsonb,
									 server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_create' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_archive(object_type text, inputs jsonb,
									  server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_archive' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_read(object_type text, inputs jsonb,
								   server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_read' LANGUAGE C VOLATILE;

-- Associations between records of two object types: link and unlink now.
CREATE FUNCTION hubspot_batch_associate(from_type text, to_type text, inputs jsonb,
										server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_associate' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_dissociate(from_type text, to_type text, inputs jsonb,
										 server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_dissociate' LANGUAGE C VOLATILE;

-- ---------------------------------------------------------------------------
-- Queued (transactional) writes
-- ---------------------------------------------------------------------------
CREATE FUNCTION hubspot_enqueue(operation text, object_type text, inputs jsonb,
								server text DEFAULT 'hubspot')
	RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'hubspot_enqueue' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_flush(timeout interval DEFAULT '60 s')
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'hubspot_flush' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_retry(ids bigint[] DEFAULT NULL, properties jsonb DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'hubspot_retry' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_discard(ids bigint[])
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'hubspot_discard' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_push() RETURNS trigger
	AS 'MODULE_PATHNAME', 'hubspot_push' LANGUAGE C;

-- ---------------------------------------------------------------------------
-- Status
-- ---------------------------------------------------------------------------
CREATE FUNCTION hubspot_server_state(OUT server_id oid, OUT server text,
									 OUT paused_until timestamptz, OUT pause_reason text,
									 OUT last_error text,
									 OUT budget_used integer, OUT budget_max integer,
									 OUT budget_window_ms integer,
									 OUT budget_next_free timestamptz,
									 OUT hubspot_max integer, OUT hubspot_remaining integer,
									 OUT hubspot_daily_remaining bigint,
									 OUT daily_limit_until timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'hubspot_server_state' LANGUAGE C VOLATILE;

-- Per server and object type, the caller's own rows (hubspot_queue shows a
-- role its own rows only; a superuser all).  The time to drain is the
-- pending rows at the pace of the last minute, or, with none done in it, at
-- the budget's pace (calls per window, up to 100 rows a call).
CREATE VIEW hubspot_queue_status AS
	WITH q AS (
		SELECT server, object_type,
			   count(*) FILTER (WHERE state = 'pending') AS pending,
			   count(*) FILTER (WHERE state = 'sending') AS sending,
			   count(*) FILTER (WHERE state = 'done') AS done,
			   count(*) FILTER (WHERE state = 'failed') AS failed,
			   count(*) FILTER (WHERE state = 'unknown') AS unknown,
			   count(*) FILTER (WHERE state = 'discarded') AS discarded,
			   count(*) FILTER (WHERE state = 'done' AND sent_at > now() - interval '1 minute')
				   AS done_last_minute,
			   now() - min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending_age,
			   (array_agg(error ORDER BY id DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_row_error
		  FROM hubspot_queue
		 GROUP BY server, object_type)
	SELECT q.server, q.object_type, q.pending, q.sending, q.done, q.failed,
		   q.unknown, q.discarded, q.oldest_pending_age, q.done_last_minute,
		   CASE WHEN q.pending + q.sending = 0 THEN interval '0'
				WHEN q.done_last_minute > 0
				THEN (q.pending + q.sending) * interval '1 minute' / q.done_last_minute
				WHEN st.budget_max > 0
				THEN make_interval(secs => (q.pending + q.sending) * st.budget_window_ms
										   / (st.budget_max * 100 * 1000.0))
		   END AS estimated_drain,
		   st.paused_until, st.pause_reason, st.last_error AS server_error,
		   q.last_row_error AS last_error
	  FROM q
	  LEFT JOIN hubspot_server_state() st ON st.server = q.server;
GRANT SELECT ON hubspot_queue_status TO PUBLIC;

CREATE FUNCTION hubspot_worker_status(OUT database name, OUT pid integer, OUT state text,
									  OUT calls_2xx bigint, OUT calls_4xx bigint,
									  OUT calls_5xx bigint, OUT calls_failed bigint,
									  OUT calls_429 bigint,
									  OUT rows_done bigint, OUT rows_failed bigint,
									  OUT ratelimit_remaining integer,
									  OUT daily_remaining bigint,
									  OUT paused_servers text,
									  OUT last_error text, OUT last_activity timestamptz,
									  OUT budget text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'hubspot_worker_status_fn' LANGUAGE C VOLATILE;

CREATE VIEW hubspot_worker_status AS SELECT * FROM hubspot_worker_status();
GRANT SELECT ON hubspot_worker_status TO PUBLIC;

-- Start this database's worker once CREATE EXTENSION commits (no restart).
CREATE FUNCTION hubspot_fdw_start_worker() RETURNS void
	AS 'MODULE_PATHNAME', 'hubspot_fdw_start_worker' LANGUAGE C;
-- No function runs with the caller's search_path: nothing a caller defines
-- (an operator, a function) can run with the extension's rights.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
			   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
				AND d.objid = p.oid AND d.deptype = 'e'
			   JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'hubspot_fdw'
	LOOP
		EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
	END LOOP;
END $$;

SELECT hubspot_fdw_start_worker();
