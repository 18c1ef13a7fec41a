# The on-commit write path: queue -> worker -> simulator, with crashes.
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
my $node = HubSpotTest::node('worker');
HubSpotTest::setup_db($node, 'postgres', $sim);

# Rollback sends nothing.
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO hubspot_contacts (email) SELECT 'rb' || g || '@example.com' FROM generate_series(1, 10) g;
	ROLLBACK;});
sleep 2;
is(scalar @{ $sim->requests(path => 'batch/') }, 0, 'rollback: no call');
is($node->safe_psql('postgres', 'SELECT count(*) FROM hubspot_queue'), '0', 'rollback: nothing queued');

# Commit delivers everything, in calls of 100.
$node->safe_psql('postgres', q{
	INSERT INTO hubspot_contacts (email, firstname)
	SELECT 'c' || g || '@example.com', 'C' || g FROM generate_series(1, 1000) g;});
is($node->safe_psql('postgres', 'SELECT hubspot_flush()'), '0', 'flush settles all');
is(HubSpotTest::stored($sim, 'c'), 1000, 'commit: 1000 stored');
my $calls = $sim->requests(path => 'batch/upsert');
is(scalar @$calls, 10, 'commit: 10 calls');
ok(!(grep { $_->{ninputs} > 100 } @$calls), 'no call above 100 inputs');

# The commit wakes the worker: with a one-minute naptime a row still goes at once.
$node->append_conf('postgresql.conf', "hubspot_fdw.naptime = 60000\n");
$node->reload;
sleep 1;
$sim->clear_requests;
my $t0 = time;
$node->safe_psql('postgres', q{INSERT INTO hubspot_contacts (email) VALUES ('latch@example.com')});
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'latch') == 1 }, 10), 'woken by the commit');
my $latency = time - $t0;
ok($latency < 2, sprintf('stored %.0f ms after commit (naptime 60 s)', $latency * 1000));
$node->append_conf('postgresql.conf', "hubspot_fdw.naptime = 1000\n");
$node->reload;

# SIGKILL of the worker in the middle of 5,000 rows: nothing is lost.
# Progress is read from the simulator's counters (cheap), calls are slowed.
sub sent { return $sim->stats->{inputs} }
$sim->config({ latency_ms => 400 });
my $base = sent();
$node->safe_psql('postgres', q{
	INSERT INTO hubspot_contacts (email, firstname)
	SELECT 'k' || g || '@example.com', 'K' || g FROM generate_series(1, 5000) g;});
ok(HubSpotTest::wait_for(sub { sent() - $base > 500 }, 60), 'drain under way');
my $pid = HubSpotTest::worker_pid($node, 'postgres');
kill 'KILL', $pid;
my $before = sent() - $base;
diag("killed worker $pid with $before of 5000 stored");
ok($before < 5000, 'killed mid-drain');
HubSpotTest::wait_worker($node, 'postgres');
$sim->config({ latency_ms => 0 });
is($node->safe_psql('postgres', q{SELECT hubspot_flush('120 s')}), '0', 'after SIGKILL: settled');
is(HubSpotTest::stored($sim, 'k'), 5000, 'after SIGKILL: all 5000 stored');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'k%' AND state <> 'done'}),
	'0', 'after SIGKILL: every row done');

# pg_ctl restart -m immediate in the middle of 5,000 rows.
$sim->config({ latency_ms => 400 });
$base = sent();
$node->safe_psql('postgres', q{
	INSERT INTO hubspot_contacts (email, firstname)
	SELECT 'i' || g || '@example.com', 'I' || g FROM generate_series(1, 5000) g;});
ok(HubSpotTest::wait_for(sub { sent() - $base > 500 }, 60), 'second drain under way');
$node->stop('immediate');
$before = sent() - $base;
diag("stopped immediately with $before of 5000 stored");
ok($before < 5000, 'stopped mid-drain');
$node->start;
$sim->config({ latency_ms => 0 });
HubSpotTest::wait_worker($node, 'postgres');
is($node->safe_psql('postgres', q{SELECT hubspot_flush('120 s')}), '0', 'after immediate restart: settled');
is(HubSpotTest::stored($sim, 'i'), 5000, 'after immediate restart: all 5000 stored');
ok($node->log_contains('caught in sending are pending again'), 'rows in sending went back to pending');

# A bulk INSERT is queued in packs; committed packs survive a crash before
# the worker has unpacked them, and are then delivered in full.
$node->safe_psql('postgres', 'ALTER SYSTEM SET hubspot_fdw.enabled = off');
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT state = 'disabled' FROM hubspot_worker_status
	WHERE database = 'postgres'}), 'worker disabled');
$node->safe_psql('postgres', q{
	INSERT INTO hubspot_contacts (email, firstname)
	SELECT 'pk' || g || '@example.com', 'P' || g FROM generate_series(1, 2500) g;});
is($node->safe_psql('postgres', q{SELECT count(*) || ' packs, ' || sum(n) FROM hubspot_queue_pack}),
	'3 packs, 2500', 'bulk insert queued as packs');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) || ' packs, ' || sum(n) FROM hubspot_queue_pack}),
	'3 packs, 2500', 'packs survive a crash');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET hubspot_fdw.enabled');
