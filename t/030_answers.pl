# Every outcome the extension reports is true when HubSpot's answers are odd
# or hostile (DESIGN.md section 3: "Partial answers", "Creates are not"
# idempotent, "The answer parser never throws in a worker", rate headers
# "clamped to sane ranges").  Each case is checked on both paths where it
# applies: queued writes (hubspot_queue state / result / error / attempts
# after hubspot_flush) and the synchronous hubspot_batch_* rows; and against
# what the simulator received (its request log) and stores.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use JSON::PP;
use HubSpotSim;
use HubSpotTest;

my $t_file = time;
my $json = JSON::PP->new->utf8->canonical;

my $sim = HubSpotSim->start();
my $node = HubSpotTest::node('answers', "hubspot_fdw.log_calls = on\n");
# server "hubspot" (queued writes): 3 attempts at most
HubSpotTest::setup_db($node, 'postgres', $sim, ", max_attempts '3'");

# Other servers, each with its own token (the rate budget is per token):
#   hs_sync  - the synchronous hubspot_batch_* calls (never paused by the
#              worker's back-off of "hubspot")
#   hs_other - queued writes on the 2026-03 paths, which the faults below
#              (matched on /crm/v3/...) leave alone
#   hs_rateN - absurd rate headers (case 7), one server and token per case,
#              so that one case's effect cannot spill into the next
$sim->config({ tokens => { 'pat-sync' => 'all', 'pat-other' => 'all',
	map { ("pat-rate$_" => 'all') } 1 .. 5 } });
my $url = $sim->url;
$node->safe_psql('postgres', qq{
	CREATE SERVER hs_sync FOREIGN DATA WRAPPER hubspot_fdw
		OPTIONS (api_url '$url', max_attempts '3');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hs_sync OPTIONS (access_token 'pat-sync');
	CREATE SERVER hs_other FOREIGN DATA WRAPPER hubspot_fdw
		OPTIONS (api_url '$url', api_version '2026-03', max_attempts '3');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hs_other OPTIONS (access_token 'pat-other');
	CREATE FOREIGN TABLE other_contacts (id text, email text, firstname text)
		SERVER hs_other OPTIONS (object_type 'contacts', id_property 'email');
	@{[ map { qq{
	CREATE SERVER hs_rate$_ FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url', max_attempts '3');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hs_rate$_ OPTIONS (access_token 'pat-rate$_');
	CREATE FOREIGN TABLE rate_contacts$_ (id text, email text, firstname text)
		SERVER hs_rate$_ OPTIONS (object_type 'contacts', id_property 'email');} } 1 .. 5 ]}
	-- no id_property: INSERT creates
	CREATE FOREIGN TABLE q_companies (id text, name text, domain text)
		SERVER hubspot OPTIONS (object_type 'companies');
	-- a statement's outcome as text: 'ok' or 'SQLSTATE: message'
	CREATE FUNCTION try_sql(q text) RETURNS text LANGUAGE plpgsql AS \$\$
	BEGIN
		EXECUTE q;
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN SQLSTATE || ': ' || SQLERRM;
	END \$\$;
});
my $worker_pid = HubSpotTest::worker_pid($node, 'postgres');
ok($worker_pid =~ /^\d+$/, "worker pid $worker_pid");

my $V3_UPSERT = '/crm/v3/objects/contacts/batch/upsert';
my $V3_CREATE = '/crm/v3/objects/companies/batch/create';

# ------------------------------------------------------------------ helpers

# One session for the test's own queries (a psql per query costs ~0.3 s here).
my $session = $node->background_psql('postgres');
sub psql { return $session->query_safe($_[0]) }

