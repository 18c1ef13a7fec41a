/* hubspot_fdw--0.1--0.2.sql */

\echo Use "ALTER EXTENSION hubspot_fdw UPDATE TO '0.2'" to load this file. \quit

-- Queue states: unknown (a create whose answer was lost) and discarded.
ALTER TABLE hubspot_queue_data DROP CONSTRAINT hubspot_queue_data_state_check;
ALTER TABLE hubspot_queue_data ADD CONSTRAINT hubspot_queue_data_state_check
	CHECK (state IN ('pending', 'sending', 'done', 'failed', 'unknown', 'discarded'));
DROP INDEX hubspot_queue_failed;
-- hubspot_retry() of failed and unknown rows.
CREATE INDEX hubspot_queue_failed ON hubspot_queue_data (id)
	WHERE state IN ('failed', 'unknown');

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

CREATE VIEW hubspot_queue_status AS
	WITH q AS (
		SELECT server, object_type,
			   count(*) FILTER (WHERE state = 'pending') AS pending,
			   count(*) FILTER (WHERE state = 'sending') AS sending,
			   count(*) FILTER (WHERE state = 'done') AS done,
			   count(*) FILTER (WHERE state = 'failed') AS failed,
			   count(*) FILTER (WHERE state = 'unknown') AS unknown,
			   count(*) FILTER (WHERE state = 'discarded') AS discarded,
			   now() - min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending_age,
			   (array_agg(error ORDER BY id DESC) FILTER (WHERE error IS NOT NULL))[1] AS last_row_error
		  FROM hubspot_queue
		 GROUP BY server, object_type)
	SELECT q.server, q.object_type, q.pending, q.sending, q.done, q.failed,
		   q.oldest_pending_age, q.unknown, q.discarded,
		   st.paused_until, st.pause_reason, st.last_error AS server_error,
		   q.last_row_error AS last_error
	  FROM q
	  LEFT JOIN pg_catalog.pg_foreign_server s ON s.srvname = q.server
	  LEFT JOIN hubspot_server_state() st ON st.server_id = s.oid;
GRANT SELECT ON hubspot_queue_status TO PUBLIC;

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

