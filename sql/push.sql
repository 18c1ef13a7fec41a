-- hubspot_push(): an application table's committed changes reach HubSpot.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
CREATE SCHEMA app;
CREATE TABLE app.customers (
	id			serial PRIMARY KEY,
	email		text NOT NULL,
	firstname	text,
	plan		text,
	password	text,
	birthdate	date
);
CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON app.customers
	FOR EACH ROW EXECUTE FUNCTION
	hubspot_push('contacts', 'email', 'hubspot', 'exclude=id,password', 'rename=plan:company');

-- insert: an upsert keyed by email with every mapped column
INSERT INTO app.customers (email, firstname, plan, password, birthdate)
VALUES ('kim@example.com', 'Kim', 'free', 'secret', '2026-01-02');
SELECT operation, id_property, record_key, properties FROM hubspot_queue ORDER BY id DESC LIMIT 1;
-- update: only what changed; nothing when nothing changed
UPDATE app.customers SET plan = 'pro' WHERE email = 'kim@example.com';
UPDATE app.customers SET firstname = 'Kim' WHERE email = 'kim@example.com';
UPDATE app.customers SET firstname = NULL WHERE email = 'kim@example.com';
SELECT operation, record_key, properties FROM hubspot_queue ORDER BY id DESC LIMIT 2;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email kim@example.com
-- rollback: nothing
BEGIN;
UPDATE app.customers SET plan = 'enterprise';
ROLLBACK;
SELECT count(*) AS queued FROM hubspot_queue WHERE properties->>'company' = 'enterprise';
-- 1,000 updates of one row in one transaction arrive as one input
\! /usr/bin/python3 test/simctl.py clear-requests
BEGIN;
DO $$ BEGIN FOR i IN 1..1000 LOOP
	UPDATE app.customers SET firstname = 'K' || i WHERE email = 'kim@example.com';
END LOOP; END $$;
COMMIT;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py requests | sort
\! /usr/bin/python3 test/simctl.py get contacts email kim@example.com
-- key change: the new key gets the whole row
UPDATE app.customers SET email = 'kim.new@example.com' WHERE email = 'kim@example.com';
SELECT operation, record_key, properties FROM hubspot_queue ORDER BY id DESC LIMIT 1;
-- delete: an archive keyed by the key column (or nothing with on_delete=ignore)
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email kim.new@example.com
\! /usr/bin/python3 test/simctl.py clear-requests
DELETE FROM app.customers WHERE email = 'kim.new@example.com';
SELECT operation, id_property, record_key FROM hubspot_queue ORDER BY id DESC LIMIT 1;
SELECT hubspot_flush() AS unsettled;
-- batch/archive takes record ids: the worker looks the email up first
\! /usr/bin/python3 test/simctl.py requests
SELECT state, result FROM hubspot_queue ORDER BY id DESC LIMIT 1;
\! /usr/bin/python3 test/simctl.py get contacts email kim.new@example.com

-- statement-level trigger with transition tables
CREATE TABLE app.accounts (code text PRIMARY KEY, name text, plan text);
CREATE TRIGGER push_ins AFTER INSERT ON app.accounts
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hubspot_push('companies', 'code', 'rename=code:company_code,plan:industry');
CREATE TRIGGER push_upd AFTER UPDATE ON app.accounts
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hubspot_push('companies', 'code', 'rename=code:company_code,plan:industry');
INSERT INTO app.accounts SELECT 'A' || g, 'Account ' || g, 'free' FROM generate_series(1, 300) g;
UPDATE app.accounts SET plan = 'pro' WHERE code IN ('A1', 'A2');
UPDATE app.accounts SET name = name;
SELECT operation, count(*), min(properties::text) FROM hubspot_queue WHERE object_type = 'companies'
   AND record_key LIKE 'A%'
 GROUP BY operation, properties ? 'name' ORDER BY 1, 2;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py count companies
\! /usr/bin/python3 test/simctl.py get companies company_code A2

-- a statement over many rows queues its inputs in packs of up to 1,000
-- (one row each in hubspot_queue_pack); hubspot_queue shows every input
CREATE TABLE app.leads (email text PRIMARY KEY, firstname text);
INSERT INTO app.leads SELECT 'lead' || g || '@example.com', 'L' FROM generate_series(1, 2500) g;
CREATE TRIGGER push AFTER UPDATE ON app.leads
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION hubspot_push('contacts', 'email');
BEGIN;
UPDATE app.leads SET firstname = 'Pack';
SELECT count(*) AS packs, sum(n) AS inputs, min(n), max(n),
	   bool_and(cardinality(ids) = n AND ids[1] = first_id AND ids[n] = last_id) AS ids_ok
  FROM hubspot_queue_pack;
