# Delivery under HubSpot's rules (DESIGN.md section 3; REFERENCE.md 4 and 5.3):
# injected answers (429, 423, 477, 5xx), a 429 storm, dropped connections, a
# stalled call, a revoked token, the daily limit, and two servers with separate
# budgets.  Every rule is checked through SQL (hubspot_queue, hubspot_queue_status,
# hubspot_worker_status) and through what the simulator received (its request log,
# with t_start/t_end of each call) and stored.
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

# Slack between the simulator's t_end of an answer and the moment the worker
# reads it (same host, loopback).
my $SLACK = 0.05;

my $sim = HubSpotSim->start();
my $node = HubSpotTest::node('faults', "hubspot_fdw.log_calls = on\n");
HubSpotTest::setup_db($node, 'postgres', $sim);

# ------------------------------------------------------------------ helpers

sub psql { return $node->safe_psql('postgres', $_[0]) }

sub insert_rows
{
	my ($table, $prefix, $n) = @_;
	psql(qq{INSERT INTO $table (email, firstname)
		SELECT '$prefix' || g || '\@example.com', 'F' || g FROM generate_series(1, $n) g});
}

# "state:attempts x count" groups of the queue rows of a prefix, e.g. "done:1x20".
sub row_states
{
	my ($prefix) = @_;
	return psql(qq{
		SELECT string_agg(state || ':' || attempts || 'x' || n, ',' ORDER BY state, attempts)
		  FROM (SELECT state, attempts, count(*) AS n FROM hubspot_queue
				 WHERE record_key LIKE '$prefix%' GROUP BY 1, 2) s});
}

sub count_state
{
	my ($prefix, $state) = @_;
	return psql(qq{SELECT count(*) FROM hubspot_queue
		WHERE record_key LIKE '$prefix%' AND state = '$state'});
}

