-- Associations (DESIGN.md section 7): hubspot_batch_associate/_dissociate,
-- hubspot_enqueue('associate'/'dissociate'), association foreign tables;
-- checked through SQL and through what the simulator received and holds.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
SET client_min_messages = warning;
DROP SERVER IF EXISTS hubspot CASCADE;
RESET client_min_messages;
CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');
CREATE SERVER hubspot_0926 FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url :'sim_url', api_version '2026-09');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_0926 OPTIONS (access_token 'pat-test');

-- records: two contacts (1001, 1002), three companies (1003 example.com,
-- 1004 and 1005 both dup.com)
SELECT r->>'id' AS id FROM hubspot_batch_upsert('contacts',
	'[{"id": "ada@example.com", "idProperty": "email", "properties": {"firstname": "Ada"}},
	  {"id": "bob@example.com", "idProperty": "email", "properties": {"firstname": "Bob"}}]') r;
SELECT r->>'id' AS id FROM hubspot_batch_create('companies',
	'[{"properties": {"domain": "example.com", "name": "Example"}},
	  {"properties": {"domain": "dup.com"}}, {"properties": {"domain": "dup.com"}}]') r;
\! /usr/bin/python3 test/simctl.py assoc-label contacts companies '{"label": "Manager", "name": "manager"}'

-- by unique value (email, any case: batch/read) and by domain (search): one
-- link made, one ambiguous, one record missing: each row says which side
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "ADA@Example.com", "idProperty": "email"}, "to": {"id": "example.com", "idProperty": "domain"}},
	  {"from": {"id": "bob@example.com", "idProperty": "email"}, "to": {"id": "dup.com", "idProperty": "domain"}},
	  {"from": {"id": "nobody@example.com", "idProperty": "email"}, "to": {"id": "1003"}}]') r;
\! /usr/bin/python3 test/simctl.py requests
\! /usr/bin/python3 test/simctl.py associations contacts companies

-- a label by name keeps the pair's other labels (HubSpot's create replaces
-- them: they are read and sent along); CATEGORY:typeId; an unknown label
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r->'labels' AS labels FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "1001"}, "to": {"id": "1003"}, "label": "Manager"}]') r;
SELECT r->'labels' AS labels FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "1001"}, "to": {"id": "1003"}, "label": "HUBSPOT_DEFINED:1"}]') r;
SELECT r->>'category' AS category, r->>'message' AS message FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "1001"}, "to": {"id": "1003"}, "label": "Nope"}]') r;
\! /usr/bin/python3 test/simctl.py requests
\! /usr/bin/python3 test/simctl.py associations contacts companies
-- the other direction reads the same links with its own type ids
\! /usr/bin/python3 test/simctl.py associations companies contacts

-- unlink one label; then the whole pair
SELECT r FROM hubspot_batch_dissociate('contacts', 'companies',
	'[{"from": {"id": "1001"}, "to": {"id": "1003"}, "label": "Manager"}]') r;
\! /usr/bin/python3 test/simctl.py associations contacts companies
SELECT r FROM hubspot_batch_dissociate('contacts', 'companies',
	'[{"from": {"id": "ada@example.com", "idProperty": "email"}, "to": {"id": "1003"}}]') r;
\! /usr/bin/python3 test/simctl.py associations contacts companies

-- 2026-09 answers partial failures as 200 with errors[]: per row
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r->>'status' AS status, r->>'category' AS category, r->'from' AS from_, r->'to' AS to_
  FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "1002"}, "to": {"id": "1004"}}, {"from": {"id": "1002"}, "to": {"id": "999999"}}]',
	'hubspot_0926') r;
SELECT r->>'archived' AS archived FROM hubspot_batch_dissociate('contacts', 'companies',
	'[{"from": {"id": "1002"}, "to": {"id": "1004"}}]', 'hubspot_0926') r;
\! /usr/bin/python3 test/simctl.py requests

-- 2,500 links (50 contacts x 50 companies) by record id: 2 calls
SELECT count(*) FROM hubspot_batch_create('contacts',
	(SELECT jsonb_agg(jsonb_build_object('properties', jsonb_build_object('email', 'm' || g || '@bulk.io')))
	   FROM generate_series(1, 50) g));
SELECT count(*) FROM hubspot_batch_create('companies',
	(SELECT jsonb_agg(jsonb_build_object('properties', jsonb_build_object('domain', 'c' || g || '.bulk.io')))
	   FROM generate_series(1, 50) g));
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) AS rows, count(*) FILTER (WHERE r ? 'associationSpec') AS linked
  FROM hubspot_batch_associate('contacts', 'companies',
	(SELECT jsonb_agg(jsonb_build_object('from', jsonb_build_object('id', (1005 + f)::text),
										 'to', jsonb_build_object('id', (1055 + t)::text)))
	   FROM generate_series(1, 50) f, generate_series(1, 50) t)) r;
\! /usr/bin/python3 test/simctl.py requests | sort

-- duplicates in one call are one pair
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM hubspot_batch_associate('contacts', 'companies',
	'[{"from": {"id": "1001"}, "to": {"id": "1004"}}, {"from": {"id": "ada@example.com", "idProperty": "email"}, "to": {"id": "1004"}}]');
\! /usr/bin/python3 test/simctl.py requests

