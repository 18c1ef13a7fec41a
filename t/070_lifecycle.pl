# The queue's whole lifecycle: a failed row fixed and delivered, discarded
# rows, expiry, NOTIFY hubspot_fdw_failed, the worker saying what it waits
# for, and one rate budget for two servers that share a token.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use HubSpotSim;
use HubSpotTest;

my $sim = HubSpotSim->start();
my $node = HubSpotTest::node('lifecycle');
HubSpotTest::setup_db($node, 'postgres', $sim, ", max_attempts '2'");
sub psql { return $node->safe_psql('postgres', $_[0]) }

# ------------------------------------------------------------------ fix and retry
# a bad number is HubSpot's 400 for that input: the row fails with its error
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN hubspot_fdw_failed');
psql(q{SELECT hubspot_enqueue('upsert', 'contacts',
	'[{"id": "fix@example.com", "idProperty": "email", "properties": {"lifetime_value": "not a number"}},
	  {"id": "fine@example.com", "idProperty": "email", "properties": {"lifetime_value": "3"}}]')});
is(psql('SELECT hubspot_flush()'), '0', 'settled');
is(psql(q{SELECT state FROM hubspot_queue WHERE record_key = 'fix@example.com'}), 'failed', 'bad value: failed');
like(psql(q{SELECT error->>'message' FROM hubspot_queue WHERE record_key = 'fix@example.com'}),
	qr/not a number/, 'with HubSpot\'s message');
is(psql(q{SELECT state FROM hubspot_queue WHERE record_key = 'fine@example.com'}), 'done', 'the other row: done');

# the failure was notified, with counts only
my $out = $listener->query_safe('SELECT 1');
like($out . ($listener->{stderr} // ''), qr/hubspot_fdw_failed/, 'NOTIFY hubspot_fdw_failed received');
like($out . ($listener->{stderr} // ''), qr/"server":"hubspot","object_type":"contacts","failed":1,"unknown":0/,
	'payload: counts per server and object type');
unlike($out . ($listener->{stderr} // ''), qr/fix\@example|not a number/, 'payload: no keys or values');
$listener->quit;

my $id = psql(q{SELECT id FROM hubspot_queue WHERE record_key = 'fix@example.com'});
is(psql(qq{SELECT hubspot_retry(ARRAY[$id], '{"lifetime_value": 12}')}), '1', 'retry with a fix: one row');
is(psql('SELECT hubspot_flush()'), '0', 'settled again');
is(psql(qq{SELECT state || ' ' || (properties->>'lifetime_value') FROM hubspot_queue WHERE id = $id}),
	'done 12', 'the fixed row is done, with the corrected value');
is($sim->object_by('contacts', 'email', 'fix@example.com')->{properties}{lifetime_value}, '12',
	'HubSpot has the corrected value');

# ------------------------------------------------------------------ discard
psql(q{SELECT hubspot_enqueue('upsert', 'contacts',
	'[{"id": "bad2@example.com", "idProperty": "email", "properties": {"lifetime_value": "x"}}]')});
psql('SELECT hubspot_flush()');
my $bad = psql(q{SELECT id FROM hubspot_queue WHERE record_key = 'bad2@example.com'});
$node->append_conf('postgresql.conf', "hubspot_fdw.enabled = off\n");
$node->reload;
sleep 1;
psql(q{SELECT hubspot_enqueue('upsert', 'contacts',
	'[{"id": "never@example.com", "idProperty": "email", "properties": {}}]')});
my $pend = psql(q{SELECT id FROM hubspot_queue WHERE record_key = 'never@example.com'});
is(psql(qq{SELECT hubspot_discard(ARRAY[$bad, $pend])}), '2', 'discard a failed and a pending row');
$node->append_conf('postgresql.conf', "hubspot_fdw.enabled = on\n");
$node->reload;
is(psql('SELECT hubspot_flush()'), '0', 'nothing left to send');
is(psql(q{SELECT string_agg(state, ',' ORDER BY id) FROM hubspot_queue WHERE record_key IN ('bad2@example.com', 'never@example.com')}),
	'discarded,discarded', 'both discarded');
ok(!defined $sim->object_by('contacts', 'email', 'never@example.com'), 'a discarded row is never sent');
is(psql(q{SELECT discarded FROM hubspot_queue_status WHERE object_type = 'contacts'}), '2',
	'hubspot_queue_status counts them');

# ------------------------------------------------------------------ expiry
$node->append_conf('postgresql.conf', "hubspot_fdw.failed_retention = 2\nhubspot_fdw.retention = 3600\n");
$node->reload;
ok(HubSpotTest::wait_for(sub { psql(q{SELECT count(*) FROM hubspot_queue WHERE state IN ('failed', 'discarded')}) eq '0' }, 30),
	'failed and discarded rows expire after failed_retention');
isnt(psql(q{SELECT count(*) FROM hubspot_queue WHERE state = 'done'}), '0', 'done rows follow their own retention');
$node->append_conf('postgresql.conf', "hubspot_fdw.failed_retention = 3600\n");
$node->reload;

# ------------------------------------------------------------------ what the worker waits for
# 2 calls per 10 s and 600 rows in calls of 100: the worker waits for budget
psql(q{ALTER SERVER hubspot OPTIONS (ADD rate_limit '2')});
psql(q{INSERT INTO hubspot_contacts (email) SELECT 'slow' || g || '@example.com' FROM generate_series(1, 600) g});
ok(HubSpotTest::wait_for(sub { psql(q{SELECT state FROM hubspot_worker_status}) =~ /^waiting for rate budget until / }, 20),
	'hubspot_worker_status: waiting for rate budget until ...');
like(psql(q{SELECT budget FROM hubspot_worker_status}), qr/hubspot: \d+ of 2 calls per 10\.0 s used/,
	'hubspot_worker_status: the real budget');
is(psql(q{SELECT budget_max FROM hubspot_server_state() WHERE server = 'hubspot'}), '2',
	'hubspot_server_state: budget_max is the real cap');
ok(psql(q{SELECT estimated_drain > interval '5 s' FROM hubspot_queue_status WHERE object_type = 'contacts'}) eq 't',
	'hubspot_queue_status estimates the time to drain');
psql(q{ALTER SERVER hubspot OPTIONS (SET rate_limit '1000')});
is(psql(q{SELECT hubspot_flush('60 s')}), '0', 'drained once the budget is raised');

# a refused token: paused for that mapping, said so
$sim->config({ tokens => { 'pat-test' => undef } });
psql(q{INSERT INTO hubspot_contacts (email) VALUES ('auth@example.com')});
ok(HubSpotTest::wait_for(sub { psql(q{SELECT state FROM hubspot_worker_status}) =~ /^paused: auth \(mapping of role ".*" on server "hubspot", until its access_token changes\)/ }, 20),
	'hubspot_worker_status: paused: auth (mapping ...)');
is(psql(q{SELECT paused_until IS NULL AND pause_reason = 'auth' FROM hubspot_queue_status WHERE object_type = 'contacts'}),
	't', 'hubspot_queue_status: auth pause without a date');
$sim->config({ tokens => { 'pat-test' => 'all' } });
psql(q{ALTER USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (SET access_token 'pat-test2')});
$sim->config({ tokens => { 'pat-test2' => 'all' } });
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'resumed after the token changed');
like(psql(q{SELECT coalesce(server_error, '') FROM hubspot_queue_status WHERE object_type = 'contacts'}), qr/^$/,
	'the resolved error is gone');

# ------------------------------------------------------------------ one budget per app
# HubSpot allows 10 calls per 2 s to the token; two servers hold it, each
# allowed 50 per 10 s (= 10 per 2 s) on its own.  Shared, they stay within
# HubSpot's limit.
$sim->config({ tokens => { 'pat-shared' => 'all' }, rate_limit_max => 10, rate_limit_interval_ms => 2000 });
my $url = $sim->url;
for my $s ('s1', 's2')
{
	psql(qq{
		CREATE SERVER $s FOREIGN DATA WRAPPER hubspot_fdw
			OPTIONS (api_url '$url', rate_limit '50', batch_size '10');
		CREATE USER MAPPING FOR CURRENT_USER SERVER $s OPTIONS (access_token 'pat-shared');
		CREATE FOREIGN TABLE c_$s (email text, firstname text)
			SERVER $s OPTIONS (object_type 'contacts', id_property 'email');});
}
$sim->clear_requests;
my $t0 = time;
psql(q{
	INSERT INTO c_s1 (email) SELECT 'one' || g || '@example.com' FROM generate_series(1, 300) g;
	INSERT INTO c_s2 (email) SELECT 'two' || g || '@example.com' FROM generate_series(1, 300) g;});
is(psql(q{SELECT hubspot_flush('120 s')}), '0', 'both servers drained');
my $calls = $sim->requests(path => 'batch/upsert');
my $n429 = scalar grep { $_->{status} == 429 } @$calls;
my $ncalls = scalar @$calls;
diag(sprintf('one budget: %d calls, %d answered 429, %.1f s', $ncalls, $n429, time - $t0));
cmp_ok($n429, '<=', $ncalls / 100, 'at most 1% of calls answered 429');
is(HubSpotTest::stored($sim, 'one') + HubSpotTest::stored($sim, 'two'), 600, 'every row stored');

done_testing();
