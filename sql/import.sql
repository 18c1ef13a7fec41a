-- IMPORT FOREIGN SCHEMA crm: one foreign table per object type, from
-- HubSpot's properties API and (custom objects) its schemas API.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
CREATE SERVER hs_import FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hs_import OPTIONS (access_token 'pat-test');
-- a custom object with a calculated and a read-only property
\! /usr/bin/python3 test/simctl.py schema '{"name": "vendor", "labels": {"singular": "Vendor", "plural": "Vendors"}, "primaryDisplayProperty": "vendor_name", "properties": [{"name": "vendor_name", "type": "string"}, {"name": "vendor_code", "type": "string", "hasUniqueValue": true}, {"name": "rating", "type": "number"}, {"name": "score", "type": "number", "fieldType": "calculation_equation", "calculated": true}, {"name": "synced_at", "type": "datetime", "modificationMetadata": {"readOnlyValue": true}}, {"name": "hq_phone", "type": "phone_number"}, {"name": "hq_location", "type": "object_coordinates"}, {"name": "raw_payload", "type": "json"}, {"name": "preferred", "type": "bool"}, {"name": "tags", "type": "enumeration", "fieldType": "checkbox", "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]}, {"name": "since", "type": "date"}]}'

CREATE SCHEMA imported;
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts, companies) FROM SERVER hs_import INTO imported;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imported'::regnamespace ORDER BY 1;
-- every column with its type; HubSpot's read-only properties carry read_only
SELECT attname, format_type(atttypid, atttypmod), attfdwoptions FROM pg_attribute
 WHERE attrelid = 'imported.contacts'::regclass AND attnum > 0 ORDER BY attnum;
-- LIMIT TO of standard types only: no schemas call
\! /usr/bin/python3 test/simctl.py requests --path /crm/v3/ | sort

-- the imported table works for writes and reads
INSERT INTO imported.contacts (email, firstname, is_vip, interests) VALUES ('imp@example.com', 'Imp', false, '{a,b}');
SELECT hubspot_flush() AS unsettled;
SELECT email, firstname, is_vip, interests, createdate IS NOT NULL AS has_createdate
  FROM imported.contacts WHERE email = 'imp@example.com';

-- writes to read-only columns are refused before anything is queued or sent
\! /usr/bin/python3 test/simctl.py clear-requests
BEGIN;
INSERT INTO imported.contacts (email, createdate) VALUES ('ro@example.com', now());
ROLLBACK;
-- the first row is fine, the second is not: the statement queues nothing
INSERT INTO imported.contacts (email, firstname, lastmodifieddate) VALUES
	('ro1@example.com', 'One', NULL), ('ro2@example.com', 'Two', '2026-01-01Z');
SELECT count(*) AS queued FROM hubspot_queue WHERE record_key IN ('ro1@example.com', 'ro2@example.com');
UPDATE imported.contacts SET createdate = now() WHERE email = 'imp@example.com';
UPDATE imported.contacts SET firstname = 'Imp2', lastmodifieddate = NULL WHERE email = 'imp@example.com';
ALTER FOREIGN TABLE imported.companies OPTIONS (ADD delivery 'immediate');
INSERT INTO imported.companies (company_code, name, createdate) VALUES ('c1', 'Co', now());
COPY imported.contacts (email, createdate) FROM STDIN;
copy@example.com	2026-01-01 00:00:00+00
\.
-- a NULL in a read-only column is no write: the row goes
INSERT INTO imported.contacts (email, firstname, createdate) VALUES ('ro@example.com', 'Ro', NULL);
SELECT record_key, operation, properties FROM hubspot_queue WHERE record_key LIKE 'ro%@example.com' OR record_key = 'copy@example.com';
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py requests --path /batch/
-- the option is validated like any other
ALTER FOREIGN TABLE imported.contacts ALTER COLUMN firstname OPTIONS (ADD read_only 'maybe');
ALTER FOREIGN TABLE imported.contacts ALTER COLUMN firstname OPTIONS (ADD read_only 'true');
UPDATE imported.contacts SET firstname = 'x' WHERE email = 'imp@example.com';
ALTER FOREIGN TABLE imported.contacts ALTER COLUMN firstname OPTIONS (SET read_only 'false');
UPDATE imported.contacts SET firstname = 'Imp3' WHERE email = 'imp@example.com';
SELECT hubspot_flush() AS unsettled;
SELECT firstname FROM imported.contacts WHERE email = 'imp@example.com';

