-- Reads by HubSpot's search: what the endpoint can apply exactly (or as a
-- superset the scan checks again) is sent as filters; results equal the
-- same query over a full listing; paging past 10,000 results by keyset.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
\! /usr/bin/python3 test/simctl.py config '{"search_rate_limit": 0}'
CREATE SERVER hubspot_search FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url :'sim_url', rate_limit '100000');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_search OPTIONS (access_token 'pat-test');
CREATE SCHEMA srch;
CREATE FOREIGN TABLE srch.contacts (
	id			text,
	email		text,
	firstname	text,
	ltv			numeric OPTIONS (property 'lifetime_value'),
	vip			boolean OPTIONS (property 'is_vip'),
	birthdate	date
) SERVER hubspot_search OPTIONS (object_type 'contacts', id_property 'email');

-- 10,300 contacts: mixed case names, NULLs, numbers, dates, booleans
INSERT INTO srch.contacts (email, firstname, ltv, vip, birthdate)
SELECT 'u' || g || '@example.com',
	   CASE g % 4 WHEN 0 THEN 'Ada' WHEN 1 THEN 'ada' WHEN 2 THEN 'Bob' END,
	   CASE WHEN g % 7 <> 0 THEN g END,
	   CASE WHEN g % 5 <> 0 THEN g % 2 = 0 END,
	   date '2000-01-01' + g % 400
  FROM generate_series(1, 10300) g;
SELECT hubspot_flush('120 s') AS unsettled;

-- each query: pushed to search, and the same computed locally over one full
-- listing, side by side (the same rows, not only as many)
CREATE TABLE srch.listed AS SELECT * FROM srch.contacts;
CREATE FUNCTION srch.both(q text, OUT pushed bigint, OUT listed bigint, OUT same boolean)
LANGUAGE plpgsql AS $$
BEGIN
	DROP TABLE IF EXISTS pg_temp.got;
	EXECUTE format('CREATE TEMP TABLE got AS SELECT id FROM srch.contacts WHERE %s', q);
	SELECT count(*) INTO pushed FROM pg_temp.got;
	EXECUTE format('SELECT count(*), count(*) = %s AND count(g.id) = count(*) '
				   'FROM srch.listed l LEFT JOIN pg_temp.got g USING (id) WHERE %s', pushed, q)
		INTO listed, same;
END $$;
CREATE FUNCTION srch.call_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		IF l LIKE '%HubSpot call%' OR l LIKE '%Sort%' OR l LIKE '%Limit%' THEN
			RETURN NEXT trim(l);
		END IF;
	END LOOP;
END $$;
SELECT q, (srch.both(q)).* FROM (VALUES
	('ltv > 10000 AND vip'),
	('firstname = ''Ada'''),
	('firstname = ''ada'''),
	('firstname IN (''Ada'', ''Bob'') AND ltv < 2000'),
	('firstname <> ''Ada'' AND ltv < 500'),
	('ltv BETWEEN 100 AND 200'),
	('ltv NOT IN (1, 2, 3) AND ltv < 20'),
	('ltv IS NULL AND birthdate < ''2000-02-01'''),
	('vip IS NOT NULL AND NOT vip AND ltv < 100'),
	('birthdate = ''2000-02-01'''),
	('birthdate >= ''2000-12-01'' AND ltv > 5000')
) v(q);

-- what is sent: EXPLAIN names the filters; strings go only as = and IN
EXPLAIN (COSTS OFF) SELECT email FROM srch.contacts WHERE ltv > 10000 AND vip AND firstname = 'Ada';
EXPLAIN (COSTS OFF) SELECT email FROM srch.contacts WHERE firstname <> 'Ada' AND birthdate < '2000-01-05';
EXPLAIN (COSTS OFF) SELECT email FROM srch.contacts WHERE firstname ILIKE 'a%';

-- a selective filter costs one call, not a listing of 104 pages
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM srch.contacts WHERE ltv BETWEEN 1000 AND 1100;
\! /usr/bin/python3 test/simctl.py calls

