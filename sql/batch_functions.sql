-- hubspot_batch_* against the simulator: one row per input, in input order,
-- calls of at most batch_size, partial failures per row.
\getenv sim_url HUBSPOT_SIM_URL
\! /usr/bin/python3 test/simctl.py reset
CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');

-- 250 inputs -> 3 calls (100, 100, 50); results come back shuffled and are
-- returned in input order
SELECT count(*) AS rows,
	   bool_and(r->'properties'->>'email' = 'user' || n || '@example.com') AS in_order,
	   bool_and((r->>'new')::boolean) AS all_new
  FROM hubspot_batch_upsert('contacts',
		(SELECT jsonb_agg(jsonb_build_object('id', 'User' || g || '@Example.com',
											 'idProperty', 'email',
											 'properties', jsonb_build_object('firstname', 'F' || g, 'lifetime_value', g * 1.5))
						  ORDER BY g)
		   FROM generate_series(1, 250) g)) WITH ORDINALITY AS t(r, n);
\! /usr/bin/python3 test/simctl.py requests | sort
\! /usr/bin/python3 test/simctl.py count contacts
\! /usr/bin/python3 test/simctl.py get contacts email user7@example.com

-- every input carries an objectWriteTraceId; values go out as strings
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r->>'new' AS new, r->'properties'->>'firstname' AS firstname
  FROM hubspot_batch_upsert('contacts',
	'{"inputs": [{"id": "user7@example.com", "idProperty": "email",
				  "properties": {"firstname": "Seven", "is_vip": true, "lifetime_value": 7, "phone": null}}]}') r;
\! /usr/bin/python3 test/simctl.py bodies

-- a bad email among good ones: HubSpot answers 207 and only that row fails
SELECT r->>'status' AS status, r->>'category' AS category,
	   r->'properties'->>'email' AS email, r->'input'->>'id' AS input_id,
	   r->>'message' LIKE '%INVALID_EMAIL%' AS invalid_email
  FROM hubspot_batch_upsert('contacts', '[
	{"id": "a@example.com", "idProperty": "email", "properties": {"firstname": "A"}},
	{"id": "not-an-email", "idProperty": "email", "properties": {"firstname": "B"}},
	{"id": "c@example.com", "idProperty": "email", "properties": {"nosuchprop": "C"}},
	{"id": "d@example.com", "idProperty": "email", "properties": {"firstname": "D"}}]') r;

-- duplicates of one record never share a call; they go in order
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r->'properties'->>'firstname' AS firstname
  FROM hubspot_batch_upsert('contacts', '[
	{"id": "dup@example.com", "idProperty": "email", "properties": {"firstname": "one"}},
	{"id": "DUP@example.com", "idProperty": "email", "properties": {"firstname": "two"}}]') r;
\! /usr/bin/python3 test/simctl.py requests | sort
\! /usr/bin/python3 test/simctl.py get contacts email dup@example.com

-- a batch HubSpot rejects as a whole (400) is split in halves until the bad
-- inputs stand alone (one call at a time, so that the order is fixed)
ALTER SERVER hubspot OPTIONS (ADD max_concurrency '1');
\! /usr/bin/python3 test/simctl.py clear-requests
\! /usr/bin/python3 test/simctl.py fault '{"status": 400, "count": 3, "body": {"status": "error", "category": "VALIDATION_ERROR", "message": "Batch refused"}}'
SELECT count(*) FILTER (WHERE r->>'status' IS NULL) AS ok, count(*) FILTER (WHERE r->>'status' = 'error') AS failed
  FROM hubspot_batch_upsert('contacts',
		(SELECT jsonb_agg(jsonb_build_object('id', 'split' || g || '@example.com', 'idProperty', 'email',
											 'properties', '{}'::jsonb))
		   FROM generate_series(1, 100) g)) r;
\! /usr/bin/python3 test/simctl.py requests
ALTER SERVER hubspot OPTIONS (DROP max_concurrency);

-- create (201), update by record id (with a missing id), read, archive (204)
SELECT r->'properties'->>'name' AS name, r->>'id' IS NOT NULL AS has_id
  FROM hubspot_batch_create('companies', '[{"properties": {"name": "Acme", "domain": "acme.test"}},
										  {"properties": {"name": "Globex"}}]') r;