my $t_section;
sub section
{
	my ($name) = @_;
	note(sprintf("---- %s (previous section %.1f s)", $name, time - ($t_section // $t_file)));
	$t_section = time;
	$sim->clear_faults;
	$sim->clear_requests;
}

sub insert_rows
{
	my ($table, $prefix, $n) = @_;
	psql(qq{INSERT INTO $table (email, firstname)
		SELECT '$prefix' || g || '\@example.com', 'F' || g FROM generate_series(1, $n) g});
}

# "state:attempts x count" groups of the queue rows whose key (or, for
# creates, properties->>'name') starts with $prefix (any case), e.g. "done:1x20".
sub row_states
{
	my ($prefix) = @_;
	return psql(qq{
		SELECT string_agg(state || ':' || attempts || 'x' || n, ',' ORDER BY state, attempts)
		  FROM (SELECT state, attempts, count(*) AS n FROM hubspot_queue
				 WHERE coalesce(nullif(record_key, ''), properties->>'name') ILIKE '$prefix%'
				 GROUP BY 1, 2) s});
}

# What identifies an input of a logged call: its id, else its name or email.
sub input_keys
{
	my ($r) = @_;
	my $b = $r->{body};
	return () unless ref $b eq 'HASH' && ref $b->{inputs} eq 'ARRAY';
	return map {
		my $p = ref $_->{properties} eq 'HASH' ? $_->{properties} : {};
		lc($_->{id} // $p->{name} // $p->{email} // '')
	} grep { ref $_ eq 'HASH' } @{ $b->{inputs} };
}

# Batch calls that carry an input starting with $prefix, in order of arrival.
sub calls_for
{
	my ($prefix, $path) = @_;
	my @c = grep {
		grep { index($_, lc $prefix) == 0 } input_keys($_)
	} @{ $sim->requests(path => $path // '/batch/') };
	return [ sort { $a->{t_start} <=> $b->{t_start} } @c ];
}

sub statuses { return join(',', map { $_->{status} } @{ $_[0] }) }

sub companies_named
{
	my ($prefix) = @_;
	return [ grep { index($_->{properties}{name} // '', $prefix) == 0 } @{ $sim->objects('companies') } ];
}

# jsonb rows of a hubspot_batch_* call, decoded, in order.
sub batch_rows
{
	my ($sql) = @_;
	my $out = psql(qq{SELECT r::text FROM ($sql) AS s(r) });
	return [ map { $json->decode($_) } grep { length } split /\n/, $out ];
}

# JSON array text of upsert inputs for contacts keyed by email.
sub upsert_inputs
{
	my ($prefix, $n, $extra) = @_;
	return $json->encode([ map {
		{ id => "$prefix$_\@example.com", idProperty => 'email',
		  properties => { firstname => "F$_", %{ $extra // {} } } }
	} 1 .. $n ]);
}

sub create_inputs
{
	my ($prefix, $n) = @_;
	return $json->encode([ map { { properties => { name => "$prefix$_" } } } 1 .. $n ]);
}

sub lit { my ($s) = @_; $s =~ s/'/''/g; return "'$s'" }

# A synchronous statement's outcome ('ok' or 'SQLSTATE: message') and its duration.
sub try_sql
{
	my ($sql) = @_;
	my $t0 = time;
	my $r = psql('SELECT try_sql(' . lit($sql) . ')');
	return ($r, time - $t0);
}

# An error a synchronous function raised for a hostile answer is a clear one.
sub clear_sync_error
{
	my ($res, $what) = @_;
	my ($state, $msg) = $res =~ /^(\w{5}): (.*)$/s ? ($1, $2) : ('', $res);
	ok($state =~ /^(08P01|22...|HV...)$/ && $state !~ /^(XX000|54001)$/,
		"$what: hubspot_batch_upsert raised SQLSTATE 08P01 / 22xxx / HV0xx (got '$state')")
	  or diag($res);
	like($msg, qr/HubSpot/, "$what: the error says it was HubSpot's answer");
}

sub worker_alive
{
	my ($what) = @_;
	is(HubSpotTest::worker_pid($node, 'postgres'), $worker_pid, "$what: the same worker runs");
}

# ================================================================== 1
# Results without objectWriteTraceId, shuffled.
section('1: results without trace ids');
$sim->config({ result_trace_ids => 'omit' });

# queued upserts: matched by the unique value
insert_rows('hubspot_contacts', 'c1u-', 20);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '1q upsert: settled');
is(row_states('c1u-'), 'done:1x20', '1q upsert: every row done at once');
my %sim_id = map { lc($_->{properties}{email} // '') => $_->{id} } @{ $sim->objects('contacts') };
my @rows = map { [ split /\|/ ] } split /\n/, psql(q{
	SELECT record_key, result->>'id', lower(result->'properties'->>'email') FROM hubspot_queue
	 WHERE record_key LIKE 'c1u-%' ORDER BY id});
is(scalar(grep { $_->[2] eq lc $_->[0] && $_->[1] eq ($sim_id{ lc $_->[0] } // '') } @rows), 20,
	'1q upsert: each row holds its own record (email and HubSpot id)');

# keys in upper case: HubSpot answers with the email lowercased
insert_rows('hubspot_contacts', 'C1X-', 5);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '1q upsert, upper-case keys: settled');
is(psql(q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'C1X-%' AND state = 'done'
	AND result->'properties'->>'email' = lower(record_key)}),
	'5', '1q upsert, upper-case keys: each row done with its own record');

# queued updates by record id: matched by the id
my @ids = map { $sim_id{"c1u-$_\@example.com"} } 1 .. 10;
psql('SELECT count(*) FROM hubspot_enqueue(\'update\', \'contacts\', '
	  . lit($json->encode([ map { { id => $_, properties => { firstname => "upd-$_" } } } @ids ])) . ')');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '1q update: settled');
is(psql(q{SELECT string_agg(state || ':' || attempts, ',' ORDER BY id) = repeat('done:1,', 9) || 'done:1',
	bool_and(result->>'id' = record_key), count(DISTINCT result->>'id')
	FROM hubspot_queue WHERE operation = 'update' AND record_key IN ('} . join("','", @ids) . q{')}),
	't|t|10', '1q update: every row done with the record of its own id');
my %sim_first = map { $_->{id} => $_->{properties}{firstname} } @{ $sim->objects('contacts') };
is(scalar(grep { ($sim_first{$_} // '') eq "upd-$_" } @ids), 10, '1q update: HubSpot holds each update');

# queued create of several inputs: no result can be pinned on a row
psql('BEGIN; SELECT count(*) FROM hubspot_enqueue(\'create\', \'companies\', '
	  . lit(create_inputs('c1m-', 4)) . '); COMMIT;');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '1q multi create: settled');
is(row_states('c1m-'), 'unknown:1x4', "1q multi create: rows 'unknown', not 'done'");
is(psql(q{SELECT count(*) FROM hubspot_queue WHERE properties->>'name' LIKE 'c1m-%' AND result IS NOT NULL}),
	'0', '1q multi create: no row holds a result');
# single-input create: matched
psql('SELECT hubspot_enqueue(\'create\', \'companies\', ' . lit(create_inputs('c1s-', 1)) . ')');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '1q single create: settled');
is(row_states('c1s-'), 'done:1x1', '1q single create: done');

# sync
my $r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('C1SU-', 10)) . q{, 'hs_sync')});
%sim_id = map { lc($_->{properties}{email} // '') => $_->{id} } @{ $sim->objects('contacts') };
is(scalar(grep {
	my $k = 'c1su-' . ($_ + 1) . '@example.com';
	lc($r->[$_]{properties}{email} // '') eq $k && ($r->[$_]{id} // '') eq ($sim_id{$k} // 'none')
} 0 .. $#$r), 10, '1s upsert: each row holds its own record');
my @sids = map { $sim_id{"c1su-$_\@example.com"} } 1 .. 10;
$r = batch_rows(q{SELECT * FROM hubspot_batch_update('contacts', }
	  . lit($json->encode([ map { { id => $_, properties => { firstname => "supd-$_" } } } @sids ])) . q{, 'hs_sync')});
is(scalar(grep { ($r->[$_]{id} // '') eq $sids[$_] && !defined $r->[$_]{status} } 0 .. 9), 10,
	'1s update: each row holds the record of its own id');
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c1sm-', 3)) . q{, 'hs_sync')});
is(join(',', map { $_->{status} // 'none' } @$r), 'unknown,unknown,unknown',
	'1s multi create: every row "status":"unknown"');
is(scalar(grep { defined $_->{id} } @$r), 0, '1s multi create: no row carries a record id');
is(join(',', map { $_->{input}{properties}{name} // '' } @$r), 'c1sm-1,c1sm-2,c1sm-3',
	'1s multi create: each row names its input');
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c1ss-', 1)) . q{, 'hs_sync')});
my $c1ss = companies_named('c1ss-');
ok(@$r == 1 && @$c1ss == 1 && ($r->[0]{id} // '') eq $c1ss->[0]{id} && !defined $r->[0]{status},
	'1s single create: the row holds the created record');
is(scalar(@{ calls_for('c1sm-', 'batch/create') }), 1, '1s multi create: one call');
is(scalar(@{ companies_named('c1sm-') }), 3, '1s multi create: HubSpot holds the 3 records');
# the queued multi create is never sent again
is(scalar(@{ calls_for('c1m-', 'batch/create') }), 1, "1q multi create: one call, 'unknown' rows not re-sent");
is(scalar(@{ companies_named('c1m-') }), 4, '1q multi create: HubSpot holds the 4 records, once each');
$sim->config({ result_trace_ids => 'echo' });

# ================================================================== 2
# An error that names no input is the call's outcome, not any input's own.
for my $ec ('omit', 'empty')
{
	section("2: errors without context ($ec)");
	$sim->config({ error_context => $ec });
	my $p = "c2$ec-";
	my $inputs = $json->encode([
		(map { { id => "${p}ok$_\@example.com", idProperty => 'email', properties => { firstname => "A$_" } } } 1 .. 5),
		{ id => "${p}not-an-email", idProperty => 'email', properties => { firstname => 'B' } },
		{ id => "${p}prop\@example.com", idProperty => 'email', properties => { nosuchprop => 'C' } } ]);

	# queued
	psql('SELECT count(*) FROM hubspot_enqueue(\'upsert\', \'contacts\', ' . lit($inputs) . ')');
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "2q $ec: settled");
	is(row_states("${p}ok"), 'done:1x5', "2q $ec: the valid rows done");
	is(row_states("${p}not") . ' ' . row_states("${p}prop"), 'failed:3x1 failed:3x1',
		"2q $ec: the two bad rows retried, failed after max_attempts (3), not at the first answer");
	is(psql(qq{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE '${p}%' AND state = 'failed'
		AND error ? 'callError'
		AND error->>'message' !~ '(INVALID_EMAIL|PROPERTY_DOESNT_EXIST|nosuchprop|is invalid)'}),
		'2', "2q $ec: the call's error is under callError, not given as the row's own");
	is(scalar(@{ calls_for("${p}not") }), 3, "2q $ec: the bad rows were in 3 calls");

	# sync
	my $r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit($inputs) . q{, 'hs_sync')});
	is(scalar(grep { !defined $_->{status} && ($_->{properties}{email} // '') =~ /^\Q${p}ok/ } @$r[0 .. 4]), 5,
		"2s $ec: the valid rows hold their records");
	for my $i (5, 6)
	{
		my $row = $r->[$i] // {};
		ok(($row->{status} // '') eq 'error' && ref $row->{callError} eq 'HASH'
			  && ($row->{message} // '') !~ /INVALID_EMAIL|PROPERTY_DOESNT_EXIST|nosuchprop|is invalid/,
			"2s $ec: row " . ($i + 1) . ": status error, the call's error under callError, not its own")
		  or diag($json->encode($row));
	}
}
$sim->config({ error_context => 'default' });

# ================================================================== 3
# Envelope status other than COMPLETE: never success.
for my $case ([ 'PENDING', 0 ], [ 'PROCESSING', 1 ], [ 'CANCELED', 0 ], [ 'PENDING', 1 ])
{
	my ($st, $res) = @$case;
	my $p = 'c3' . lc($st) . ($res ? 'r' : '') . '-';
	section("3: envelope $st " . ($res ? 'with' : 'without') . ' results');
	$sim->envelope_status($st, results => $res ? 1 : 0, count => 1, match => $V3_UPSERT);
	insert_rows('hubspot_contacts', $p, 5);
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "3q $st/$res: settled");
	my $calls = calls_for($p);
	is(scalar(@$calls), 2, "3q $st/$res: the rows were sent again after the $st answer");
	is(row_states($p), 'done:2x5', "3q $st/$res: rows done at the second attempt, the first counted");
	is(HubSpotTest::stored($sim, $p), 5, "3q $st/$res: HubSpot holds the 5 records");
}
section('3: envelope PROCESSING on creates');
$sim->envelope_status('PROCESSING', count => 1, match => $V3_CREATE);
psql('SELECT count(*) FROM hubspot_enqueue(\'create\', \'companies\', ' . lit(create_inputs('c3c-', 2)) . ')');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '3q create PROCESSING: settled');
is(row_states('c3c-'), 'unknown:1x2', "3q create PROCESSING: rows 'unknown'");
$sim->envelope_status('PENDING', results => 0, count => 1, match => $V3_CREATE);
psql('SELECT count(*) FROM hubspot_enqueue(\'create\', \'companies\', ' . lit(create_inputs('c3p-', 1)) . ')');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '3q create PENDING: settled');
is(row_states('c3p-'), 'unknown:1x1', "3q single create PENDING: row 'unknown', not done");
sleep 1;
is(scalar(@{ calls_for('c3c-') }) . ',' . scalar(@{ calls_for('c3p-') }), '1,1', '3q creates: not re-sent');
is(scalar(@{ companies_named('c3c-') }), 2, '3q create PROCESSING: HubSpot holds 2 records');

# sync
section('3: envelope status, sync');
$sim->envelope_status('PENDING', results => 0, count => 1, match => $V3_UPSERT);
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c3s-', 3)) . q{, 'hs_sync')});
is(scalar(grep { !defined $_->{status} && defined $_->{id} } @$r), 3, '3s PENDING once: rows done');
is(statuses(calls_for('c3s-')), '200,200', '3s PENDING once: sent again after the PENDING answer');
for my $st ('PROCESSING', 'CANCELED')
{
	section("3: envelope $st, sync, every time");
	$sim->envelope_status($st, count => -1, match => $V3_UPSERT);
	my ($res) = try_sql(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c3s' . lc($st) . '-', 3)) . q{, 'hs_sync')});
	like($res, qr/^08P01: .*HubSpot/, "3s $st: an ERROR (08P01) saying HubSpot did not complete the batch");
	$sim->clear_faults;
}
section('3: envelope PROCESSING on creates, sync');
$sim->envelope_status('PROCESSING', count => 1, match => $V3_CREATE);
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c3sc-', 2)) . q{, 'hs_sync')});
is(join(',', map { $_->{status} // 'none' } @$r), 'unknown,unknown', '3s create PROCESSING: rows "status":"unknown"');
$sim->envelope_status('PENDING', results => 0, count => 1, match => $V3_CREATE);
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c3sp-', 1)) . q{, 'hs_sync')});
is(join(',', map { $_->{status} // 'none' } @$r), 'unknown', '3s single create PENDING: row "status":"unknown"');
is(scalar(@{ calls_for('c3sc-') }) . ',' . scalar(@{ calls_for('c3sp-') }), '1,1', '3s creates: one call each');

# ================================================================== 4
# Batch-wide rejections fail the batch in one call, with HubSpot's message.
section('4: batch-wide rejections, queued');
my %bw = (
	'companies by domain' => [ 'upsert', 'companies',
		q{jsonb_build_object('id', 'c4d' || g || '.test', 'idProperty', 'domain', 'properties', jsonb_build_object('name', 'c4d' || g))},
		'c4d', qr/non-unique 0-2 property domain/ ],
	'contacts update by email' => [ 'update', 'contacts',
		q{jsonb_build_object('id', 'c4e' || g || '@example.com', 'idProperty', 'email', 'properties', jsonb_build_object('firstname', 'x'))},
		'c4e', qr/non-unique 0-1 property email/ ],
	'unknown object type' => [ 'upsert', '0-999',
		q{jsonb_build_object('id', 'c4t' || g, 'idProperty', 'external_id', 'properties', jsonb_build_object('name', 'x'))},
		'c4t', qr/Unable to infer object type/ ],
);
psql('BEGIN;' . join('', map {
	my ($op, $type, $expr) = @{ $bw{$_} };
	"SELECT count(*) FROM hubspot_enqueue('$op', '$type', (SELECT jsonb_agg($expr) FROM generate_series(1, 100) g));"
} sort keys %bw) . 'COMMIT;');
is(psql(q{SELECT hubspot_flush('60 s')}), '0', '4q: settled');
for my $what (sort keys %bw)
{
	my ($op, $type, $expr, $p, $re) = @{ $bw{$what} };
	is(scalar(@{ calls_for($p) }), 1, "4q $what: 100 rows, 1 call");
	is(row_states($p), 'failed:1x100', "4q $what: 100 rows failed at once");
	like(psql(qq{SELECT min(error->>'message') || ' / ' || max(error->>'message') FROM hubspot_queue WHERE record_key LIKE '$p%'}),
		$re, "4q $what: HubSpot's message");
}
section('4: batch-wide rejections, sync');
for my $what (sort keys %bw)
{
	my ($op, $type, $expr, $p, $re) = @{ $bw{$what} };
	$p = "s$p";
	(my $e = $expr) =~ s/'c4/'sc4/g;
	my $r = batch_rows(qq{SELECT * FROM hubspot_batch_$op('$type', (SELECT jsonb_agg($e) FROM generate_series(1, 100) g), 'hs_sync')});
	is(scalar(grep { ($_->{status} // '') eq 'error' && ($_->{message} // '') =~ $re } @$r), 100,
		"4s $what: 100 rows \"status\":\"error\" with HubSpot's message");
	is(scalar(@{ calls_for($p) }), 1, "4s $what: 1 call");
}

# ================================================================== 5
# A create whose answer is lost after HubSpot applied it: 'unknown', never
# re-sent, one record in HubSpot.  An upsert is simply retried.
my @lost = (
	[ drop      => { drop => 1 } ],
	[ garbage   => { garbage => 1 } ],
	[ truncate  => { truncate => 1 } ],
	[ trunc10   => { truncate_at => 10 } ],
	[ empty     => { empty_body => 1 } ],
	[ html200   => { raw_body => '<html><body>Bad gateway</body></html>', content_type => 'text/html' } ],
	[ html502   => { raw_body => '<html><body>502 Bad Gateway</body></html>', content_type => 'text/html', status => 502 } ],
	[ s500      => { status => 500 } ],
	[ s502      => { status => 502 } ],
);
for my $l (@lost)
{
	my ($kind, $f) = @$l;
	section("5: create, answer lost ($kind)");
	my $p = "c5$kind-";
	$sim->applied_fault(%$f, count => 1, match => $V3_CREATE);
	psql(qq{INSERT INTO q_companies (name) VALUES ('${p}1'), ('${p}2')});
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "5q create $kind: settled");
	is(row_states($p), 'unknown:1x2', "5q create $kind: rows 'unknown'");

	$sim->applied_fault(%$f, count => 1, match => $V3_CREATE);
	my $r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs("s$p", 2)) . q{, 'hs_sync')});
	is(join(',', map { $_->{status} // 'none' } @$r), 'unknown,unknown',
		"5s create $kind: rows \"status\":\"unknown\"");
	usleep(500_000);
	is(scalar(@{ calls_for($p) }) . ',' . scalar(@{ calls_for("s$p") }), '1,1', "5 create $kind: sent once, never again");
	is(scalar(@{ companies_named($p) }) . ',' . scalar(@{ companies_named("s$p") }), '2,2',
		"5 create $kind: HubSpot holds exactly one record per input");
}
# A create in a later call of a synchronous function (its connection to
# HubSpot reused): answer lost after HubSpot applied it.
section('5: sync create, second call, answer lost (drop)');
psql(q{ALTER SERVER hs_sync OPTIONS (ADD batch_size '2', ADD max_concurrency '1')});
$sim->fault({ delay_ms => 1, count => 1, match => $V3_CREATE });
$sim->applied_fault(drop => 1, count => 1, match => $V3_CREATE);
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c5reuse-', 4)) . q{, 'hs_sync')});
is(join(',', map { $_->{status} // 'done' } @$r), 'done,done,unknown,unknown',
	'5s create, 2nd call dropped: its rows "status":"unknown"');
is(statuses(calls_for('c5reuse-')), '201,0', '5s create, 2nd call dropped: 2 calls, the dropped one not re-sent');
is(scalar(@{ companies_named('c5reuse-') }), 4, '5s create, 2nd call dropped: HubSpot holds one record per input');
psql(q{ALTER SERVER hs_sync OPTIONS (DROP batch_size, DROP max_concurrency)});

for my $l (@lost[ 0, 1, 2, 4, 8 ])
{
	my ($kind, $f) = @$l;
	section("5: upsert, answer lost ($kind)");
	my $p = "c5u$kind-";
	$sim->applied_fault(%$f, count => 1, match => $V3_UPSERT);
	insert_rows('hubspot_contacts', $p, 3);
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "5q upsert $kind: settled");
	like(row_states($p), qr/^done:[12]x3$/, "5q upsert $kind: retried, done");
	is(HubSpotTest::stored($sim, $p), 3, "5q upsert $kind: 3 records");

	$sim->applied_fault(%$f, count => 1, match => $V3_UPSERT);
	my $r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs("s$p", 3)) . q{, 'hs_sync')});
	is(scalar(grep { !defined $_->{status} && defined $_->{id} } @$r), 3, "5s upsert $kind: retried, rows done");
	is(HubSpotTest::stored($sim, "s$p"), 3, "5s upsert $kind: 3 records");
}

# ================================================================== 6
# Hostile bodies: the worker lives on, the call is a failure that says it was
# HubSpot's answer, attempts are counted; synchronous calls raise a clear error.
section('6: hostile bodies');
psql(q{ALTER SERVER hubspot OPTIONS (ADD max_answer_bytes '100000');
	   ALTER SERVER hs_sync OPTIONS (ADD max_answer_bytes '100000')});
my @hostile = (
	[ pad   => { pad_bytes => 200_000 } ],
	[ nest  => { nest_depth => 10000 } ],
	[ num   => { raw_number => '1e1000000' } ],
	[ nul   => { nul_string => 1 } ],
	[ nulid => { nul_string => 'objectWriteTraceId' } ],
);
for my $h (@hostile)
{
	my ($kind, $f) = @$h;
	section("6: $kind");
	my $p = "c6$kind-";
	$sim->fault({ %$f, count => -1, match => $V3_UPSERT });
	insert_rows('hubspot_contacts', $p, 3);
	# another server's rows keep flowing meanwhile
	my $t0 = time;
	insert_rows('other_contacts', "c6o$kind-", 5);
	ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, "c6o$kind-") == 5 }, 10),
		sprintf("6q $kind: another server's rows delivered meanwhile (%.1f s)", time - $t0));
	ok(HubSpotTest::wait_for(sub { row_states($p) !~ /pending|sending/ }, 30), "6q $kind: rows settled");
	is(row_states($p), 'failed:3x3', "6q $kind: rows failed after 3 counted attempts");
	my ($cat, $msg) = split /\|/, psql(qq{SELECT error->>'category', error->>'message' FROM hubspot_queue
		WHERE record_key LIKE '$p%' LIMIT 1}), 2;
	ok(($cat // '') =~ /^(INVALID_RESPONSE|HTTP_ERROR|NETWORK_ERROR)$/ && ($msg // '') =~ /HubSpot/,
		"6q $kind: the error says it was HubSpot's answer ($cat: " . ($msg // '') . ')');
	is(scalar(@{ calls_for($p) }), 3, "6q $kind: 3 calls");
	worker_alive("6q $kind");

	my ($res) = try_sql(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs("s$p", 2)) . q{, 'hs_sync')});
	clear_sync_error($res, "6s $kind");
	$sim->clear_faults;

	# the server's later rows are delivered
	insert_rows('hubspot_contacts', "c6n$kind-", 2);
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "6q $kind: later rows settled");
	is(row_states("c6n$kind-"), 'done:1x2', "6q $kind: later rows of the same server done");
	worker_alive("6 $kind");
}

# A batch answer whose errors[] have wrong types (numErrors "1", message 7,
# context a string): the error names no input; every input has its result.
section('6: batch answer with wrong types');
$sim->fault({ wrong_types => 'batch', count => 1, match => $V3_UPSERT });
insert_rows('hubspot_contacts', 'c6wb-', 3);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '6q wrong-typed errors[]: settled');
is(row_states('c6wb-'), 'done:1x3', '6q wrong-typed errors[]: rows done with their results');
$sim->fault({ wrong_types => 'batch', count => 1, match => $V3_UPSERT });
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c6wbs-', 3)) . q{, 'hs_sync')});
is(scalar(grep { !defined $_->{status} && defined $_->{id} } @$r), 3, '6s wrong-typed errors[]: rows hold their results');
worker_alive('6 wrong-typed errors[]');

# Error bodies with wrong types and an "id"
section('6: error bodies with wrong types');
$sim->fault({ status => 400, wrong_types => 'error', count => -1, match => $V3_UPSERT });
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c6wt-', 1)) . q{, 'hs_sync')});
ok(@$r == 1 && ($r->[0]{status} // '') eq 'error' && !ref $r->[0]{message} && defined $r->[0]{message}
	  && !ref $r->[0]{category},
	'6s wrong types (400): row "status":"error", message and category strings')
  or diag($json->encode($r));
$sim->clear_faults;
$sim->fault({ status => 207, count => 1, match => $V3_UPSERT, body => {
	status => 'COMPLETE', numErrors => '1',
	results => [ { id => '5001', properties => { email => 'c6id-a@example.com' }, objectWriteTraceId => 'ta' } ],
	errors => [ { status => 7, category => ['VALIDATION_ERROR'], message => 42, id => 'err-77',
		context => { objectWriteTraceId => ['tb'] } } ] } });
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', '[
	{"id": "c6id-a@example.com", "idProperty": "email", "objectWriteTraceId": "ta", "properties": {}},
	{"id": "c6id-b@example.com", "idProperty": "email", "objectWriteTraceId": "tb", "properties": {}}]', 'hs_sync')});
ok(($r->[0]{id} // '') eq '5001' && !defined $r->[0]{status}, '6s error with id: the other row holds its result');
my $er = $r->[1] // {};
ok(($er->{status} // '') eq 'error' && ($er->{message} // '') eq '42' && ($er->{errorId} // '') eq 'err-77'
	  && !exists $er->{id},
	'6s error with id: "status":"error", message "42", HubSpot\'s id as "errorId", no "id"')
  or diag($json->encode($er));
$sim->fault({ status => 400, count => 1, match => $V3_UPSERT,
	body => { status => 'error', message => 99, category => 'VALIDATION_ERROR', id => 'err-q' } });
insert_rows('hubspot_contacts', 'c6q-', 1);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '6q error with id: settled');
is(psql(q{SELECT state || ' ' || (error->>'status') || ' ' || (error->>'message') || ' ' || jsonb_typeof(error->'message')
	|| ' ' || coalesce(error->>'errorId', '-') || ' ' || (error ? 'id')::text
	FROM hubspot_queue WHERE record_key LIKE 'c6q-%'}),
	'failed error 99 string err-q false', '6q error with id: failed, "errorId", no "id", message a string');
worker_alive('6 wrong types');

# ================================================================== 7
# Absurd rate headers on one answer do not freeze the server.
sub sync_within_timeout
{
	my ($what, $p, $server) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	my $rc = $node->psql('postgres', q{SET statement_timeout = '5s'; SELECT count(*) FROM hubspot_batch_upsert('contacts', }
		  . lit(upsert_inputs($p, 2)) . qq{, '$server') r WHERE r->>'status' IS NULL},
		stdout => \$out, stderr => \$err);
	my $dt = time - $t0;
	ok((($rc == 0 && $out eq '2') || $err =~ /statement timeout/) && $dt < 7,
		sprintf('7 %s: a later hubspot_batch_upsert with statement_timeout 5s ended in %.1f s (%s)',
			$what, $dt, $rc == 0 ? "$out rows done" : $err));
}
my @absurd = (
	[ 'RateLimit-Max 1, Interval 2147483647' => { headers => { 'X-HubSpot-RateLimit-Max' => '1',
		'X-HubSpot-RateLimit-Interval-Milliseconds' => '2147483647' } } ],
	[ 'Retry-After 99999999999 on 429' => { status => 429, headers => { 'Retry-After' => '99999999999' } } ],
	[ 'Retry-After -5 on 429' => { status => 429, headers => { 'Retry-After' => '-5' } } ],
	[ 'Retry-After 99999999999 on 200' => { headers => { 'Retry-After' => '99999999999' } } ],
);
my $n7 = 0;
for my $a (@absurd)
{
	my ($what, $f) = @$a;
	$n7++;
	section("7: $what");
	my $p = "c7a$n7-";
	$sim->fault({ %$f, count => 1, match => $V3_UPSERT });
	insert_rows("rate_contacts$n7", $p, 3);
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', "7q $what: settled");
	is(statuses(calls_for($p)), ($f->{status} // 200) == 429 ? '429,200' : '200', "7q $what: the answer was given");
	my $t0 = time;
	insert_rows("rate_contacts$n7", "c7b$n7-", 3);
	my $ok = HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, "c7b$n7-") == 3 }, 20);
	my $dt = time - $t0;
	ok($ok && $dt < 4, sprintf("7q $what: later queued rows delivered %.1f s after commit (< 4 s)", $dt));
	sync_within_timeout($what, "c7s$n7-", "hs_rate$n7");
	# the same answer to a synchronous call itself
	$sim->fault({ %$f, count => 1, match => $V3_UPSERT });
	sync_within_timeout("$what, on the synchronous call itself", "c7t$n7-", "hs_rate$n7");
}

# Retry-After as an HTTP date, a few seconds ahead, on a 429: honoured.
section('7: Retry-After HTTP date');
$sim->config({ retry_after_on_429 => 3, retry_after_format => 'http-date' });
$sim->fault({ status => 429, count => 1, match => $V3_UPSERT });
insert_rows('rate_contacts5', 'c7d-', 3);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '7q HTTP-date: settled');
my $calls = calls_for('c7d-');
my $gap = @$calls == 2 ? $calls->[1]{t_start} - $calls->[0]{t_end} : -1;
is(statuses($calls), '429,200', '7q HTTP-date: 429, then sent again');
ok($gap >= 2.5 && $gap < 8, sprintf('7q HTTP-date: waited %.1f s (Retry-After about 3 s ahead)', $gap));
$sim->fault({ status => 429, count => 1, match => $V3_UPSERT });
my $t7 = time;
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c7ds-', 2)) . q{, 'hs_rate5')});
my $dt7 = time - $t7;
$calls = calls_for('c7ds-');
$gap = @$calls == 2 ? $calls->[1]{t_start} - $calls->[0]{t_end} : -1;
ok(scalar(grep { !defined $_->{status} } @$r) == 2 && $gap >= 2.5 && $gap < 8,
	sprintf('7s HTTP-date: rows done, waited %.1f s between the calls (%.1f s in all)', $gap, $dt7));
$sim->config({ retry_after_on_429 => undef, retry_after_format => 'seconds' });
sync_within_timeout('after HTTP-date', 'c7e-', 'hs_rate5');

# ================================================================== 8
# A 204 answer to batch/upsert is not success.
section('8: 204 to batch/upsert');
$sim->fault({ status => 204, empty_body => 1, count => 1, match => $V3_UPSERT });
insert_rows('hubspot_contacts', 'c8-', 3);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '8q 204: settled');
is(statuses(calls_for('c8-')), '204,200', '8q 204: sent again after the 204');
is(row_states('c8-'), 'done:2x3', '8q 204: done at the second attempt');
$sim->applied_fault(status => 204, count => 1, match => $V3_UPSERT);
insert_rows('hubspot_contacts', 'c8a-', 3);
is(psql(q{SELECT hubspot_flush('30 s')}), '0', '8q applied 204: settled');
is(row_states('c8a-'), 'done:2x3', '8q applied 204: done at the second attempt');
$sim->fault({ status => 204, empty_body => 1, count => 1, match => $V3_UPSERT });
$r = batch_rows(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c8s-', 2)) . q{, 'hs_sync')});
is(scalar(grep { !defined $_->{status} && defined $_->{id} } @$r), 2, '8s 204 once: rows done');
is(statuses(calls_for('c8s-')), '204,200', '8s 204 once: sent again after the 204');
$sim->fault({ status => 204, empty_body => 1, count => -1, match => $V3_UPSERT });
my ($res8) = try_sql(q{SELECT * FROM hubspot_batch_upsert('contacts', } . lit(upsert_inputs('c8t-', 2)) . q{, 'hs_sync')});
clear_sync_error($res8, '8s 204 always');
$sim->clear_faults;
$sim->applied_fault(status => 204, count => 1, match => $V3_CREATE);
$r = batch_rows(q{SELECT * FROM hubspot_batch_create('companies', } . lit(create_inputs('c8c-', 2)) . q{, 'hs_sync')});
is(join(',', map { $_->{status} // 'none' } @$r), 'unknown,unknown', '8s create answered 204: rows "status":"unknown"');

worker_alive('end');
$session->quit;
diag(sprintf('030_answers: %.0f s', time - $t_file));
$node->stop;
$sim->stop;
done_testing();
