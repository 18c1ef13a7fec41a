-- Options of servers, user mappings, tables and columns are checked at
-- CREATE/ALTER time, with a hint naming what is valid.
\getenv sim_url HUBSPOT_SIM_URL
SET client_min_messages = warning;

-- wrapper options: none
CREATE FOREIGN DATA WRAPPER hs2 HANDLER hubspot_fdw_handler VALIDATOR hubspot_fdw_validator OPTIONS (api_url 'x');

-- server options
CREATE SERVER bad1 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (apiurl 'http://x');
CREATE SERVER bad2 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (batch_size '0');
CREATE SERVER bad3 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (batch_size '101');
CREATE SERVER bad4 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (batch_size '10x');
CREATE SERVER bad5 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_version 'v4');
CREATE SERVER bad6 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_version '2026-04');
CREATE SERVER bad7 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url 'ftp://api.hubapi.com');
CREATE SERVER bad8 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url 'not a url');
CREATE SERVER bad9 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url 'https://user:pw@api.hubapi.com');
CREATE SERVER bad10 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url 'https://api.hubapi.com/?x=1');
CREATE SERVER bad11 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (max_concurrency '0');
CREATE SERVER bad12 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (timeout_ms '-5');
CREATE SERVER bad13 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (max_attempts '99999999999');
CREATE SERVER bad14 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (rate_limit '0');
CREATE SERVER bad15 FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (batch_size '10', batch_size '20');
CREATE SERVER ok1 FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url 'https://api.hubapi.com/', api_version '2026-09', batch_size '100',
			 max_concurrency '8', rate_limit '190', timeout_ms '5000', max_attempts '3');
ALTER SERVER ok1 OPTIONS (SET api_version 'v3', ADD bogus '1');
ALTER SERVER ok1 OPTIONS (SET api_version '2026-03');
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname = 'ok1';

-- user mapping options: the token is never echoed back in an error
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (token 'pat-secret');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (access_token '');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (access_token 'pat-se cret');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (access_token E'pat-secret\r\nX-Evil: 1');
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1;
CREATE USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (access_token 'pat-secret');
ALTER USER MAPPING FOR CURRENT_USER SERVER ok1 OPTIONS (DROP access_token);

-- table options
CREATE FOREIGN TABLE t_bad1 (email text) SERVER ok1;
CREATE FOREIGN TABLE t_bad2 (email text) SERVER ok1 OPTIONS (object_type 'Contacts');
CREATE FOREIGN TABLE t_bad3 (email text) SERVER ok1 OPTIONS (object_type 'contacts/../x');
CREATE FOREIGN TABLE t_bad4 (email text) SERVER ok1 OPTIONS (object_type 'contacts', delivery 'later');
CREATE FOREIGN TABLE t_bad5 (email text) SERVER ok1 OPTIONS (object_type 'contacts', id_property 'e mail');
CREATE FOREIGN TABLE t_bad6 (email text) SERVER ok1 OPTIONS (object_type 'contacts', idproperty 'email');
CREATE FOREIGN TABLE t_bad7 (email text OPTIONS (prop 'x')) SERVER ok1 OPTIONS (object_type 'contacts');
CREATE FOREIGN TABLE t_bad8 (email text OPTIONS (property '')) SERVER ok1 OPTIONS (object_type 'contacts');
CREATE FOREIGN TABLE t_ok1 (id text, email text, ltv numeric OPTIONS (property 'lifetime_value'))
	SERVER ok1 OPTIONS (object_type 'contacts', id_property 'email', delivery 'immediate');
CREATE FOREIGN TABLE t_ok2 (name text) SERVER ok1 OPTIONS (object_type '2-1234567');
CREATE FOREIGN TABLE t_ok3 (name text) SERVER ok1 OPTIONS (object_type 'p_vendor');
CREATE FOREIGN TABLE t_ok4 (name text) SERVER ok1 OPTIONS (object_type '0-3');
ALTER FOREIGN TABLE t_ok1 OPTIONS (DROP object_type);
ALTER FOREIGN TABLE t_ok1 OPTIONS (SET delivery 'on_commit');
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 't_ok1'::regclass;

-- a server of another wrapper is refused by the batch functions
CREATE FOREIGN DATA WRAPPER other_fdw;
CREATE SERVER other FOREIGN DATA WRAPPER other_fdw;
SELECT * FROM hubspot_batch_upsert('contacts', '[]', 'other');
SELECT * FROM hubspot_batch_upsert('contacts', '[]', 'nonexistent');

DROP SERVER other;
DROP FOREIGN DATA WRAPPER other_fdw;
DROP SERVER ok1 CASCADE;