-- past HubSpot's 10,000 results per query: keyset paging on hs_object_id,
-- no record lost or repeated
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids
  FROM srch.contacts WHERE birthdate >= '2000-01-01';
\! /usr/bin/python3 test/simctl.py calls
\! /usr/bin/python3 test/simctl.py bodies | head -1

-- OR groups: one filter group per arm, the ANDed clauses in each; results
-- equal to the local computation (NULLs, case, mixed types)
SELECT q, (srch.both(q)).* FROM (VALUES
	('(firstname = ''Ada'' AND ltv < 100) OR (vip AND ltv BETWEEN 500 AND 510)'),
	('ltv < 50 OR ltv > 10290'),
	('(ltv < 30 OR birthdate = ''2000-03-01'') AND firstname = ''ada'''),
	('ltv < 10 OR firstname <> ''Ada'''),
	('ltv IS NULL OR birthdate < ''2000-01-03'''),
	('(ltv < 20 OR ltv > 10280) AND (vip OR firstname IS NULL)'),
	('firstname LIKE ''Ad%'' AND ltv < 200'),
	('firstname LIKE ''ad%'' AND ltv < 200'),
	('email LIKE ''%@example.com'' AND ltv < 40'),
	('email LIKE ''%@EXAMPLE.com'' AND ltv < 40'),
	('firstname ILIKE ''ad%'' AND ltv < 60')
) v(q);
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts
 WHERE (firstname = 'Ada' AND ltv < 100) OR (vip AND ltv BETWEEN 500 AND 510);
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts
 WHERE (ltv < 30 OR birthdate = '2000-03-01') AND firstname = 'ada';
