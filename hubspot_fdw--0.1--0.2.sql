/* hubspot_fdw--0.1--0.2.sql */

\echo Use "ALTER EXTENSION hubspot_fdw UPDATE TO '0.2'" to load this file. \quit

-- Queue states: unknown (a create whose answer was lost) and discarded.
ALTER TABLE hubspot_queue_data DROP CONSTRAINT hubspot_queue_data_state_check;
ALTER TABLE hubspot_queue_data ADD CONSTRAINT hubspot_queue_data_state_check
	CHECK (state IN ('pending', 'sending', 'done', 'failed', 'unknown', 'discarded'));
DROP INDEX hubspot_queue_failed;
-- ... and of the rows kept longer (hubspot_fdw.failed_retention).
CREATE INDEX hubspot_queue_unsent ON hubspot_queue_data (sent_at)
	WHERE state IN ('failed', 'unknown', 'discarded');
-- hubspot_retry() of failed and unknown rows.
CREATE INDEX hubspot_queue_failed ON hubspot_queue_data (id)
	WHERE state IN ('failed', 'unknown');

-- Associations: queued as operations of their own, and sent now.
ALTER TABLE hubspot_queue_data DROP CONSTRAINT hubspot_queue_data_operation_check;
ALTER TABLE hubspot_queue_data ADD CONSTRAINT hubspot_queue_data_operation_check
	CHECK (operation IN ('upsert', 'update', 'create', 'archive', 'associate', 'dissociate'));
ALTER TABLE hubspot_queue_pack DROP CONSTRAINT hubspot_queue_pack_operation_check;
ALTER TABLE hubspot_queue_pack ADD CONSTRAINT hubspot_queue_pack_operation_check
	CHECK (operation IN ('upsert', 'update', 'create', 'archive', 'associate', 'dissociate'));

-- Associations between records of two object types: link and unlink now.
CREATE FUNCTION hubspot_batch_associate(from_type text, to_type text, inputs jsonb,
										server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_associate' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_batch_dissociate(from_type text, to_type text, inputs jsonb,
										 server text DEFAULT 'hubspot')
	RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'hubspot_batch_dissociate' LANGUAGE C VOLATILE;

-- Fix and retry; dismiss.
DROP FUNCTION hubspot_retry(bigint[]);
CREATE FUNCTION hubspot_retry(ids bigint[] DEFAULT NULL, properties jsonb DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'hubspot_retry' LANGUAGE C VOLATILE;

CREATE FUNCTION hubspot_discard(ids bigint[])
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'hubspot_discard' LANGUAGE C VOLATILE;

-- Queue rows name their role and server by name: they survive pg_dump and
-- a restore into another database or cluster (OIDs would not).  The
-- columns keep their places (the writers fill them by position).
DROP VIEW hubspot_queue_status;
DROP VIEW hubspot_queue;
DROP VIEW hubspot_worker_status;
DROP FUNCTION hubspot_worker_status();
DROP FUNCTION hubspot_server_state();
ALTER TABLE hubspot_queue_data ALTER COLUMN owner TYPE name USING owner::regrole::text;
ALTER TABLE hubspot_queue_data ALTER COLUMN server_id TYPE text USING server_id::text;
ALTER TABLE hubspot_queue_data RENAME COLUMN server_id TO server;
UPDATE hubspot_queue_data q SET server = s.srvname
  FROM pg_catalog.pg_foreign_server s WHERE s.oid::text = q.server;
ALTER TABLE hubspot_queue_pack ALTER COLUMN owner TYPE name USING owner::regrole::text;
ALTER TABLE hubspot_queue_pack ALTER COLUMN server_id TYPE text USING server_id::text;
ALTER TABLE hubspot_queue_pack RENAME COLUMN server_id TO server;
UPDATE hubspot_queue_pack q SET server = s.srvname
  FROM pg_catalog.pg_foreign_server s WHERE s.oid::text = q.server;
-- PostgreSQL 18 names NOT NULL constraints after their column: follow the rename
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['hubspot_queue_data', 'hubspot_queue_pack'] LOOP
		IF EXISTS (SELECT FROM pg_catalog.pg_constraint
					WHERE conname = t || '_server_id_not_null'
					  AND conrelid = pg_catalog.to_regclass(t)) THEN
			EXECUTE pg_catalog.format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I',
									  t, t || '_server_id_not_null', t || '_server_not_null');
		END IF;
	END LOOP;
END $$;

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

