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

DROP SCHEMA srch CASCADE;
DROP SERVER hubspot_search CASCADE;