-- an arm HubSpot cannot narrow (strings' <> stays local): no search
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE ltv < 10 OR firstname <> 'Ada';
-- more arms than HubSpot's 5 groups: the OR stays local
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts
 WHERE ltv < 1 OR ltv > 10000 OR vip OR birthdate = '2000-01-01' OR ltv = 7 OR birthdate = '2000-01-09';
-- within 5 groups x 6 filters and 18 in all (the keyset filter counted in
-- each group): filters beyond are left out, still checked here
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts
 WHERE (ltv < 1 AND vip AND birthdate > '2000-01-01') OR (ltv > 2 AND vip AND birthdate > '2000-01-02')
    OR (ltv > 3 AND vip AND birthdate > '2000-01-03') OR (ltv > 4 AND vip AND birthdate > '2000-01-04')
    OR (ltv > 5 AND vip AND birthdate > '2000-01-05');
SELECT (srch.both(q)).* FROM (VALUES
	('(ltv < 1 AND vip AND birthdate > ''2000-01-01'') OR (ltv > 10290 AND vip AND birthdate > ''2000-01-02'')
	   OR (ltv > 10295 AND NOT vip AND birthdate > ''2000-01-03'') OR (ltv < 3 AND vip AND birthdate > ''2000-01-04'')
	   OR (ltv < 5 AND vip AND birthdate > ''2000-01-05'')')
) v(q);
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM srch.contacts WHERE ltv < 50 OR ltv > 10290;
\! /usr/bin/python3 test/simctl.py calls
\! /usr/bin/python3 test/simctl.py bodies

-- LIKE: a prefix of letters (or of digits) as a token prefix, a domain on an
-- email property as *@domain; ILIKE with letters, other patterns stay local
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE firstname LIKE 'Ad%';
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE email LIKE '%@example.com';
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE email LIKE 'u1%';
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE firstname LIKE 'A_a%';
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE firstname ILIKE 'ad%';
EXPLAIN (COSTS OFF) SELECT id FROM srch.contacts WHERE firstname LIKE '%da';

-- enumerations compare case-sensitively in HubSpot for every operator: IN
-- with a value that is not lowercase is not lowered (it would miss records)
-- but stays local; lowercase values go as they are
CREATE FOREIGN TABLE srch.tasks (
	id			text,
	subject		text OPTIONS (property 'hs_task_subject'),
	status		text OPTIONS (property 'hs_task_status')
) SERVER hubspot_search OPTIONS (object_type 'tasks');
INSERT INTO srch.tasks (subject, status)
SELECT 't' || g, (ARRAY['NOT_STARTED', 'COMPLETED', 'WAITING'])[g % 3 + 1]
  FROM generate_series(1, 30) g;
SELECT hubspot_flush('60 s') AS unsettled;
EXPLAIN (COSTS OFF) SELECT id FROM srch.tasks WHERE status IN ('COMPLETED', 'WAITING');
SELECT count(*) FROM srch.tasks WHERE status IN ('COMPLETED', 'WAITING');
SELECT count(*) FROM srch.tasks WHERE status = 'COMPLETED' OR status = 'WAITING';
EXPLAIN (COSTS OFF) SELECT id FROM srch.tasks WHERE subject IN ('t1', 't2');
-- a case-insensitive (nondeterministic) collation matches what an
-- enumeration's case-sensitive compare would not: local
CREATE COLLATION srch.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT srch.call_of('SELECT id FROM srch.tasks WHERE status = ''completed'' COLLATE srch.ci');
SELECT count(*) FROM srch.tasks WHERE status = 'completed' COLLATE srch.ci;

-- generic plans: $1 is sent, evaluated when the scan starts
SET plan_cache_mode = force_generic_plan;
PREPARE by_ltv(numeric, numeric) AS
	SELECT count(*) FROM srch.contacts WHERE ltv >= $1 AND ltv < $2;
EXPLAIN (COSTS OFF) EXECUTE by_ltv(1000, 1100);
\! /usr/bin/python3 test/simctl.py clear-requests
EXECUTE by_ltv(1000, 1100);
\! /usr/bin/python3 test/simctl.py calls
\! /usr/bin/python3 test/simctl.py bodies
SELECT count(*) FROM srch.listed WHERE ltv >= 1000 AND ltv < 1100;
-- a NULL parameter is not sent (the clause, checked here, selects nothing)
EXECUTE by_ltv(NULL, 20);
PREPARE by_names(text[]) AS
	SELECT count(*) FROM srch.contacts WHERE firstname = ANY ($1) AND ltv < 100;
EXECUTE by_names('{ada,bob}');
EXECUTE by_names('{Ada,Bob}');
SELECT count(*) FROM srch.listed WHERE firstname = ANY ('{Ada,Bob}') AND ltv < 100;
PREPARE by_email(text) AS SELECT firstname, ltv FROM srch.contacts WHERE email = $1;
EXPLAIN (COSTS OFF) EXECUTE by_email('u8@example.com');
EXECUTE by_email('u8@example.com');
RESET plan_cache_mode;

-- a join with a local table of 300 keys: the keys as an InitPlan's array go
-- to batch/read, 100 a call (3 calls, not a listing of 104 pages)
CREATE TABLE srch.keys AS
	SELECT 'u' || g || '@example.com' AS email FROM generate_series(1, 3000, 10) g;
SELECT srch.call_of('SELECT count(*) FROM srch.contacts
 WHERE email = ANY (ARRAY(SELECT email FROM srch.keys))');
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*), count(DISTINCT c.email), sum(c.ltv) FROM srch.contacts c
 WHERE email = ANY (ARRAY(SELECT email FROM srch.keys));
\! /usr/bin/python3 test/simctl.py calls
SELECT count(*), count(DISTINCT l.email), sum(l.ltv) FROM srch.listed l JOIN srch.keys USING (email);
-- the same by record id
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FROM srch.contacts
 WHERE id = ANY (ARRAY(SELECT id FROM srch.listed WHERE ltv < 2100 ORDER BY id LIMIT 300));
\! /usr/bin/python3 test/simctl.py calls

-- estimates without a call: learnt from earlier scans (a full listing's rows,
-- a search's total), else a default; EXPLAIN VERBOSE says which
CREATE FUNCTION srch.est(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	j json;
BEGIN
	EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO j;
	RETURN (j->0->'Plan'->>'Plan Rows') || ' rows, ' || (j->0->'Plan'->>'HubSpot estimate');
END $$;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT srch.est('SELECT * FROM srch.contacts');
SELECT srch.est('SELECT * FROM srch.tasks WHERE subject = ''x''');
CREATE FOREIGN TABLE srch.fresh (id text, name text)
	SERVER hubspot_search OPTIONS (object_type 'companies');
SELECT srch.est('SELECT * FROM srch.fresh');
SELECT srch.est('SELECT * FROM srch.contacts WHERE ltv BETWEEN 1000 AND 1100');
\! /usr/bin/python3 test/simctl.py calls
EXPLAIN (VERBOSE, COSTS OFF) SELECT email FROM srch.contacts WHERE ltv BETWEEN 1000 AND 1100;

-- ORDER BY one column + LIMIT: HubSpot's sort, where exact (every clause an
-- exact filter, a number/date/boolean column, LIMIT within 10,000); NULLs by
-- two passes (with a value, without) in the order asked
SELECT srch.call_of('SELECT id, ltv FROM srch.contacts ORDER BY ltv LIMIT 5');
SELECT srch.call_of('SELECT id, ltv FROM srch.contacts WHERE vip ORDER BY ltv DESC LIMIT 5');
SELECT srch.call_of('SELECT id, ltv FROM srch.contacts ORDER BY ltv DESC NULLS LAST LIMIT 5');
SELECT srch.call_of('SELECT id, birthdate FROM srch.contacts WHERE ltv < 100 ORDER BY birthdate LIMIT 20 OFFSET 3');
-- not pushed: a string column (collation), a superset filter, no LIMIT, a
-- LIMIT over 10,000, a join (its keys are read by batch/read, then sorted here)
SELECT srch.call_of('SELECT id FROM srch.contacts ORDER BY firstname LIMIT 5');
SELECT srch.call_of('SELECT id FROM srch.contacts WHERE firstname = ''Ada'' ORDER BY ltv LIMIT 5');
SELECT srch.call_of('SELECT id FROM srch.contacts WHERE ltv < 30 ORDER BY ltv');
SELECT srch.call_of('SELECT id FROM srch.contacts WHERE ltv <> 30 ORDER BY ltv LIMIT 5');
SELECT srch.call_of('SELECT id FROM srch.contacts ORDER BY ltv LIMIT 10001');
SELECT srch.call_of('SELECT c.id FROM srch.contacts c JOIN srch.keys k USING (email) ORDER BY ltv LIMIT 5');
-- the same rows in the same order as computed locally; calls
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT email, ltv FROM srch.contacts ORDER BY ltv LIMIT 3;
SELECT email, ltv FROM srch.contacts WHERE vip AND ltv < 4000 ORDER BY ltv DESC LIMIT 3;
SELECT string_agg(coalesce(ltv::text, '-'), ',') FROM
	(SELECT ltv FROM srch.contacts WHERE birthdate = '2000-02-01' ORDER BY ltv DESC LIMIT 30) s;
\! /usr/bin/python3 test/simctl.py calls
SELECT email, ltv FROM srch.listed ORDER BY ltv LIMIT 3;
SELECT email, ltv FROM srch.listed WHERE vip AND ltv < 4000 ORDER BY ltv DESC LIMIT 3;
SELECT string_agg(coalesce(ltv::text, '-'), ',') FROM
	(SELECT ltv FROM srch.listed WHERE birthdate = '2000-02-01' ORDER BY ltv DESC LIMIT 30) s;
-- NULLS FIRST: the records without a value, then those with one (two passes)
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) FILTER (WHERE ltv IS NULL) AS nulls, max(ltv) FROM
	(SELECT ltv FROM srch.contacts WHERE birthdate < '2000-01-20' ORDER BY ltv NULLS FIRST LIMIT 100) s;
\! /usr/bin/python3 test/simctl.py calls
SELECT count(*) FILTER (WHERE ltv IS NULL) AS nulls, max(ltv) FROM
	(SELECT ltv FROM srch.listed WHERE birthdate < '2000-01-20' ORDER BY ltv NULLS FIRST LIMIT 100) s;

DROP SCHEMA srch CASCADE;
DROP SERVER hubspot_search CASCADE;