-- without LIMIT TO: every standard type and the custom objects
\! /usr/bin/python3 test/simctl.py clear-requests
CREATE SCHEMA imp_all;
IMPORT FOREIGN SCHEMA crm FROM SERVER hs_import INTO imp_all;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imp_all'::regnamespace ORDER BY 1;
\! /usr/bin/python3 test/simctl.py requests --path schemas
-- the custom object: table named after it, every HubSpot type mapped
SELECT attname, format_type(atttypid, atttypmod), attfdwoptions FROM pg_attribute
 WHERE attrelid = 'imp_all.vendor'::regclass AND attnum > 0 ORDER BY attnum;
INSERT INTO imp_all.vendor (vendor_code, vendor_name, rating, preferred, tags, since)
	VALUES ('v1', 'Acme', 4.5, true, '{a,b}', '2026-01-02');
INSERT INTO imp_all.vendor (vendor_code, score) VALUES ('v2', 1);
SELECT hubspot_flush() AS unsettled;
SELECT vendor_code, vendor_name, rating, preferred, tags, since, score FROM imp_all.vendor;
-- a line item's amount is read-only in HubSpot too
SELECT attname, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'imp_all.line_items'::regclass AND attname = 'amount';

-- EXCEPT honours table names, custom ones included
CREATE SCHEMA imported2;
IMPORT FOREIGN SCHEMA crm EXCEPT (contacts, companies, vendor, tasks) FROM SERVER hs_import INTO imported2;
SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'imported2'::regnamespace;
-- LIMIT TO a custom object by its name
CREATE SCHEMA imp_custom;
IMPORT FOREIGN SCHEMA crm LIMIT TO (vendor) FROM SERVER hs_import INTO imp_custom;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imp_custom'::regnamespace ORDER BY 1;

-- include_readonly 'false': HubSpot's read-only properties are left out
CREATE SCHEMA imp_nro;
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts, vendor) FROM SERVER hs_import INTO imp_nro
	OPTIONS (include_readonly 'false');
SELECT attrelid::regclass, string_agg(attname, ' ' ORDER BY attnum) FROM pg_attribute
 WHERE attrelid IN ('imp_nro.contacts'::regclass, 'imp_nro.vendor'::regclass) AND attnum > 0
 GROUP BY 1 ORDER BY 1;
-- include_custom 'false': no schemas call, no custom tables
\! /usr/bin/python3 test/simctl.py clear-requests
CREATE SCHEMA imp_std;
IMPORT FOREIGN SCHEMA crm FROM SERVER hs_import INTO imp_std OPTIONS (include_custom 'false', include_readonly 'true');
SELECT count(*) AS tables, count(*) FILTER (WHERE relname = 'vendor') AS vendor
  FROM pg_class WHERE relnamespace = 'imp_std'::regnamespace;
\! /usr/bin/python3 test/simctl.py calls --path schemas

-- options IMPORT does not know, and bad values, are refused
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts) FROM SERVER hs_import INTO imp_std OPTIONS (include_readonly 'false', bogus 'x');
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts) FROM SERVER hs_import INTO imp_std OPTIONS (include_custom 'maybe');

-- a token that reads contacts and deals only: the other types are skipped
-- with a notice; a type named in LIMIT TO must be readable
\! /usr/bin/python3 test/simctl.py config '{"tokens": {"pat-two": ["crm.objects.contacts.read", "crm.objects.deals.read"]}}'
CREATE SERVER hs_two FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hs_two OPTIONS (access_token 'pat-two');
CREATE SCHEMA imp_two;
\set VERBOSITY terse
IMPORT FOREIGN SCHEMA crm EXCEPT (tickets, products, line_items, quotes, communications,
	feedback_submissions, tasks, notes, meetings, calls, emails, invoices, subscriptions,
	discounts, fees, taxes, commerce_payments, users, orders, leads) FROM SERVER hs_two INTO imp_two;
