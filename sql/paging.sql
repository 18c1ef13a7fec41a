-- A filter matching 15,000 of 25,000 records: past HubSpot's 10,000 results a
-- search, read by a keyset on hs_object_id (sorted ascending, "greater than
-- the last id", restarting the paging): no record lost, none repeated.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
\! /usr/bin/python3 test/simctl.py config '{"rate_limit_max": 100000}'
\! /usr/bin/python3 test/seed.py "$HUBSPOT_SIM_URL" 1 25000 pg
CREATE SERVER hs_paging FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hs_paging OPTIONS (access_token 'pat-test');
CREATE FOREIGN TABLE paging_contacts (id text, email text, ltv numeric OPTIONS (property 'lifetime_value'))
	SERVER hs_paging OPTIONS (object_type 'contacts', id_property 'email');
EXPLAIN (COSTS OFF) SELECT id FROM paging_contacts WHERE ltv > 10000;
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids, min(ltv), max(ltv),
	   sum(ltv) = (10001 + 25000) * 15000 / 2 AS every_one
  FROM paging_contacts WHERE ltv > 10000;
-- 75 pages of 200; a search is cut at 10,000 results, so paging restarts
-- once past the last id seen (never at "after" 10,000)
\! /usr/bin/python3 test/simctl.py calls --path /crm/v3/objects/contacts/search
\! /usr/bin/python3 test/simctl.py calls --status 400
