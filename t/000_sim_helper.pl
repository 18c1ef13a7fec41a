# Checks the HubSpot simulator helper (t/HubSpotSim.pm) on its own; needs no PostgreSQL.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use Test::More;
use HubSpotSim;

my $sim = HubSpotSim->start();
like($sim->url, qr{^http://127\.0\.0\.1:\d+$}, 'url');
ok($sim->port > 0, 'port');

my ($st, $body) = $sim->api('POST', '/crm/v3/objects/contacts/batch/upsert',
	{ inputs => [ { id => 'Ada@X.com', idProperty => 'email', properties => { firstname => 'Ada' } } ] });
is($st, 200, 'upsert through the API');
is($body->{results}[0]{properties}{email}, 'ada@x.com', 'email lowercased');

is($sim->count('contacts'), 1, 'count');
is($sim->objects('contacts')->[0]{properties}{firstname}, 'Ada', 'objects');
is($sim->object_by('contacts', 'email', 'ADA@x.com')->{properties}{firstname}, 'Ada', 'object_by, email case-insensitive');
is($sim->object_by('contacts', 'email', 'nobody@x.com'), undef, 'object_by: none');

my $reqs = $sim->requests(path => 'batch/upsert');
is(scalar @$reqs, 1, 'requests filtered by path');
is($reqs->[0]{ninputs}, 1, 'ninputs logged');
is($reqs->[0]{body}{inputs}[0]{id}, 'Ada@X.com', 'body logged');
is(scalar @{ $sim->requests(path => 'nothing') }, 0, 'requests: no match');
is($sim->stats->{calls}, 1, 'stats');

$sim->fault({ status => 503, count => 2 });
($st) = $sim->api('GET', '/crm/v3/objects/contacts');
is($st, 503, 'fault injected');
$sim->clear_faults;
($st) = $sim->api('GET', '/crm/v3/objects/contacts');
is($st, 200, 'faults cleared');

my $cfg = $sim->config({ rate_limit_max => 7 });
is($cfg->{rate_limit_max}, 7, 'config merged');
($st) = $sim->api('GET', '/crm/v3/objects/contacts', undef, 'pat-nope');
is($st, 401, 'unknown token');

$sim->clear_requests;
is(scalar @{ $sim->requests }, 0, 'requests cleared');

$sim->api('POST', '/crm/v3/objects/contacts/batch/archive',
	{ inputs => [ { id => $body->{results}[0]{id} } ] });
is($sim->count('contacts'), 0, 'archived objects are not counted');

$sim->reset;
is($sim->stats->{calls}, 0, 'reset');
is($sim->config({})->{rate_limit_max}, 0, 'reset restores the config');

eval { $sim->config({ bogus => 1 }) };
like($@, qr/unknown config key/, 'control errors die');

my $pid = $sim->pid;
$sim->stop;
ok(!kill(0, $pid), 'stopped');
ok(!eval { $sim->stats; 1 }, 'control calls die after stop');

# a second instance goes away when it leaves scope
{
	my $s2 = HubSpotSim->start();
	$pid = $s2->pid;
	ok(kill(0, $pid), 'second instance running');
}
Time::HiRes::sleep(0.1);
ok(!kill(0, $pid), 'DESTROY stops it');

# a simulator that cannot start is reported at once, not after the timeout
{
	local $HubSpotSim::PYTHON = '/bin/false';
	my $t0 = Time::HiRes::time();
	ok(!eval { HubSpotSim->start(); 1 }, 'start failure dies');
	like($@, qr/did not start/, 'start failure message');
	ok(Time::HiRes::time() - $t0 < 5, 'start failure detected quickly');
}

done_testing();
