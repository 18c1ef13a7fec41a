-- IMPORT FOREIGN SCHEMA crm: one foreign table per object type, from
-- HubSpot's properties API.
\! /usr/bin/python3 test/simctl.py reset
CREATE SCHEMA imported;
IMPORT FOREIGN SCHEMA crm LIMIT TO (contacts, companies) FROM SERVER hubspot INTO imported;
SELECT c.relname, ft.ftoptions FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
 WHERE c.relnamespace = 'imported'::regnamespace ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'imported.contacts'::regclass AND attnum > 0
   AND attname IN ('id', 'email', 'lifetime_value', 'is_vip', 'birthdate', 'last_seen', 'interests', 'lifecyclestage')
 ORDER BY attnum;
\! /usr/bin/python3 test/simctl.py requests --path properties | sort
-- the imported table works for writes and reads
INSERT INTO imported.contacts (email, firstname, is_vip, interests) VALUES ('imp@example.com', 'Imp', false, '{a,b}');
SELECT hubspot_flush() AS unsettled;
SELECT email, firstname, is_vip, interests FROM imported.contacts WHERE email = 'imp@example.com';
CREATE SCHEMA imported2;
IMPORT FOREIGN SCHEMA crm EXCEPT (contacts, companies) FROM SERVER hubspot INTO imported2;
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'imported2'::regnamespace ORDER BY 1;
IMPORT FOREIGN SCHEMA sales FROM SERVER hubspot INTO imported2;
IMPORT FOREIGN SCHEMA crm LIMIT TO ("Bad Type") FROM SERVER hubspot INTO imported2;
