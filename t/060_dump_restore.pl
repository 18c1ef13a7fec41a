# Queued rows survive pg_dump and a restore into another database (and
# another cluster, where every OID differs): rows name their role and
# server by name, and pending rows deliver after the restore.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HubSpotSim;
use HubSpotTest;

my $sim = HubSpotSim->start();
my $node = HubSpotTest::node('dump', "hubspot_fdw.enabled = off\n");
my $url = $sim->url;
$node->safe_psql('postgres', qq{
	CREATE ROLE queuer LOGIN;
	CREATE DATABASE src;
});
$node->safe_psql('src', qq{
	CREATE EXTENSION hubspot_fdw;
	-- a few objects first, so that the server's OID differs between the two databases
	CREATE TABLE filler (a int); CREATE TABLE filler2 (a int);
	CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url');
	GRANT USAGE ON FOREIGN SERVER hubspot TO queuer;
	CREATE USER MAPPING FOR queuer SERVER hubspot OPTIONS (access_token 'pat-test');
	CREATE FOREIGN TABLE contacts (id text, email text, firstname text)
		SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
	GRANT INSERT ON contacts TO queuer;
});
# rows and a pack, queued by the ordinary role while the worker is off
$node->safe_psql('src', q{
	SET ROLE queuer;
	INSERT INTO contacts (email, firstname) VALUES ('one@example.com', 'One');
	INSERT INTO contacts (email, firstname)
		SELECT 'bulk' || g || '@example.com', 'B' || g FROM generate_series(1, 1500) g;
});
is($node->safe_psql('src', q{SELECT count(*) FROM hubspot_queue WHERE state = 'pending'}),
	'1501', 'queued while the worker is off');
is($node->safe_psql('src', q{SELECT DISTINCT server FROM hubspot_queue}), 'hubspot',
	'rows name their server');

my $dump = $node->basedir . '/src.dump';
command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');

# restore into another database of the same cluster
$node->safe_psql('postgres', 'CREATE DATABASE dst');
command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ], 'pg_restore into another database');
isnt($node->safe_psql('dst', q{SELECT oid FROM pg_foreign_server WHERE srvname = 'hubspot'}),
	$node->safe_psql('src', q{SELECT oid FROM pg_foreign_server WHERE srvname = 'hubspot'}),
	'the server has another OID there');
is($node->safe_psql('dst', q{SELECT count(*) FROM hubspot_queue WHERE state = 'pending'}),
	'1501', 'pending rows restored');

# only dst's worker may send: drop the source database
$node->safe_psql('postgres', 'DROP DATABASE src WITH (FORCE)');
$node->append_conf('postgresql.conf', "hubspot_fdw.enabled = on\n");
$node->restart;
ok($node->poll_query_until('dst', q{SELECT count(*) = 0 FROM hubspot_queue WHERE state IN ('pending', 'sending')}),
	'restored rows settled');
is($node->safe_psql('dst', q{SELECT state || ':' || count(*) FROM hubspot_queue GROUP BY state}),
	'done:1501', 'every restored row done');
is(HubSpotTest::stored($sim, 'one@'), 1, 'the row reached HubSpot');
is(HubSpotTest::stored($sim, 'bulk'), 1500, 'the packed rows reached HubSpot');

# another cluster: roles and servers get other OIDs again
$sim->reset;
my $node2 = HubSpotTest::node('restored', "hubspot_fdw.enabled = off\n");
$node2->safe_psql('postgres', q{CREATE ROLE other1; CREATE ROLE other2; CREATE ROLE queuer LOGIN; CREATE DATABASE dst2;});
$node->safe_psql('dst', q{UPDATE hubspot_queue_data SET state = 'pending' WHERE record_key = 'one@example.com'});
my $dump2 = $node->basedir . '/dst.dump';
command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('dst'), '-f', $dump2 ], 'pg_dump of the restored database');
command_ok([ 'pg_restore', '-d', $node2->connstr('dst2'), $dump2 ], 'pg_restore into another cluster');
isnt($node2->safe_psql('dst2', q{SELECT oid FROM pg_roles WHERE rolname = 'queuer'}),
	$node->safe_psql('dst', q{SELECT oid FROM pg_roles WHERE rolname = 'queuer'}),
	'the role has another OID there');
$node->stop;
$node2->append_conf('postgresql.conf', "hubspot_fdw.enabled = on\n");
$node2->restart;
ok($node2->poll_query_until('dst2', q{SELECT count(*) = 0 FROM hubspot_queue WHERE state IN ('pending', 'sending')}),
	'rows settled in the other cluster');
is($node2->safe_psql('dst2', q{SELECT state FROM hubspot_queue WHERE record_key = 'one@example.com'}),
	'done', 'the pending row was sent with its role\'s mapping');
is(HubSpotTest::stored($sim, 'one@'), 1, 'and reached HubSpot');

done_testing();