SELECT r->>'status' AS status, r->>'category' AS category, r->'properties'->>'firstname' AS firstname
  FROM hubspot_batch_update('contacts',
	jsonb_build_array(
		jsonb_build_object('id', (SELECT r->>'id' FROM hubspot_batch_read('contacts',
				'{"idProperty": "email", "inputs": [{"id": "user1@example.com"}], "properties": ["email"]}') r),
			'properties', '{"firstname": "Updated"}'::jsonb),
		'{"id": "999999999", "properties": {"firstname": "Ghost"}}'::jsonb)) r;
SELECT r->>'status' AS status, r->>'category' AS category, r->'properties'->>'email' AS email,
	   r->'properties'->>'firstname' AS firstname
  FROM hubspot_batch_read('contacts', '{"idProperty": "email", "properties": ["email", "firstname"],
	"inputs": [{"id": "user1@example.com"}, {"id": "nobody@example.com"}, {"id": "user2@example.com"}]}') r;
SELECT r->>'archived' AS archived FROM hubspot_batch_archive('contacts',
	(SELECT jsonb_build_array(jsonb_build_object('id', r->>'id'))
	   FROM hubspot_batch_read('contacts', '{"idProperty": "email", "inputs": [{"id": "user3@example.com"}]}') r)) r;
\! /usr/bin/python3 test/simctl.py get contacts email user3@example.com
SELECT count(*) FROM hubspot_batch_upsert('contacts', '[]');

-- date-versioned paths; 2026-09 reports partial failures as 200 + errors[]
CREATE SERVER hubspot_2609 FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url :'sim_url', api_version '2026-09', batch_size '2');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_2609 OPTIONS (access_token 'pat-test');
\! /usr/bin/python3 test/simctl.py clear-requests
SELECT r->>'status' AS status, r->'properties'->>'email' AS email
  FROM hubspot_batch_upsert('contacts', '[
	{"id": "v1@example.com", "idProperty": "email", "properties": {"firstname": "V1"}},
	{"id": "bad email", "idProperty": "email", "properties": {"firstname": "V2"}},
	{"id": "v3@example.com", "idProperty": "email", "properties": {"firstname": "V3"}}]', 'hubspot_2609') r;
\! /usr/bin/python3 test/simctl.py requests | sort
ALTER SERVER hubspot_2609 OPTIONS (SET api_version '2026-03');
SELECT count(*) FROM hubspot_batch_upsert('contacts',
	'[{"id": "v4@example.com", "idProperty": "email", "properties": {}}]', 'hubspot_2609');
\! /usr/bin/python3 test/simctl.py requests --path 2026-03 | sort

-- object types are escaped in the path
SELECT r->>'status' AS status, r->>'category' AS category, r->>'httpStatus' AS http
  FROM hubspot_batch_upsert('p_vendor', '[{"id": "v-1", "idProperty": "external_id", "properties": {"name": "V"}}]') r;
\! /usr/bin/python3 test/simctl.py requests --path p_vendor | sort

-- whole-call failures are errors: 401 (bad token) and 403 (missing scopes)
CREATE SERVER hubspot_badtoken FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url :'sim_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_badtoken OPTIONS (access_token 'pat-wrong-secret');
SELECT * FROM hubspot_batch_upsert('contacts',
	'[{"id": "x@example.com", "idProperty": "email", "properties": {}}]', 'hubspot_badtoken');
ALTER USER MAPPING FOR CURRENT_USER SERVER hubspot_badtoken OPTIONS (SET access_token 'pat-readonly');
SELECT * FROM hubspot_batch_upsert('contacts',
	'[{"id": "x@example.com", "idProperty": "email", "properties": {}}]', 'hubspot_badtoken');
-- reads are allowed with the read-only token
SELECT count(*) FROM hubspot_batch_read('contacts', '[{"id": "1"}]', 'hubspot_badtoken');

DROP SERVER hubspot_2609 CASCADE;
DROP SERVER hubspot_badtoken CASCADE;