\set VERBOSITY default
SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'imp_two'::regnamespace;
IMPORT FOREIGN SCHEMA crm LIMIT TO (companies) FROM SERVER hs_two INTO imp_two;

IMPORT FOREIGN SCHEMA sales FROM SERVER hs_import INTO imported2;
IMPORT FOREIGN SCHEMA crm LIMIT TO ("Bad Type") FROM SERVER hs_import INTO imported2;

-- the catch-all jsonb column: every property no column maps, so what is
-- written through it reads back
CREATE FOREIGN TABLE imported.contacts_extra (
	id			text,
	email		text,
	firstname	text,
	extra		jsonb
) SERVER hs_import OPTIONS (object_type 'contacts', id_property 'email');
INSERT INTO imported.contacts_extra (email, firstname, extra)
	VALUES ('extra@example.com', 'Ext', '{"lastname": "Ra", "city": "Oslo", "lifetime_value": "12.5", "is_vip": "true"}');
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT email, firstname, extra - 'createdate' - 'lastmodifieddate' AS extra,
       extra ? 'createdate' AS has_createdate, extra ? 'hs_object_id' AS has_record_id
  FROM imported.contacts_extra WHERE firstname = 'Ext';
\! /usr/bin/python3 test/simctl.py requests --path /crm/v3/
UPDATE imported.contacts_extra SET extra = '{"city": "Bergen", "lastname": null}' WHERE email = 'extra@example.com';
SELECT hubspot_flush() AS unsettled;
-- by key (batch/read), properties in the body
SELECT extra - 'createdate' - 'lastmodifieddate' AS extra
  FROM imported.contacts_extra WHERE email = 'extra@example.com';
\! /usr/bin/python3 test/simctl.py bodies --path batch/read | tail -1 | grep -o '"city"'
-- a query that does not use it asks for no more than before
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT firstname FROM imported.contacts_extra WHERE firstname = 'Ext';
\! /usr/bin/python3 test/simctl.py requests --path /crm/v3/
-- a type with more properties than a URL takes: ids listed, properties
-- read by batch/read with the names in its body
\! /usr/bin/python3 test/simctl.py schema "$(/usr/bin/python3 -c 'import json; print(json.dumps({"name": "wide", "properties": [{"name": "a_rather_long_property_name_number_%02d" % i, "type": "string"} for i in range(60)] + [{"name": "wide_code", "type": "string", "hasUniqueValue": True}]}))')"
CREATE FOREIGN TABLE imported.wide (
	id			text,
	wide_code	text,
	extra		jsonb
) SERVER hs_import OPTIONS (object_type 'p_wide', id_property 'wide_code');
INSERT INTO imported.wide (wide_code, extra)
	VALUES ('w1', '{"a_rather_long_property_name_number_07": "seven", "a_rather_long_property_name_number_59": "last"}');
SELECT hubspot_flush() AS unsettled;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT wide_code, extra - 'createdate' - 'lastmodifieddate' AS extra FROM imported.wide;
\! /usr/bin/python3 test/simctl.py requests --path /crm/v3/

-- association tables: one per pair of imported standard types, keyed by
-- record id on both sides; named in LIMIT TO like any table
CREATE SCHEMA imp_assoc;
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts, companies, contacts_companies)
	FROM SERVER hs_import INTO imp_assoc;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imp_assoc'::regnamespace AND c.relname = 'contacts_companies';
SELECT attname, atttypid::regtype, attfdwoptions FROM pg_attribute
 WHERE attrelid = 'imp_assoc.contacts_companies'::regclass AND attnum > 0 ORDER BY attnum;
SELECT c.relname FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imp_all'::regnamespace
   AND EXISTS (SELECT FROM unnest(ft.ftoptions) o WHERE o LIKE 'from_type=%')
 ORDER BY 1;