SELECT state, count(*), count(DISTINCT id) AS ids, min(properties::text), max(properties::text)
  FROM hubspot_queue WHERE record_key LIKE 'lead%' GROUP BY state;
-- a later write of one record, as a row of its own: it must win over the pack
UPDATE app.leads SET firstname = 'Row' WHERE email = 'lead7@example.com';
COMMIT;
BEGIN;
UPDATE app.leads SET firstname = 'Gone';
ROLLBACK;
SELECT count(*) AS queued_after_rollback FROM hubspot_queue WHERE properties->>'firstname' = 'Gone';
SELECT hubspot_flush() AS unsettled;
SELECT count(*) AS packs_left FROM hubspot_queue_pack;
SELECT state, count(*) FROM hubspot_queue WHERE record_key LIKE 'lead%' GROUP BY state;
\! /usr/bin/python3 test/simctl.py get contacts email lead7@example.com
\! /usr/bin/python3 test/simctl.py get contacts email lead2500@example.com

-- FOR EACH ROW: the rows one statement fires for are written when it ends
-- (in packs when there are many), in the subtransaction that made them
CREATE TABLE app.people (email text, firstname text);
CREATE TRIGGER push AFTER INSERT OR UPDATE ON app.people
	FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'email');
BEGIN;
INSERT INTO app.people SELECT 'p' || g || '@example.com', 'P' FROM generate_series(1, 1500) g;
SELECT count(*) AS packs, sum(n) AS inputs FROM hubspot_queue_pack;
SAVEPOINT s1;
UPDATE app.people SET firstname = 'Savepoint';
ROLLBACK TO s1;
DO $$ BEGIN
	UPDATE app.people SET firstname = 'Inner' WHERE email LIKE 'p1%';
	RAISE EXCEPTION 'undo';
EXCEPTION WHEN raise_exception THEN NULL;
END $$;
DO $$ BEGIN
	UPDATE app.people SET firstname = 'Kept' WHERE email = 'p2@example.com';
EXCEPTION WHEN others THEN NULL;
END $$;
SAVEPOINT s2;
UPDATE app.people SET email = nullif(email, 'p1499@example.com'), firstname = 'Err';
ROLLBACK TO s2;
COPY app.people FROM STDIN;
copy1@example.com	C
copy2@example.com	C
\.
SELECT properties->>'firstname' AS firstname, count(*) FROM hubspot_queue
 WHERE record_key LIKE 'p%@example.com' OR record_key LIKE 'copy%' GROUP BY 1 ORDER BY 1;
COMMIT;
-- a deferred constraint trigger fires at COMMIT: its rows are written then
CREATE TABLE app.late (email text, firstname text);
CREATE CONSTRAINT TRIGGER push AFTER INSERT ON app.late DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'email');
BEGIN;
INSERT INTO app.late VALUES ('late@example.com', 'Late');
SELECT count(*) AS before_commit FROM hubspot_queue WHERE record_key = 'late@example.com';
COMMIT;
SELECT count(*) AS after_commit FROM hubspot_queue WHERE record_key = 'late@example.com';
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email p2@example.com
\! /usr/bin/python3 test/simctl.py get contacts email p10@example.com
\! /usr/bin/python3 test/simctl.py get contacts email late@example.com

-- bad trigger arguments fail at the first fire, with nothing queued
CREATE TABLE app.t (k text, v text);
CREATE TRIGGER bad1 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad1 ON app.t;
CREATE TRIGGER bad2 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'nokey');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad2 ON app.t;
CREATE TRIGGER bad3 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('Bad Type', 'k');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad3 ON app.t;
CREATE TRIGGER bad4 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'k', 'exclude=zz');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad4 ON app.t;
CREATE TRIGGER bad5 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'k', 'nosuchserver');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad5 ON app.t;
CREATE TRIGGER bad6 AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'k', 'colour=blue');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad6 ON app.t;
CREATE TRIGGER bad7 BEFORE INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'k');
INSERT INTO app.t VALUES ('a', 'b');
DROP TRIGGER bad7 ON app.t;
CREATE TRIGGER ok AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'k');
INSERT INTO app.t VALUES (NULL, 'b');
CREATE TRIGGER bad8 AFTER UPDATE ON app.t FOR EACH STATEMENT EXECUTE FUNCTION hubspot_push('contacts', 'k');
UPDATE app.t SET v = 'c';
SELECT hubspot_push();
SELECT count(*) AS queued FROM hubspot_queue WHERE object_type = 'contacts' AND record_key IN ('a', 'b');
