-- SQL that never lies: RETURNING, ON CONFLICT, keys as HubSpot compares them,
-- archive and read by unique value, the caller's own trace ids.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
CREATE SCHEMA sem;
CREATE FOREIGN TABLE sem.contacts (
	id			text,
	email		text,
	firstname	text,
	lastname	text
) SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
CREATE FOREIGN TABLE sem.contacts_now (
	id			text,
	email		text,
	firstname	text
) SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email', delivery 'immediate');
CREATE FOREIGN TABLE sem.contacts_noid (
	id			text,
	email		text,
	firstname	text
) SERVER hubspot OPTIONS (object_type 'contacts');

INSERT INTO sem.contacts (email, firstname, lastname) VALUES
	('Mixed.Case@Example.com', 'Mixed', 'Case'),
	('keep@example.com', 'Keep', 'Me'),
	('gone1@example.com', 'Gone', 'One'),
	('gone2@example.com', 'Gone', 'Two');
SELECT hubspot_flush() AS unsettled;

-- a contact written Mixed.Case is found and changed by that spelling
SELECT email, firstname FROM sem.contacts WHERE email = 'Mixed.Case@Example.com';
SELECT email, firstname FROM sem.contacts WHERE email IN ('MIXED.case@example.com', 'mixed.case@example.com');
UPDATE sem.contacts SET lastname = 'Changed' WHERE email = 'Mixed.Case@Example.com';
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email mixed.case@example.com | grep -o '"lastname":"[A-Za-z]*"'

-- RETURNING of DELETE and UPDATE: the row as the scan read it (UPDATE: with
-- the new values), on both delivery modes
DELETE FROM sem.contacts WHERE email IN ('gone1@example.com', 'gone2@example.com')
	RETURNING email, firstname, lastname, id IS NOT NULL AS has_id;
UPDATE sem.contacts SET firstname = 'Kept' WHERE email = 'keep@example.com'
	RETURNING email, firstname, lastname, id IS NOT NULL AS has_id;
SELECT hubspot_flush() AS unsettled;
DELETE FROM sem.contacts_now WHERE email = 'keep@example.com' RETURNING *;
-- live records left: the three deleted ones are archived
\! /usr/bin/python3 test/simctl.py objects contacts --props email

-- ON CONFLICT DO NOTHING: create if absent; an existing record is untouched
INSERT INTO sem.contacts (email, firstname) VALUES ('fresh@example.com', 'Fresh');
SELECT hubspot_flush() AS unsettled;
INSERT INTO sem.contacts (email, firstname) VALUES
	('FRESH@example.com', 'Overwritten?'), ('new1@example.com', 'New')
	ON CONFLICT DO NOTHING;
SELECT hubspot_flush() AS unsettled;
SELECT record_key, operation, state, result->>'existing' AS existing
  FROM hubspot_queue WHERE operation = 'create' AND record_key IN ('FRESH@example.com', 'new1@example.com')
 ORDER BY id;
\! /usr/bin/python3 test/simctl.py get contacts email fresh@example.com | grep -o '"firstname":"[A-Za-z?]*"'
\! /usr/bin/python3 test/simctl.py get contacts email new1@example.com | grep -o '"firstname":"[A-Za-z?]*"'
-- what cannot be honoured exactly is refused
INSERT INTO sem.contacts (email) VALUES ('x@example.com') ON CONFLICT (email) DO NOTHING;
INSERT INTO sem.contacts_noid (email) VALUES ('x@example.com') ON CONFLICT DO NOTHING;
INSERT INTO sem.contacts_now (email) VALUES ('x@example.com') ON CONFLICT DO NOTHING;

-- emails fold as HubSpot folds them, beyond ASCII: one record, one input
\! /usr/bin/python3 test/simctl.py clear-requests
BEGIN;
SELECT count(*) FROM hubspot_enqueue('upsert', 'contacts',
	'[{"id": "ÉVA@Example.com", "idProperty": "email", "properties": {"firstname": "Éva"}},
	  {"id": "éva@example.com", "idProperty": "email", "properties": {"lastname": "Ñúñez"}}]');
COMMIT;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py inputs
SELECT record_key, state FROM hubspot_queue WHERE record_key ILIKE '%va@example.com' ORDER BY id;

