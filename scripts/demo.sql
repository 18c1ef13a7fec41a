-- The main job of hubspot_fdw, end to end.  Run by scripts/demo.sh with
-- psql variables api_url and token.
\set ON_ERROR_STOP 1
\pset pager off
\echo '== 1. the extension, a server and a token'
CREATE EXTENSION hubspot_fdw;
CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'api_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token :'token');

\echo '== 2. hubspot_batch_upsert: 300 contacts (one bad email), one jsonb row per input, in input order'
CREATE TEMP TABLE upserted AS
SELECT n, r FROM hubspot_batch_upsert('contacts',
	(SELECT jsonb_agg(jsonb_build_object(
				'id', CASE WHEN g = 150 THEN 'not-an-email' ELSE 'demo' || g || '@example.com' END,
				'idProperty', 'email',
				'properties', jsonb_build_object('firstname', 'Demo ' || g, 'lastname', 'Contact'))
			ORDER BY g)
	   FROM generate_series(1, 300) g)) WITH ORDINALITY AS t(r, n);
SELECT n, r->>'id' AS hubspot_id, r->'properties'->>'email' AS email, r->>'new' AS new
  FROM upserted WHERE n <= 3 OR n >= 299 ORDER BY n;
SELECT n, r->>'status' AS status, r->>'category' AS category, left(r->>'message', 90) AS message
  FROM upserted WHERE r->>'status' = 'error';
SELECT count(*) FILTER (WHERE r->>'status' IS DISTINCT FROM 'error') AS ok,
	   count(*) FILTER (WHERE r->>'status' = 'error') AS failed
  FROM upserted;

\echo '== 3. INSERT INTO hubspot.contacts: queued in the transaction, sent by the worker after COMMIT'
CREATE SCHEMA hubspot;
CREATE FOREIGN TABLE hubspot.contacts (
	id			text,
	email		text,
	firstname	text,
	lastname	text,
	extra		jsonb
) SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
BEGIN;
INSERT INTO hubspot.contacts (email, firstname) VALUES ('ada@example.com', 'Ada');
INSERT INTO hubspot.contacts (email, lastname, extra) VALUES ('Ada@Example.com', 'Lovelace', '{"city": "London"}');
INSERT INTO hubspot.contacts (email, firstname, lastname)
SELECT 'insert' || g || '@example.com', 'Insert', 'Row ' || g FROM generate_series(1, 200) g;
SELECT state, count(*) FROM hubspot_queue GROUP BY state;
COMMIT;
SELECT hubspot_flush() AS still_unsettled;
SELECT id, record_key, properties, state, result->>'id' AS hubspot_id
  FROM hubspot_queue ORDER BY id LIMIT 3;

\echo '== 4. a trigger pushes an application table to HubSpot'
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL, firstname text,
						lastname text, password text);
CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON customers
	FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'email', 'exclude=id,password');
INSERT INTO customers (email, firstname, lastname, password)
VALUES ('grace@example.com', 'Grace', 'Hopper', 'secret');
UPDATE customers SET lastname = 'Brewster Murray Hopper' WHERE email = 'grace@example.com';
SELECT hubspot_flush() AS still_unsettled;
SELECT id, operation, record_key, properties, state FROM hubspot_queue
 WHERE record_key = 'grace@example.com' ORDER BY id;

\echo '== 5. what HubSpot holds now'
SELECT r->'properties'->>'email' AS email, r->'properties'->>'firstname' AS firstname,
	   r->'properties'->>'lastname' AS lastname, r->'properties'->>'city' AS city
  FROM hubspot_batch_read('contacts', '{"idProperty": "email",
		"properties": ["email", "firstname", "lastname", "city"],
		"inputs": [{"id": "ada@example.com"}, {"id": "grace@example.com"},
				   {"id": "demo1@example.com"}, {"id": "insert200@example.com"}]}') r;
SELECT server, object_type, pending, sending, done, failed, last_error FROM hubspot_queue_status;
SELECT database, state, calls_2xx, calls_4xx, calls_5xx, calls_429, rows_done, rows_failed,
	   ratelimit_remaining FROM hubspot_worker_status;

\echo '== 6. associations: a contact works at a company, linked by email and domain after both are written'
CREATE FOREIGN TABLE hubspot.companies (id text, name text, domain text)
	SERVER hubspot OPTIONS (object_type 'companies');
CREATE FOREIGN TABLE hubspot.contact_company (
	contact_email  text OPTIONS (side 'from', property 'email'),
	company_domain text OPTIONS (side 'to', property 'domain'),
	label          text
) SERVER hubspot OPTIONS (from_type 'contacts', to_type 'companies');
BEGIN;
INSERT INTO hubspot.companies (name, domain) VALUES ('Analytical Engines', 'engines.example');
INSERT INTO hubspot.contact_company VALUES ('ada@example.com', 'engines.example', NULL);
COMMIT;
SELECT hubspot_flush() AS still_unsettled;
SELECT object_type, operation, record_key, state, result FROM hubspot_queue
 WHERE object_type IN ('companies', 'contacts/companies') ORDER BY id;
SELECT * FROM hubspot.contact_company WHERE contact_email = 'ada@example.com';
