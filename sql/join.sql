-- Joins with a local table: "key column = local column" is a parameterized
-- scan; the local table's keys are read once with batch/read, 100 a call
-- (or, when the loops are fewer than those calls, each loop's key alone);
-- the join clause is checked here, so results equal a local join.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
CREATE SERVER hubspot_join FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url :'sim_url', rate_limit '100000');
CREATE USER MAPPING FOR PUBLIC SERVER hubspot_join OPTIONS (access_token 'pat-test');
CREATE SCHEMA jn;
CREATE FOREIGN TABLE jn.contacts (
	id			text,
	email		text,
	firstname	text,
	ltv			numeric OPTIONS (property 'lifetime_value')
) SERVER hubspot_join OPTIONS (object_type 'contacts');
INSERT INTO jn.contacts (email, firstname, ltv)
SELECT 'u' || g || '@example.com', CASE WHEN g % 3 <> 0 THEN 'n' || g END, g
  FROM generate_series(1, 2000) g;
SELECT hubspot_flush('120 s') AS unsettled;
-- one full listing: the learnt row count (2,000) the planner weighs
CREATE TABLE jn.listed AS SELECT * FROM jn.contacts;

-- 300 local keys: 200 present, 40 differing only in case (HubSpot's one
-- contact, but not equal for PostgreSQL's =), 30 absent, 20 repeated, 10 NULLs
CREATE TABLE jn.keys (email text, tag int);
INSERT INTO jn.keys
SELECT CASE
		 WHEN g <= 200 THEN 'u' || (g * 7) || '@example.com'
		 WHEN g <= 240 THEN 'U' || (g * 7) || '@Example.COM'
		 WHEN g <= 270 THEN 'absent' || g || '@example.com'
		 WHEN g <= 290 THEN 'u' || ((g - 270) * 7) || '@example.com'
	   END, g
  FROM generate_series(1, 300) g;
ANALYZE jn.keys;
EXPLAIN (COSTS OFF)
SELECT c.id, c.firstname, k.tag FROM jn.contacts c JOIN jn.keys k ON c.email = k.email;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*), count(DISTINCT c.id), sum(c.ltv), sum(k.tag), count(c.firstname)
  FROM jn.contacts c JOIN jn.keys k ON c.email = k.email;
\! /usr/bin/python3 test/simctl.py calls
\! /usr/bin/python3 test/simctl.py inputs
SELECT count(*), count(DISTINCT l.id), sum(l.ltv), sum(k.tag), count(l.firstname)
  FROM jn.listed l JOIN jn.keys k ON l.email = k.email;
-- the same rows, not only as many
SELECT count(*) AS differences FROM (
	(SELECT c.id, c.email, c.firstname, c.ltv, k.tag FROM jn.contacts c JOIN jn.keys k ON c.email = k.email
	 EXCEPT ALL
	 SELECT l.id, l.email, l.firstname, l.ltv, k.tag FROM jn.listed l JOIN jn.keys k ON l.email = k.email)
	UNION ALL
	(SELECT l.id, l.email, l.firstname, l.ltv, k.tag FROM jn.listed l JOIN jn.keys k ON l.email = k.email
	 EXCEPT ALL
	 SELECT c.id, c.email, c.firstname, c.ltv, k.tag FROM jn.contacts c JOIN jn.keys k ON c.email = k.email)) d;
-- USING, an outer join, the key spelt as varchar
SELECT count(*), sum(ltv) FROM jn.contacts JOIN jn.keys USING (email);
SELECT count(*), count(c.id), sum(c.ltv) FROM jn.keys k LEFT JOIN jn.contacts c ON c.email = k.email;
SELECT count(*), count(l.id), sum(l.ltv) FROM jn.keys k LEFT JOIN jn.listed l ON l.email = k.email;
CREATE TABLE jn.vkeys (email varchar(100));
INSERT INTO jn.vkeys SELECT email FROM jn.keys;
ANALYZE jn.vkeys;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*), sum(c.ltv) FROM jn.contacts c JOIN jn.vkeys v ON c.email = v.email;
\! /usr/bin/python3 test/simctl.py calls

-- by record id
CREATE TABLE jn.ids AS SELECT id FROM jn.listed WHERE ltv % 9 = 0;
INSERT INTO jn.ids VALUES ('999999999'), (NULL);
ANALYZE jn.ids;
EXPLAIN (COSTS OFF) SELECT c.email FROM jn.contacts c JOIN jn.ids i ON c.id = i.id;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*), sum(c.ltv) FROM jn.contacts c JOIN jn.ids i ON c.id = i.id;
\! /usr/bin/python3 test/simctl.py calls
SELECT count(*), sum(l.ltv) FROM jn.listed l JOIN jn.ids i ON l.id = i.id;