$node->reload;
is($node->safe_psql('postgres', q{SELECT hubspot_flush('60 s')}), '0', 'packs: settled');
is(HubSpotTest::stored($sim, 'pk'), 2500, 'packs: all 2500 stored');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hubspot_queue_pack}), '0', 'packs: unpacked');
is($node->safe_psql('postgres', q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'pk%' AND state = 'done'}),
	'2500', 'packs: every input done');

# Four sessions at once push row-level changes, each transaction with a
# savepoint rolled back: every committed change is queued once, none of the
# rolled-back ones, and HubSpot ends with each row's last value.
$node->safe_psql('postgres', q{
	CREATE TABLE people (id int, email text, firstname text);
	INSERT INTO people SELECT g, 'conc' || g || '@example.com', 'start' FROM generate_series(1, 2000) g;
	CREATE TRIGGER push AFTER UPDATE ON people
		FOR EACH ROW EXECUTE FUNCTION hubspot_push('contacts', 'email', 'exclude=id');});
my @sessions;
for my $s (0 .. 3)
{
	my $sql = join '', map {
		"BEGIN; UPDATE people SET firstname = 's$s-$_' WHERE id % 4 = $s AND id % 100 < $_ * 5;\n"
		  . "SAVEPOINT a; UPDATE people SET firstname = 'undone' WHERE id % 4 = $s; ROLLBACK TO a; COMMIT;\n"
	} 1 .. 20;
	my ($out, $err) = ('', '');
	push @sessions, [ IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$sql, '>', \$out, '2>', \$err), \$err ];
}
for my $h (@sessions)
{
	$h->[0]->finish;
	is(${ $h->[1] }, '', 'concurrent session ran without error');
}
is($node->safe_psql('postgres', 'SELECT hubspot_flush()'), '0', 'concurrent: settled');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT id) || ' '
	|| count(*) FILTER (WHERE properties->>'firstname' = 'undone') || ' '
	|| count(*) FILTER (WHERE state <> 'done')
	FROM hubspot_queue WHERE record_key LIKE 'conc%'}),
	'21000 21000 0 0', 'concurrent: 21,000 changes queued once, none rolled back, all done');
my %want = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', 'SELECT email, firstname FROM people');
my %got = map { ($_->{properties}{email} => $_->{properties}{firstname} // '') }
  grep { ($_->{properties}{email} // '') =~ /^conc/ } @{ $sim->objects('contacts') };
is(scalar(grep { ($got{$_} // '') ne $want{$_} } keys %want), 0,
	'concurrent: HubSpot holds every row\'s last value');

# A second database gets its own worker, at CREATE EXTENSION, without restart.
$node->safe_psql('postgres', 'CREATE DATABASE second');
HubSpotTest::setup_db($node, 'second', $sim);
$node->safe_psql('second', q{INSERT INTO hubspot_contacts (email) VALUES ('second@example.com')});
is($node->safe_psql('second', 'SELECT hubspot_flush()'), '0', 'second database: settled');
is(HubSpotTest::stored($sim, 'second@'), 1, 'second database: stored');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT datname) FROM pg_stat_activity WHERE backend_type = 'hubspot_fdw worker'}),
	'2', 'one worker per database');

# done rows older than hubspot_fdw.retention are removed; failed rows stay.
$node->safe_psql('postgres', q{
	INSERT INTO hubspot_contacts (email) VALUES ('keep-me-failed'), ('gone@example.com')});
is($node->safe_psql('postgres', 'SELECT hubspot_flush()'), '0', 'retention: settled');
$node->append_conf('postgresql.conf', "hubspot_fdw.retention = 1\n");
$node->reload;
ok( $node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM hubspot_queue WHERE state = 'done'}),
	'retention: done rows removed');
is($node->safe_psql('postgres', q{SELECT string_agg(record_key, ',') FROM hubspot_queue}),
	'keep-me-failed', 'retention: the failed row stays');

# A backend that queued writes before DROP and CREATE EXTENSION queues into
# the new queue table afterwards (its cached relations are forgotten).
my $url = $sim->url;
is($node->safe_psql('second', qq{
	INSERT INTO hubspot_contacts (email) VALUES ('before-drop\@example.com');
	DROP EXTENSION hubspot_fdw CASCADE;
	CREATE EXTENSION hubspot_fdw;
	CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');
	CREATE FOREIGN TABLE hubspot_contacts (id text, email text, firstname text)
		SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
	INSERT INTO hubspot_contacts (email) VALUES ('after-drop\@example.com');
	SELECT string_agg(record_key, ',') FROM hubspot_queue;}),
	'after-drop@example.com', 'same backend after DROP/CREATE EXTENSION: queued in the new queue');
HubSpotTest::wait_worker($node, 'second');
is($node->safe_psql('second', 'SELECT hubspot_flush()'), '0', 'recreated extension: settled');
is(HubSpotTest::stored($sim, 'after-drop'), 1, 'recreated extension: stored');

# DROP EXTENSION stops that database's worker.
$node->safe_psql('second', 'DROP EXTENSION hubspot_fdw CASCADE');
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM pg_stat_activity
		 WHERE backend_type = 'hubspot_fdw worker' AND datname = 'second'}),
	'worker leaves a database that dropped the extension');

$node->stop;
$sim->stop;
done_testing();