# Input keys (lowercased) of one logged batch call.
sub call_keys
{
	my ($r) = @_;
	my $b = $r->{body};
	return () unless ref $b eq 'HASH' && ref $b->{inputs} eq 'ARRAY';
	return map { lc($_->{id} // '') } @{ $b->{inputs} };
}

# Batch calls the simulator logged that carry keys starting with $prefix,
# in order of arrival.
sub calls_for
{
	my ($prefix) = @_;
	my @c = grep {
		grep { index($_, $prefix) == 0 } call_keys($_)
	} @{ $sim->requests(path => '/batch/') };
	return [ sort { $a->{t_start} <=> $b->{t_start} } @c ];
}

sub statuses { return join(',', map { $_->{status} } @{ $_[0] }) }

# For each call answered with one of @st: the time from its answer to the start
# of the next call (of the same list) that started after that answer.
# Returns the smallest such gap, or undef when no call followed.
sub min_gap_after
{
	my ($calls, @st) = @_;
	my %want = map { $_ => 1 } @st;
	my $min;
	for my $i (0 .. $#$calls)
	{
		my $r = $calls->[$i];
		next unless $want{ $r->{status} };
		my ($next) = grep { $_->{t_start} > $r->{t_end} } @$calls[ $i + 1 .. $#$calls ];
		next unless $next;
		my $gap = $next->{t_start} - $r->{t_end};
		$min = $gap if !defined $min || $gap < $min;
	}
	return $min;
}

# Every one of $n rows stored once: the simulator holds $n objects with the
# prefix, and each key was in exactly one call that HubSpot answered with 2xx.
sub delivered_once
{
	my ($prefix, $n, $what) = @_;
	is(HubSpotTest::stored($sim, $prefix), $n, "$what: $n stored");
	my %seen;
	for my $r (@{ calls_for($prefix) })
	{
		next unless $r->{status} >= 200 && $r->{status} < 300;
		$seen{$_}++ for grep { index($_, $prefix) == 0 } call_keys($r);
	}
	is(scalar(keys %seen), $n, "$what: each row accepted by HubSpot");
	my @twice = grep { $seen{$_} > 1 } sort keys %seen;
	is(scalar(@twice), 0, "$what: no row accepted twice")
	  or diag("accepted more than once: @twice[0 .. ($#twice < 4 ? $#twice : 4)]");
}

sub server_status
{
	my ($server, $cols) = @_;
	return psql(qq{SELECT $cols FROM hubspot_queue_status
		WHERE server = '$server' AND object_type = 'contacts'});
}

sub worker_status
{
	my ($cols) = @_;
	return psql(qq{SELECT $cols FROM hubspot_worker_status WHERE database = 'postgres'});
}

# Start each section with a clean log and no faults.
sub section
{
	my ($name) = @_;
	note("---- $name");
	$sim->clear_faults;
	$sim->clear_requests;
}

my $t_file = time;

# ------------------------------------------------------------------ 429 TEN_SECONDLY_ROLLING
# Two 429s (body policyName TEN_SECONDLY_ROLLING, no Retry-After, no rate headers):
# the worker waits and sends again, without counting an attempt.  The design asks
# for "the rest of the window"; without headers the rest is unknown, so the test
# asserts a floor of a tenth of HubSpot's 10 s window.
section('429 TEN_SECONDLY_ROLLING');
$sim->fault({ status => 429, count => 2, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'ten429-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '429: settled');
my $calls = calls_for('ten429-');
is(statuses($calls), '429,429,200', '429: two 429s, then the call went through');
my $gap = min_gap_after($calls, 429);
ok(defined $gap && $gap >= 1 - $SLACK,
	sprintf('429: waited after each 429 (smallest gap %.3f s)', $gap // -1));
is(row_states('ten429-'), 'done:1x20', '429: rows done, no attempt counted for the 429s');
delivered_once('ten429-', 20, '429');

# A 429 with Retry-After: 2 -> the next call at least 2 s later.
section('429 with Retry-After');
$sim->fault({ status => 429, count => 1, match => 'batch/upsert', headers => { 'Retry-After' => '2' } });
insert_rows('hubspot_contacts', 'ra429-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '429 Retry-After: settled');
$calls = calls_for('ra429-');
is(statuses($calls), '429,200', '429 Retry-After: one 429, then the call went through');
$gap = min_gap_after($calls, 429);
ok(defined $gap && $gap >= 2 - $SLACK,
	sprintf('429 Retry-After: 2: next call %.3f s after the 429', $gap // -1));
is(row_states('ra429-'), 'done:1x20', '429 Retry-After: rows done with attempts 1');
delivered_once('ra429-', 20, '429 Retry-After');

# ------------------------------------------------------------------ 423 Locked
section('423');
$sim->fault({ status => 423, count => 2, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'lock423-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '423: settled');
$calls = calls_for('lock423-');
is(statuses($calls), '423,423,200', '423: two 423s, then the call went through');
$gap = min_gap_after($calls, 423);
ok(defined $gap && $gap >= 2 - $SLACK,
	sprintf('423: next call >= 2 s after each 423 (smallest gap %.3f s)', $gap // -1));
is(count_state('lock423-', 'done'), '20', '423: all rows done');
delivered_once('lock423-', 20, '423');

# ------------------------------------------------------------------ 477 Migration in Progress
# The simulator adds Retry-After: 1 to a 477.
section('477');
$sim->fault({ status => 477, count => 2, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'mig477-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '477: settled');
$calls = calls_for('mig477-');
is(statuses($calls), '477,477,200', '477: two 477s, then the call went through');
$gap = min_gap_after($calls, 477);
ok(defined $gap && $gap >= 1 - $SLACK,
	sprintf('477 Retry-After: 1: next call >= 1 s after each 477 (smallest gap %.3f s)', $gap // -1));
is(count_state('mig477-', 'done'), '20', '477: all rows done');
delivered_once('mig477-', 20, '477');

# ------------------------------------------------------------------ 502, 503, 504, 524
# One of each, in a row: retried, each failure counted as an attempt.
section('5xx');
my $calls5xx_before = worker_status('calls_5xx');
$sim->fault({ status => $_, count => 1, match => 'batch/upsert' }) for (502, 503, 504, 524);
insert_rows('hubspot_contacts', 'err5xx-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '5xx: settled');
$calls = calls_for('err5xx-');
is(statuses($calls), '502,503,504,524,200', '5xx: retried after 502, 503, 504 and 524');
is(row_states('err5xx-'), 'done:5x20', '5xx: rows done, the four failures counted as attempts');
delivered_once('err5xx-', 20, '5xx');
cmp_ok(worker_status('calls_5xx') - $calls5xx_before, '>=', 4, '5xx: hubspot_worker_status counted the 5xx calls');

# A row that keeps failing ends `failed` after max_attempts, with the last error;
# hubspot_retry() brings it back.
section('failed after max_attempts');
psql(q{ALTER SERVER hubspot OPTIONS (ADD max_attempts '3')});
$sim->fault({ status => 502, count => 1, match => 'batch/upsert' });
$sim->fault({ status => 504, count => 1, match => 'batch/upsert' });
$sim->fault({ status => 503, count => -1, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'fail-', 5);
ok(HubSpotTest::wait_for(sub { count_state('fail-', 'failed') == 5 }, 40), 'max_attempts: rows failed');
is(row_states('fail-'), 'failed:3x5', 'max_attempts 3: failed after 3 attempts');
is(statuses(calls_for('fail-')), '502,504,503', 'max_attempts: exactly 3 calls, no more');
is(psql(q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'fail-%'
	AND jsonb_typeof(error) = 'object' AND error::text LIKE '%503%'
	AND error::text NOT LIKE '%simulated 502%' AND error::text NOT LIKE '%simulated 504%'}),
	'5', 'max_attempts: error is the last answer (503), as jsonb');
is(server_status('hubspot', 'failed'), '5', 'hubspot_queue_status counts the failed rows');
is(psql(q{SELECT hubspot_flush('10 s')}), '0', 'failed rows are settled for hubspot_flush');
$sim->clear_faults;
is(psql(q{SELECT hubspot_retry()}), '5', 'hubspot_retry() puts the 5 rows back');
is(psql(q{SELECT hubspot_flush('60 s')}), '0', 'retried rows settled');
is(row_states('fail-'), 'done:1x5', 'retried rows done');
delivered_once('fail-', 5, 'retry');
psql(q{ALTER SERVER hubspot OPTIONS (DROP max_attempts)});

# ------------------------------------------------------------------ 429 storm
# 20 consecutive 429s over 300 rows (3 calls in flight).  The 429s carry the
# rate headers HubSpot sends, here with a 1 s window so that waiting out the
# window keeps the test short.
section('429 storm');
my $c429_before = worker_status('calls_429');
$sim->fault({ status => 429, count => 20, match => 'batch/upsert',
	headers => { 'X-HubSpot-RateLimit-Max' => '100', 'X-HubSpot-RateLimit-Remaining' => '0',
		'X-HubSpot-RateLimit-Interval-Milliseconds' => '1000' } });
insert_rows('hubspot_contacts', 'storm-', 300);
is(psql(q{SELECT hubspot_flush('90 s')}), '0', 'storm: settled');
$calls = calls_for('storm-');
is(scalar(grep { $_->{status} == 429 } @$calls), 20, 'storm: HubSpot answered 20 calls with 429');
is(row_states('storm-'), 'done:1x300', 'storm: every row done, the 429s not counted');
delivered_once('storm-', 300, 'storm');
cmp_ok(worker_status('calls_429') - $c429_before, '>=', 20, 'storm: hubspot_worker_status counted the 429s');

# ------------------------------------------------------------------ stalled call
# One call stalls 3 s, longer than timeout_ms 1000: given up and retried.  The
# stalled request is still applied by the simulator afterwards (as HubSpot may),
# so here "once" means one object per row, not one accepted call.
section('stalled call');
psql(q{ALTER SERVER hubspot OPTIONS (ADD timeout_ms '1000')});
$sim->fault({ delay_ms => 3000, count => 1, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'stall-', 20);
is(psql(q{SELECT hubspot_flush('60 s')}), '0', 'stall: settled');
ok(HubSpotTest::wait_for(sub { grep { $_->{t_end} - $_->{t_start} >= 2.9 } @{ calls_for('stall-') } }, 10),
	'stall: the simulator held one call for 3 s');
$calls = calls_for('stall-');
is(scalar(@$calls), 2, 'stall: the stalled call and one retry');
ok(@$calls == 2 && $calls->[1]{t_start} < $calls->[0]{t_end},
	'stall: the retry started before the stalled call ended (timed out at 1 s)');
is(row_states('stall-'), 'done:2x20', 'stall: rows done, the timeout counted as an attempt');
is(HubSpotTest::stored($sim, 'stall-'), 20, 'stall: 20 stored, once each');
psql(q{ALTER SERVER hubspot OPTIONS (DROP timeout_ms)});

# ------------------------------------------------------------------ dropped connections
# Every call's connection is dropped for a while, then the fault is cleared.  The
# issue says 30 s; 10 s here keeps the suite short and still spans several
# back-off steps.
section('dropped connections');
$sim->fault({ drop => 1, count => -1, match => 'batch/upsert' });
insert_rows('hubspot_contacts', 'drop-', 50);
my $max_failed = 0;
my $t_drop = time;
while (time - $t_drop < 10)
{
	my $f = count_state('drop-', 'failed');
	$max_failed = $f if $f > $max_failed;
	usleep(500_000);
}
my $dropped = scalar(grep { $_->{status} == 0 } @{ calls_for('drop-') });
cmp_ok($dropped, '>=', 2, "drop: the simulator dropped $dropped calls");
is($max_failed, 0, 'drop: no row failed during the outage');
is(count_state('drop-', 'done'), '0', 'drop: nothing done during the outage');
$sim->clear_faults;
my $t_clear = time;
is(psql(q{SELECT hubspot_flush('60 s')}), '0', 'drop: settled after the fault cleared');
diag(sprintf('drop: delivered %.1f s after the fault was cleared', time - $t_clear));
is(psql(q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'drop-%' AND state <> 'done'}),
	'0', 'drop: every row done');
delivered_once('drop-', 50, 'drop');

# ------------------------------------------------------------------ revoked token
# pat-test is removed from the simulator: 401.  The server's queue pauses (no
# attempts burned), the reason shows; a new token in the user mapping resumes
# delivery by itself.
section('revoked token');
$sim->config({ tokens => { 'pat-test' => undef } });
insert_rows('hubspot_contacts', 'auth-', 10);
ok(HubSpotTest::wait_for(sub { (server_status('hubspot', 'pause_reason') // '') eq 'auth' }, 15),
	"401: hubspot_queue_status shows pause_reason 'auth'");
like(server_status('hubspot', 'server_error'), qr/401|INVALID_AUTHENTICATION/,
	'401: hubspot_queue_status shows the server error');
like(worker_status('paused_servers') // '', qr/hubspot.*auth/, '401: hubspot_worker_status lists the paused server');
my $n401 = scalar(grep { $_->{status} == 401 } @{ calls_for('auth-') });
cmp_ok($n401, '>=', 1, '401: HubSpot refused the token');
sleep 3;
is(scalar(grep { $_->{status} == 401 } @{ calls_for('auth-') }), $n401, '401: no more calls while paused');
is(row_states('auth-'), 'pending:0x10', '401: rows pending, no attempt burned');
$sim->config({ tokens => { 'pat-fixed' => 'all' } });
my $t_fix = time;
psql(q{ALTER USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (SET access_token 'pat-fixed')});
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'auth-') == 10 }, 15),
	'401: delivery resumed by itself after ALTER USER MAPPING');
diag(sprintf('401: delivered %.1f s after the mapping changed', time - $t_fix));
ok(HubSpotTest::wait_for(sub { count_state('auth-', 'done') == 10 }, 10), '401: rows done');
is(row_states('auth-'), 'done:1x10', '401: rows done with attempts 1');
is(server_status('hubspot', 'pause_reason'), '', '401: no longer paused');
delivered_once('auth-', 10, '401');
$sim->config({ tokens => { 'pat-test' => 'all' } });

# ------------------------------------------------------------------ two servers, two budgets
# hs_slow may make 10 calls per 10 s (10 inputs each) and has a backlog; hs_fast
# has a high limit.  Different tokens, so HubSpot counts them apart too.
section('two servers');
$sim->config({ tokens => { 'pat-slow' => 'all', 'pat-fast' => 'all' } });
my $url = $sim->url;
psql(qq{
	CREATE SERVER hs_slow FOREIGN DATA WRAPPER hubspot_fdw
		OPTIONS (api_url '$url', rate_limit '10', batch_size '10');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hs_slow OPTIONS (access_token 'pat-slow');
	CREATE FOREIGN TABLE slow_contacts (id text, email text, firstname text)
		SERVER hs_slow OPTIONS (object_type 'contacts', id_property 'email');
	CREATE SERVER hs_fast FOREIGN DATA WRAPPER hubspot_fdw
		OPTIONS (api_url '$url', rate_limit '1000');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hs_fast OPTIONS (access_token 'pat-fast');
	CREATE FOREIGN TABLE fast_contacts (id text, email text, firstname text)
		SERVER hs_fast OPTIONS (object_type 'contacts', id_property 'email');
});
insert_rows('slow_contacts', 'slow-', 150);
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'slow-') > 0 }, 10), 'slow server: drain started');
my $t_fast = time;
insert_rows('fast_contacts', 'fast-', 500);
my $fast_ok = HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'fast-') == 500 }, 30);
my $fast_s = time - $t_fast;
my $slow_then = HubSpotTest::stored($sim, 'slow-');
ok($fast_ok, 'fast server: 500 rows stored');
ok($fast_s < 3, sprintf('fast server: 500 rows stored in %.1f s (< 3 s) while the slow one drains', $fast_s));
cmp_ok($slow_then, '<', 150, "slow server still draining then ($slow_then of 150 stored)");
is(psql(q{SELECT hubspot_flush('60 s')}), '0', 'two servers: settled');
delivered_once('slow-', 150, 'slow server');
delivered_once('fast-', 500, 'fast server');
my @slow = sort { $a <=> $b } map { $_->{t_start} }
  grep { ($_->{headers}{authorization} // '') eq 'Bearer pat-slow' } @{ $sim->requests(path => 'batch/') };
my $peak = 0;
for my $i (0 .. $#slow)
{
	my $n = grep { $_ >= $slow[$i] && $_ < $slow[$i] + 10 } @slow;
	$peak = $n if $n > $peak;
}
is(scalar(@slow), 15, 'slow server: 15 calls of 10');
cmp_ok($peak, '<=', 10, "slow server: at most 10 calls in any 10 s (peak $peak)");
is(scalar(grep { $_->{status} == 429 } @{ $sim->requests(path => 'batch/') }), 0, 'two servers: no 429');

# ------------------------------------------------------------------ 429 DAILY
# Last: it pauses server hubspot until the daily reset.
section('429 DAILY');
$sim->config({ daily_limit => 1 });
insert_rows('hubspot_contacts', 'daily-', 10);
ok(HubSpotTest::wait_for(sub { (server_status('hubspot', 'pause_reason') // '') eq 'daily limit' }, 15),
	"DAILY: hubspot_queue_status shows pause_reason 'daily limit'");
my $ndaily = scalar(grep { $_->{status} == 429 } @{ calls_for('daily-') });
cmp_ok($ndaily, '>=', 1, 'DAILY: HubSpot answered 429');
is(server_status('hubspot', 'paused_until > now()'), 't', 'DAILY: paused until later');
like(worker_status('paused_servers') // '', qr/hubspot.*daily/, 'DAILY: hubspot_worker_status lists the paused server');
sleep 2;
is(scalar(grep { $_->{status} == 429 } @{ calls_for('daily-') }), $ndaily, 'DAILY: no more calls while paused');
is(row_states('daily-'), 'pending:0x10', 'DAILY: rows pending, no attempt burned');

diag(sprintf('020_faults: %.0f s', time - $t_file));
$node->stop;
$sim->stop;
done_testing();