-- a partitioned local table: the keys of all its partitions
CREATE TABLE jn.parts (email text, n int) PARTITION BY RANGE (n);
CREATE TABLE jn.parts_1 PARTITION OF jn.parts FOR VALUES FROM (0) TO (100);
CREATE TABLE jn.parts_2 PARTITION OF jn.parts FOR VALUES FROM (100) TO (1000);
INSERT INTO jn.parts SELECT 'u' || g || '@example.com', g FROM generate_series(1, 250) g;
ANALYZE jn.parts;
EXPLAIN (COSTS OFF) SELECT count(*) FROM jn.contacts c JOIN jn.parts p ON c.email = p.email;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*), sum(c.ltv) FROM jn.contacts c JOIN jn.parts p ON c.email = p.email;
\! /usr/bin/python3 test/simctl.py calls

-- a table whose size nothing has told yet (no listing in this session) is
-- costed as a listing of 10,000 records: 1,500 local keys are read (15 calls)
CREATE FOREIGN TABLE jn.fresh (id text, email text)
	SERVER hubspot_join OPTIONS (object_type 'contacts');
CREATE TABLE jn.mid AS SELECT 'u' || g || '@example.com' AS email FROM generate_series(1, 1500) g;
ANALYZE jn.mid;
EXPLAIN (COSTS OFF) SELECT count(*) FROM jn.fresh f JOIN jn.mid m ON f.email = m.email;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM jn.fresh f JOIN jn.mid m ON f.email = m.email;
\! /usr/bin/python3 test/simctl.py calls

-- a local table over 10,000 keys, of which the query keeps 3: each loop's
-- key alone (3 calls), not all its keys
CREATE TABLE jn.big AS SELECT g AS n, 'u' || g || '@example.com' AS email
  FROM generate_series(1, 20000) g;
ANALYZE jn.big;
EXPLAIN (COSTS OFF)
SELECT c.firstname FROM jn.contacts c JOIN jn.big b ON c.email = b.email WHERE b.n IN (6, 7, 5000);
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT b.n, c.firstname, c.ltv FROM jn.contacts c JOIN jn.big b ON c.email = b.email
 WHERE b.n IN (6, 7, 5000) ORDER BY b.n;
\! /usr/bin/python3 test/simctl.py calls

-- the keys are read as the current user: row security hides some from the
-- read of all keys (through a view, the query sees them all); those are
-- read alone, each once, and the result is still the local join's
CREATE TABLE jn.few (email text);
INSERT INTO jn.few VALUES ('u1@example.com'), ('u2@example.com'), ('u30@example.com'),
	('u40@example.com'), ('u40@example.com'), ('nobody@example.com');
ANALYZE jn.few;
CREATE ROLE hs_join_reader;
GRANT USAGE ON SCHEMA jn TO hs_join_reader;
GRANT SELECT ON jn.few, jn.contacts TO hs_join_reader;
ALTER TABLE jn.few ENABLE ROW LEVEL SECURITY;
CREATE POLICY few_u1 ON jn.few TO hs_join_reader USING (email LIKE 'u1%');
CREATE VIEW jn.all_few AS SELECT email FROM jn.few;
GRANT SELECT ON jn.all_few TO hs_join_reader;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET ROLE hs_join_reader;
SELECT count(*) FROM jn.few;
EXPLAIN (COSTS OFF) SELECT c.ltv FROM jn.contacts c JOIN jn.all_few f ON c.email = f.email;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT c.ltv FROM jn.contacts c JOIN jn.all_few f ON c.email = f.email ORDER BY 1;
\! /usr/bin/python3 test/simctl.py requests
RESET ROLE;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- not a local table's column (another foreign table, an expression): no
-- parameterized scan
EXPLAIN (COSTS OFF) SELECT count(*) FROM jn.contacts c JOIN jn.keys k ON c.email = lower(k.email);
EXPLAIN (COSTS OFF) SELECT count(*) FROM jn.contacts c JOIN jn.contacts d ON c.email = d.email;

-- the scan under UPDATE ... FROM a local table reads by key too
EXPLAIN (COSTS OFF) UPDATE jn.contacts c SET firstname = 'upd' FROM jn.keys k WHERE c.email = k.email AND k.tag <= 3;
\! /usr/bin/python3 test/simctl.py clear-requests
UPDATE jn.contacts c SET firstname = 'upd' FROM jn.keys k WHERE c.email = k.email AND k.tag <= 3;
\! /usr/bin/python3 test/simctl.py calls --path batch/read
SELECT hubspot_flush('60 s') AS unsettled;
SELECT email FROM jn.contacts WHERE firstname = 'upd' ORDER BY 1;

DROP SCHEMA jn CASCADE;
DROP ROLE hs_join_reader;
DROP SERVER hubspot_join CASCADE;