-- keys are never truncated: two 600-character keys that share a prefix are
-- two records
SELECT count(*) FROM hubspot_enqueue('upsert', 'contacts',
	jsonb_build_array(
		jsonb_build_object('id', repeat('a', 600) || '1@example.com', 'idProperty', 'email',
						   'properties', jsonb_build_object('firstname', 'One')),
		jsonb_build_object('id', repeat('a', 600) || '2@example.com', 'idProperty', 'email',
						   'properties', jsonb_build_object('firstname', 'Two'))));
SELECT hubspot_flush() AS unsettled;
SELECT right(record_key, 13) AS key_end, state, result->'properties'->>'firstname' AS firstname
  FROM hubspot_queue WHERE length(record_key) > 600 ORDER BY id;

-- archive by unique value resolves record ids first: it really archives
SELECT r - 'archivedAt' AS r FROM hubspot_batch_archive('contacts',
	'[{"id": "new1@example.com", "idProperty": "email"}, {"id": "nobody@example.com", "idProperty": "email"}]') r;
\! /usr/bin/python3 test/simctl.py get contacts email new1@example.com
SELECT hubspot_batch_archive('contacts', '[{"id": "a@b.c", "idProperty": "email"}, {"id": "1"}]');
BEGIN;
SELECT count(*) FROM hubspot_enqueue('archive', 'contacts', '[{"id": "fresh@example.com", "idProperty": "email"}]');
COMMIT;
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email fresh@example.com

-- batch/read by idProperty finds what HubSpot returns, whatever properties
-- are asked for; property names must be strings
SELECT r->'properties'->>'firstname' AS firstname, r->>'status' AS status
  FROM hubspot_batch_read('contacts',
	'{"idProperty": "email", "properties": ["firstname"],
	  "inputs": [{"id": "MIXED.CASE@example.com"}, {"id": "nobody@example.com"}]}') r;
SELECT hubspot_batch_read('contacts', '{"properties": ["firstname", 7], "inputs": [{"id": "1"}]}');
SELECT hubspot_batch_read('contacts', '{"idProperty": "email", "inputs": [{"id": "a@b.c", "idProperty": "email"}]}');

-- the caller's own objectWriteTraceId is kept, and must be unique
SELECT r->>'objectWriteTraceId' AS trace, r->'properties'->>'email' AS email
  FROM hubspot_batch_upsert('contacts',
	'[{"id": "t1@example.com", "idProperty": "email", "objectWriteTraceId": "my-1", "properties": {}},
	  {"id": "t2@example.com", "idProperty": "email", "properties": {}}]') r ORDER BY 1;
SELECT hubspot_batch_upsert('contacts',
	'[{"id": "t1@example.com", "idProperty": "email", "objectWriteTraceId": "2", "properties": {}},
	  {"id": "t2@example.com", "idProperty": "email", "properties": {}}]');

-- propertiesWithHistory: at most 50 inputs a call
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM hubspot_batch_read('contacts',
	jsonb_build_object('propertiesWithHistory', '["firstname"]'::jsonb,
		'inputs', (SELECT jsonb_agg(jsonb_build_object('id', g::text)) FROM generate_series(1001, 1060) g)));
\! /usr/bin/python3 test/simctl.py calls

-- archived 'true' reads archived records only, 'both' live and archived;
-- neither goes to search (HubSpot's search never returns archived records)
CREATE FOREIGN TABLE sem.contacts_archived (id text, email text, firstname text)
	SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email', archived 'true');
CREATE FOREIGN TABLE sem.contacts_both (id text, email text, firstname text)
	SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email', archived 'both');
SELECT email FROM sem.contacts_archived WHERE email LIKE 'gone%' ORDER BY email;
SELECT email FROM sem.contacts_archived WHERE email = 'gone1@example.com';
SELECT (SELECT count(*) FROM sem.contacts_both) =
	   (SELECT count(*) FROM sem.contacts) + (SELECT count(*) FROM sem.contacts_archived) AS both_is_live_plus_archived;
EXPLAIN (COSTS OFF) SELECT email FROM sem.contacts_both;
EXPLAIN (COSTS OFF) SELECT email FROM sem.contacts_archived WHERE firstname = 'Gone';
UPDATE sem.contacts_archived SET firstname = 'x';
ALTER FOREIGN TABLE sem.contacts_both OPTIONS (SET archived 'maybe');

DROP SCHEMA sem CASCADE;
