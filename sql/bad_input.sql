-- Bad input of every kind is an ERROR with a proper SQLSTATE; the server
-- stays up and nothing is sent.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py clear-requests
-- each failing call shows its SQLSTATE and message
CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- NULL arguments
SELECT try($$SELECT * FROM hubspot_batch_upsert(NULL, '[]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', NULL)$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[]', NULL)$$);
-- not an array, not an object with inputs
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '"x"')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '42')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '{"input": []}')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '{"inputs": {}}')$$);
-- inputs that are not objects
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[1]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[[]]')$$);
-- missing id / idProperty / properties where required
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"idProperty": "email", "properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email"}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_update('contacts', '[{"properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_archive('contacts', '[{"properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_read('contacts', '[{}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "", "idProperty": "email", "properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": {"x": 1}, "idProperty": "email", "properties": {}}]')$$);
-- properties not an object; nested values; empty names; unknown keys
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": []}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": "x"}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {"tags": ["a", "b"]}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {"x": {"y": 1}}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {"": "v"}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {}, "extra": 1}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "e mail", "properties": {}}]')$$);
SELECT try($$SELECT * FROM hubspot_batch_create('contacts', '[{"properties": {}, "associations": {}}]')$$);
-- a huge string
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts',
	jsonb_build_array(jsonb_build_object('id', 'a@b.c', 'idProperty', 'email',
										 'properties', jsonb_build_object('firstname', repeat('x', 70000)))))$$);
-- bad object types never reach a URL
SELECT try($$SELECT * FROM hubspot_batch_upsert('Contacts', '[]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts/../../x', '[]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts?x=1', '[]')$$);
SELECT try($$SELECT * FROM hubspot_batch_upsert('', '[]')$$);
-- read options
SELECT try($$SELECT * FROM hubspot_batch_read('contacts', '{"inputs": [{"id": "1"}], "properties": "email"}')$$);
SELECT try($$SELECT * FROM hubspot_batch_read('contacts', '{"inputs": [{"id": "1"}], "idProperty": 7}')$$);
-- unknown server, no user mapping
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[]', 'nosuchserver')$$);
CREATE SERVER hubspot_nomap FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {}}]', 'hubspot_nomap')$$);
-- a role without USAGE on the server
CREATE ROLE hs_nobody;
SET ROLE hs_nobody;
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[]', 'hubspot_nomap')$$);
RESET ROLE;
DROP ROLE hs_nobody;
-- HubSpot out of reach
CREATE SERVER hubspot_down FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url 'http://127.0.0.1:1', max_attempts '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_down OPTIONS (access_token 'pat-test');
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "a@b.c", "idProperty": "email", "properties": {}}]', 'hubspot_down')$$);
-- nothing above reached HubSpot
\! /usr/bin/python3 test/simctl.py calls

-- HubSpot answering garbage, a truncated body, a dropped connection
ALTER SERVER hubspot OPTIONS (ADD max_attempts '1');
\! /usr/bin/python3 test/simctl.py fault '{"garbage": true, "count": 1}'
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "g@b.c", "idProperty": "email", "properties": {}}]')$$);
\! /usr/bin/python3 test/simctl.py fault '{"truncate": true, "count": 1}'
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "g@b.c", "idProperty": "email", "properties": {}}]')$$);
\! /usr/bin/python3 test/simctl.py fault '{"drop": true, "count": 1}'
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "g@b.c", "idProperty": "email", "properties": {}}]')$$);
-- a 503 is retried (max_attempts 3 here) and then succeeds
ALTER SERVER hubspot OPTIONS (SET max_attempts '3');
\! /usr/bin/python3 test/simctl.py fault '{"status": 503, "count": 1}'
SELECT r->>'status' AS status, r->'properties'->>'email' AS email
  FROM hubspot_batch_upsert('contacts', '[{"id": "g@b.c", "idProperty": "email", "properties": {}}]') r;
ALTER SERVER hubspot OPTIONS (DROP max_attempts);
-- a query cancel (here statement_timeout) ends a call that hangs
\! /usr/bin/python3 test/simctl.py fault '{"delay_ms": 1500, "count": 1}'
SET statement_timeout = '300ms';
SELECT try($$SELECT * FROM hubspot_batch_upsert('contacts', '[{"id": "slow@b.c", "idProperty": "email", "properties": {}}]')$$);
RESET statement_timeout;
-- the simulator still finishes that call: let it, before the next test resets it
SELECT pg_sleep(1.6);
-- and the server is still up
SELECT 1 AS alive;
DROP SERVER hubspot_nomap CASCADE;
DROP SERVER hubspot_down CASCADE;
DROP FUNCTION try(text);
