-- Queued writes: INSERT/UPDATE/DELETE on a foreign table and hubspot_enqueue
-- are written in the transaction and sent by the worker after COMMIT.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
-- this database's worker was started by CREATE EXTENSION
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
						   WHERE backend_type = 'hubspot_fdw worker' AND datname = current_database());
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT backend_type, datname = current_database() AS here
  FROM pg_stat_activity WHERE backend_type LIKE 'hubspot_fdw%' ORDER BY 1;

CREATE SCHEMA hubspot;
CREATE FOREIGN TABLE hubspot.contacts (
	id			text,
	email		text,
	firstname	text,
	lastname	text,
	ltv			numeric OPTIONS (property 'lifetime_value'),
	vip			boolean OPTIONS (property 'is_vip'),
	birthdate	date,
	last_seen	timestamptz,
	interests	text[],
	extra		jsonb
) SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');

-- rollback: nothing queued, nothing sent
BEGIN;
INSERT INTO hubspot.contacts (email, firstname) VALUES ('rolled@example.com', 'R');
SELECT count(*) AS queued_in_tx FROM hubspot_queue;
ROLLBACK;
SELECT count(*) AS queued FROM hubspot_queue;

-- commit: delivered; types converted; NULLs not sent; RETURNING shows the row
INSERT INTO hubspot.contacts (email, firstname, lastname, ltv, vip, birthdate, last_seen, interests, extra)
VALUES ('Ada@Example.com', 'Ada', NULL, 1234.50, true, '1815-12-10',
		'2026-11-23 10:30:00.123+01', '{a,c}', '{"city": "London", "phone": 123}')
RETURNING email, firstname, id;
SELECT hubspot_flush() AS unsettled;
SELECT operation, record_key, properties, state, attempts, result->>'id' IS NOT NULL AS has_id, error
  FROM hubspot_queue ORDER BY id;
\! /usr/bin/python3 test/simctl.py get contacts email ada@example.com

-- three writes of one record in one transaction arrive as one input
\! /usr/bin/python3 test/simctl.py clear-requests
BEGIN;
INSERT INTO hubspot.contacts (email, firstname) VALUES ('grace@example.com', 'G1');
INSERT INTO hubspot.contacts (email, firstname, lastname) VALUES ('Grace@example.com', 'G2', 'Hopper');
INSERT INTO hubspot.contacts (email, firstname) VALUES ('grace@example.com', 'Grace');
COMMIT;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py bodies
SELECT record_key, state FROM hubspot_queue WHERE lower(record_key) = 'grace@example.com' ORDER BY id;

-- one invalid email in 100 rows: 99 stored, 1 failed with HubSpot's error
INSERT INTO hubspot.contacts (email, firstname)
SELECT CASE WHEN g = 50 THEN 'broken-email' ELSE 'bulk' || g || '@example.com' END, 'B' || g
  FROM generate_series(1, 100) g;
SELECT hubspot_flush() AS unsettled;
SELECT state, count(*) FROM hubspot_queue WHERE record_key LIKE 'bulk%' OR record_key = 'broken-email'
 GROUP BY state ORDER BY state;
SELECT record_key, attempts, error->>'category' AS category, error->>'message' LIKE '%INVALID_EMAIL%' AS invalid_email
  FROM hubspot_queue WHERE state = 'failed';
\! /usr/bin/python3 test/simctl.py count contacts

-- hubspot_retry puts failed rows back; they fail again
SELECT hubspot_retry() AS retried;
SELECT hubspot_flush() AS unsettled;
SELECT record_key, state, attempts FROM hubspot_queue WHERE state = 'failed';
SELECT hubspot_retry(ARRAY[-1]::bigint[]) AS retried_none;

-- hubspot_enqueue: any operation, sent after commit
SELECT count(*) AS ids FROM hubspot_enqueue('upsert', 'companies',
	'[{"id": "C-1", "idProperty": "company_code", "properties": {"name": "Acme"}},
	  {"id": "C-2", "idProperty": "company_code", "properties": {"name": "Globex"}}]');
SELECT count(*) AS ids FROM hubspot_enqueue('create', 'deals',
	'[{"properties": {"dealname": "Big deal", "amount": 1000}}]');
SELECT * FROM hubspot_enqueue('delete', 'companies', '[]');
SELECT hubspot_flush() AS unsettled;
SELECT object_type, operation, state FROM hubspot_queue WHERE object_type <> 'contacts' ORDER BY id;
\! /usr/bin/python3 test/simctl.py objects companies --props company_code,name