-- queued in the transaction that writes the records: sent after them,
-- resolved from their own results (no search for the new company's domain)
CREATE FOREIGN TABLE companies (name text, domain text) SERVER hubspot OPTIONS (object_type 'companies');
CREATE FOREIGN TABLE contacts (email text, firstname text)
	SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
CREATE FOREIGN TABLE contact_company (
	contact_email  text OPTIONS (side 'from', property 'email'),
	company_domain text OPTIONS (side 'to', property 'domain'),
	label          text
) SERVER hubspot OPTIONS (from_type 'contacts', to_type 'companies');
\! /usr/bin/python3 test/simctl.py clear-requests
BEGIN;
INSERT INTO companies VALUES ('Fresh', 'fresh.io');
INSERT INTO contacts VALUES ('cy@fresh.io', 'Cy'), ('bad@fresh.io', NULL);
SELECT count(*) FROM hubspot_enqueue('upsert', 'contacts',
	'[{"id": "bad@fresh.io", "idProperty": "email", "properties": {"no_such_property": "x"}}]');
INSERT INTO contact_company VALUES ('Cy@Fresh.io', 'fresh.io', NULL),
	('cy@fresh.io', 'fresh.io', 'Manager'), ('bad@fresh.io', 'fresh.io', NULL);
COMMIT;
SELECT hubspot_flush('30 s') AS unsettled;
SELECT object_type, operation, record_key, state,
	   regexp_replace(error->>'message', 'queue row \d+', 'queue row N') AS error, error->>'side' AS side
  FROM hubspot_queue WHERE object_type = 'contacts/companies' ORDER BY id;
\! /usr/bin/python3 test/simctl.py requests | sort
\! /usr/bin/python3 test/simctl.py associations contacts companies | tail -n 1 | cut -f 3

-- the table reads what HubSpot holds; DELETE unlinks; UPDATE is refused
SELECT * FROM contact_company WHERE company_domain = 'fresh.io' ORDER BY label NULLS FIRST;
DELETE FROM contact_company WHERE company_domain = 'fresh.io' AND label = 'Manager';
SELECT hubspot_flush('30 s') AS unsettled;
SELECT * FROM contact_company WHERE company_domain = 'fresh.io' ORDER BY label NULLS FIRST;
UPDATE contact_company SET label = 'x';
INSERT INTO contact_company VALUES (NULL, 'fresh.io', NULL);
INSERT INTO contact_company VALUES ('a@b.c', 'fresh.io', NULL) ON CONFLICT DO NOTHING;
EXPLAIN (COSTS OFF) SELECT * FROM contact_company WHERE contact_email = 'x';

-- association options and inputs are checked before anything is sent or queued
CREATE FOREIGN TABLE bad1 (a text) SERVER hubspot OPTIONS (from_type 'contacts');
CREATE FOREIGN TABLE bad2 (a text) SERVER hubspot
	OPTIONS (from_type 'contacts', to_type 'companies', object_type 'contacts');
CREATE FOREIGN TABLE bad3 (a text OPTIONS (side 'middle')) SERVER hubspot
	OPTIONS (from_type 'contacts', to_type 'companies');
CREATE FOREIGN TABLE bad4 (a text OPTIONS (side 'from')) SERVER hubspot
	OPTIONS (from_type 'contacts', to_type 'companies');
INSERT INTO bad4 VALUES ('1');
SELECT * FROM hubspot_batch_associate('contacts', 'companies', '[{"from": {"id": "x"}, "to": {"id": "1"}}]');
SELECT * FROM hubspot_batch_associate('contacts', 'companies', '[{"from": {"id": "1"}}]');
SELECT * FROM hubspot_batch_associate('contacts', 'companies', '[{"from": {"id": "1"}, "to": {"id": "2"}, "types": []}]');
SELECT * FROM hubspot_batch_associate('contacts', NULL, '[]');
SELECT * FROM hubspot_enqueue('associate', 'contacts', '[]');
SELECT * FROM hubspot_enqueue('associate', 'contacts/companies/deals', '[]');
SELECT * FROM hubspot_enqueue('dissociate', 'contacts/companies', '[{"from": {"id": "1", "idProperty": ""}, "to": {"id": "2"}}]');

-- hubspot_push keeps a link current from a foreign key column (not sent as
-- a property): INSERT links, a changed key moves the link
CREATE TABLE people (email text PRIMARY KEY, firstname text, company_domain text);
CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON people FOR EACH ROW
	EXECUTE FUNCTION hubspot_push('contacts', 'email', 'associate=company_domain:companies.domain');
INSERT INTO people VALUES ('pat@fresh.io', 'Pat', 'fresh.io');
SELECT hubspot_flush('30 s') AS unsettled;
\! /usr/bin/python3 test/simctl.py get contacts email pat@fresh.io
SELECT * FROM contact_company WHERE contact_email = 'pat@fresh.io';
UPDATE people SET company_domain = 'example.com' WHERE email = 'pat@fresh.io';
UPDATE people SET firstname = 'Patricia' WHERE email = 'pat@fresh.io';
SELECT hubspot_flush('30 s') AS unsettled;
SELECT object_type, operation, record_key, state FROM hubspot_queue
 WHERE record_key LIKE '%pat@fresh.io%' ORDER BY id;
SELECT * FROM contact_company WHERE contact_email = 'pat@fresh.io';
CREATE TRIGGER bad AFTER INSERT ON people FOR EACH ROW
	EXECUTE FUNCTION hubspot_push('contacts', 'email', 'associate=company_domain');
INSERT INTO people VALUES ('x@y.z', NULL, NULL);
DROP TRIGGER bad ON people;