-- UPDATE and DELETE by record id (the scan reads HubSpot's list endpoint)
UPDATE hubspot.contacts SET lastname = 'Lovelace', ltv = NULL WHERE email = 'ada@example.com';
SELECT hubspot_flush() AS unsettled;
SELECT operation, properties, state FROM hubspot_queue WHERE operation = 'update';
\! /usr/bin/python3 test/simctl.py get contacts email ada@example.com
DELETE FROM hubspot.contacts WHERE email = 'bulk7@example.com';
SELECT hubspot_flush() AS unsettled;
SELECT operation, state FROM hubspot_queue WHERE operation = 'archive';
\! /usr/bin/python3 test/simctl.py get contacts email bulk7@example.com
SELECT email, firstname, lastname, vip, birthdate, interests FROM hubspot.contacts
 WHERE email IN ('ada@example.com', 'grace@example.com') ORDER BY email;
EXPLAIN (COSTS OFF) SELECT email FROM hubspot.contacts;
-- the record id and the id_property go to batch/read, not to a full listing
EXPLAIN (COSTS OFF) SELECT email FROM hubspot.contacts WHERE email = 'ada@example.com';
EXPLAIN (COSTS OFF) SELECT email FROM hubspot.contacts WHERE id IN ('1', '2');
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT email, firstname FROM hubspot.contacts WHERE email IN ('ada@example.com', 'nobody@example.com', 'Grace@example.com');
SELECT count(*) AS by_id FROM hubspot.contacts c
 WHERE id = (SELECT result->>'id' FROM hubspot_queue WHERE record_key = 'Ada@Example.com');
\! /usr/bin/python3 test/simctl.py requests | sort
EXPLAIN (COSTS OFF) INSERT INTO hubspot.contacts (email) VALUES ('x@example.com');

-- bad rows fail the statement, not the worker
INSERT INTO hubspot.contacts (firstname) VALUES ('no key');
INSERT INTO hubspot.contacts (id, email) VALUES ('123', 'x@example.com');
INSERT INTO hubspot.contacts (email, extra) VALUES ('x@example.com', '[1,2]');
INSERT INTO hubspot.contacts (email, ltv) VALUES ('x@example.com', 'NaN');
UPDATE hubspot.contacts SET id = '1' WHERE false;

-- delivery 'immediate': sent during the statement, RETURNING sees HubSpot's id
CREATE FOREIGN TABLE hubspot.contacts_now (id text, email text, firstname text)
	SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email', delivery 'immediate');
INSERT INTO hubspot.contacts_now (email, firstname) VALUES ('now@example.com', 'Now')
	RETURNING email, id IS NOT NULL AS has_id;
INSERT INTO hubspot.contacts_now (email, firstname) VALUES ('not an email', 'Bad');
SELECT count(*) AS not_queued FROM hubspot_queue WHERE record_key = 'now@example.com';

-- status views
SELECT server, object_type, pending, sending, done, failed, paused_until
  FROM hubspot_queue_status ORDER BY object_type;
SELECT database = current_database() AS here, state IN ('idle', 'sending') AS running,
	   calls_2xx > 0 AS calls, rows_done > 0 AS done, rows_failed > 0 AS failed
  FROM hubspot_worker_status WHERE database = current_database();

-- roles see only their own queue rows, and cannot write the queue directly
CREATE ROLE hs_alice;
GRANT USAGE ON FOREIGN SERVER hubspot TO hs_alice;
GRANT USAGE ON SCHEMA hubspot TO hs_alice;
GRANT INSERT, SELECT ON hubspot.contacts TO hs_alice;
CREATE USER MAPPING FOR hs_alice SERVER hubspot OPTIONS (access_token 'pat-test');
SET ROLE hs_alice;
SELECT count(*) AS visible FROM hubspot_queue;
INSERT INTO hubspot.contacts (email, firstname) VALUES ('alice@example.com', 'Alice');
SELECT record_key FROM hubspot_queue;
SELECT count(*) FROM hubspot_queue_data;
INSERT INTO hubspot_queue_data (owner, server, object_type, operation) VALUES ('x', 'x', 'x', 'upsert');
SELECT count(*) FROM hubspot_queue_pack;
SELECT umoptions FROM pg_user_mappings WHERE usename = 'postgres';
-- a bulk INSERT goes in as one pack; the view shows its inputs to their owner only
BEGIN;
INSERT INTO hubspot.contacts (email, firstname)
	SELECT 'alice' || g || '@example.com', 'Alice' FROM generate_series(1, 40) g;
SELECT state, count(*) AS mine FROM hubspot_queue WHERE record_key ~ '^alice[0-9]+@' GROUP BY state;
RESET ROLE;
SELECT count(*) AS packs, sum(n) AS inputs, min(owner) AS owner FROM hubspot_queue_pack;
CREATE ROLE hs_bob;
SET ROLE hs_bob;
SELECT count(*) AS visible_to_bob FROM hubspot_queue;
RESET ROLE;
COMMIT;
DROP ROLE hs_bob;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email alice@example.com
\! /usr/bin/python3 test/simctl.py get contacts email alice40@example.com
DROP USER MAPPING FOR hs_alice SERVER hubspot;
REVOKE ALL ON hubspot.contacts FROM hs_alice;
REVOKE ALL ON SCHEMA hubspot FROM hs_alice;
REVOKE ALL ON FOREIGN SERVER hubspot FROM hs_alice;

-- a writer takes its ids in a block: one nextval for a group of rows, in order
BEGIN;
INSERT INTO hubspot.contacts (email) VALUES ('b1@example.com'), ('b2@example.com'), ('b3@example.com');
SELECT array_agg(id - min_id ORDER BY id) AS offsets, min(min_id) % 1000 AS block_start
  FROM (SELECT id, min(id) OVER () AS min_id FROM hubspot_queue WHERE record_key ~ '^b[0-9]@') q;
ROLLBACK;
-- and refuses a sequence whose blocks could not hold a group
ALTER SEQUENCE hubspot_queue_data_id_seq INCREMENT BY 1;
INSERT INTO hubspot.contacts (email) VALUES ('seq@example.com');
ALTER SEQUENCE hubspot_queue_data_id_seq INCREMENT BY 1000;
INSERT INTO hubspot.contacts (email) VALUES ('seq@example.com');
SELECT hubspot_flush() AS unsettled;
