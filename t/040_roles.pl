# Roles (DESIGN.md section 3, "Safety"): two ordinary roles, alice and bob,
# each with a user mapping and a token of their own, and a superuser.
#   1. search_path: code alice plants (operators, functions, aggregates named
#      like the ones the extension uses) never runs as another role, whatever
#      search_path she calls the extension's functions and views with; every
#      function of the extension has a fixed search_path.
#   2. Visibility: bob's values and HubSpot's errors quoting them are not shown
#      to alice by any view or function; retry/discard of his ids do nothing.
#   3. Views: writes and reads through a view use the view owner's mapping.
#   4. A revoked token pauses that mapping's rows only.
#   5. A database owner's ALTER DATABASE ... SET search_path does not make the
#      worker (a superuser) run the owner's code.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run ();
use HubSpotSim;
use HubSpotTest;

my $t_file = time;
my $sim = HubSpotSim->start();
# stop the simulator even when a psql call dies half-way through the file
END { $sim->stop if $sim }
$sim->config({ tokens => { 'pat-super' => 'all', 'pat-alice' => 'all', 'pat-bob' => 'all',
	'pat-dbo' => 'all' } });
my $node = HubSpotTest::node('roles');
my $url = $sim->url;

# ------------------------------------------------------------------ helpers

sub su { return $node->safe_psql('postgres', $_[0]) }

# safe_psql as a role (trust auth on the local socket)
sub as
{
	my ($role, $sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql, extra_params => [ '-U', $role ]);
}

# psql as a role: (exit code, stdout, stderr)
sub try_as
{
	my ($role, $sql, $db) = @_;
	my ($rc, $out, $err) = $node->psql($db // 'postgres', $sql, extra_params => [ '-U', $role ]);
	return ($rc, $out // '', $err // '');
}

# Calls the simulator logged since the last clear whose bodies mention $needle
sub calls_with
{
	my ($needle) = @_;
	my $json = JSON::PP->new->canonical;
	return [ grep { index($json->encode($_->{body} // ''), $needle) >= 0 }
		  @{ $sim->requests(path => '/crm/') } ];
}

sub tokens_of
{
	my ($calls) = @_;
	my %t = map { (($_->{headers}{authorization} // 'none') => 1) } @$calls;
	return join(',', sort keys %t);
}

# Output of one statement as a role, or "ERROR: ..." (first line) when it fails
sub val_as
{
	my ($role, $sql, $db) = @_;
	my ($rc, $out, $err) = try_as($role, $sql, $db);
	return $out if $rc == 0;
	$err =~ s/^psql:[^:]*:\d+: //;
	$err =~ s/\n.*//s;
	return $err;
}

# "state:attempts x n" groups of a role's rows (as superuser) for a key prefix
sub row_states
{
	my ($prefix, $db) = @_;
	return $node->safe_psql($db // 'postgres', qq{
		SELECT string_agg(state || ':' || attempts || 'x' || n, ',' ORDER BY state, attempts)
		  FROM (SELECT state, attempts, count(*) AS n FROM hubspot_queue
				 WHERE record_key LIKE '$prefix%' GROUP BY 1, 2) s});
}

# Objects planted in $schema by $owner: a log table, and operators,
# functions and aggregates with the names (and exact argument types) that
# the extension's SQL uses.  Each records who ran it; when it runs as any
# role other than $owner it also raises a WARNING tagged $tag (the server
# log keeps it even if the transaction rolls back).  With $lie, the
# comparison operators and pg_has_role answer "true" when they run as
# another role (as an attacker would: every row matches).
sub plant_sql
{
	my ($s, $owner, $tag, $lie) = @_;
	my $liar = $lie ? 'true' : 'false';
	my $sql = qq{
CREATE TABLE $s.log (who name, sess name, what text, btype text, at timestamptz DEFAULT pg_catalog.clock_timestamp());
GRANT INSERT, SELECT ON $s.log TO PUBLIC;
GRANT USAGE ON SCHEMA $s TO PUBLIC;
CREATE FUNCTION $s.note(what text) RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
	IF current_user OPERATOR(pg_catalog.<>) '$owner'::name THEN
		RAISE WARNING '$tag: % ran as %', what, current_user;
	END IF;
	BEGIN
		INSERT INTO $s.log (who, sess, what, btype) VALUES (current_user, session_user, what,
			(SELECT a.backend_type FROM pg_catalog.pg_stat_activity a
			  WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()));
	EXCEPTION WHEN others THEN NULL;
	END;
	RETURN $liar AND current_user OPERATOR(pg_catalog.<>) '$owner'::name;
END \$f\$;
};
	# binary operators: name, left, right, result, pg_catalog expression, may lie
	my @ops = (
		[ '=',  'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.=) b',  1 ],
		[ '<>', 'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.<>) b', 0 ],
		[ '<',  'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.<) b',  0 ],
		[ '<=', 'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.<=) b', 1 ],
		[ '>',  'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.>) b',  0 ],
		[ '>=', 'bigint', 'bigint', 'boolean', 'a OPERATOR(pg_catalog.>=) b', 1 ],
		[ '+',  'bigint', 'bigint', 'bigint',  'a OPERATOR(pg_catalog.+) b',  0 ],
		[ '=',  'text',   'text',   'boolean', 'a OPERATOR(pg_catalog.=) b',  1 ],
		[ '<>', 'text',   'text',   'boolean', 'a OPERATOR(pg_catalog.<>) b', 0 ],
		[ '=',  'name',   'name',   'boolean', 'a OPERATOR(pg_catalog.=) b',  1 ],
		[ '=',  'name',   'text',   'boolean', 'a OPERATOR(pg_catalog.=) b',  1 ],
		[ '=',  'oid',    'oid',    'boolean', 'a OPERATOR(pg_catalog.=) b',  1 ],
		[ '&&', 'bigint[]', 'bigint[]', 'boolean', 'a OPERATOR(pg_catalog.&&) b', 1 ],
		[ '||', 'jsonb',  'jsonb',  'jsonb',   'a OPERATOR(pg_catalog.||) b', 0 ],
		[ '-',  'timestamptz', 'interval', 'timestamptz', 'a OPERATOR(pg_catalog.-) b', 0 ],
	);
	my $i = 0;
	for my $o (@ops)
	{
		my ($op, $l, $r, $res, $expr, $may_lie) = @$o;
		$i++;
		my $body = $may_lie && $res eq 'boolean'
		  ? "SELECT CASE WHEN $s.note('$op($l,$r)') THEN true ELSE $expr END"
		  : "SELECT CASE WHEN $s.note('$op($l,$r)') THEN $expr ELSE $expr END";
		$sql .= qq{
CREATE FUNCTION $s.op$i(a $l, b $r) RETURNS $res LANGUAGE sql VOLATILE AS \$f\$ $body \$f\$;
CREATE OPERATOR $s.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = $s.op$i);
};
	}
	# functions: signature, result, pg_catalog call, may lie
	my @fns = (
		[ 'now()', 'timestamptz', 'pg_catalog.now()', 0 ],
		[ 'clock_timestamp()', 'timestamptz', 'pg_catalog.clock_timestamp()', 0 ],
		[ 'pg_has_role(r oid, p text)', 'boolean', 'pg_catalog.pg_has_role(r, p)', 1 ],
		[ 'pg_has_role(u oid, r oid, p text)', 'boolean', 'pg_catalog.pg_has_role(u, r, p)', 1 ],
		[ 'pg_has_role(r name, p text)', 'boolean', 'pg_catalog.pg_has_role(r, p)', 1 ],
		[ 'pg_has_role(u name, r name, p text)', 'boolean', 'pg_catalog.pg_has_role(u, r, p)', 1 ],
		[ 'jsonb_concat(a jsonb, b jsonb)', 'jsonb', 'pg_catalog.jsonb_concat(a, b)', 0 ],
		[ 'lower(a text)', 'text', 'pg_catalog.lower(a)', 0 ],
		[ 'upper(a text)', 'text', 'pg_catalog.upper(a)', 0 ],
		[ 'superuser()', 'boolean', 'true', 0 ],
	);
	for my $f (@fns)
	{
		my ($sig, $res, $call, $may_lie) = @$f;
		(my $fname = $sig) =~ s/\(.*//;
		my $body = $may_lie
		  ? "SELECT CASE WHEN $s.note('$fname') THEN true ELSE $call END"
		  : "SELECT CASE WHEN $s.note('$fname') THEN $call ELSE $call END";
		$sql .= "CREATE FUNCTION $s.$sig RETURNS $res LANGUAGE sql VOLATILE AS \$f\$ $body \$f\$;\n";
	}
	for my $t ('bigint', 'text', 'jsonb', 'name')
	{
		$sql .= "CREATE FUNCTION $s.unnest(a $t\[]) RETURNS SETOF $t LANGUAGE sql VOLATILE AS "
		  . "\$f\$ SELECT x FROM pg_catalog.unnest(a) x WHERE $s.note('unnest($t\[])') OR true \$f\$;\n";
	}
	$sql .= qq{
CREATE FUNCTION $s.unnest(a bigint[], b text[], c jsonb[]) RETURNS TABLE (id bigint, k text, p jsonb)
	LANGUAGE sql VOLATILE AS \$f\$ SELECT * FROM pg_catalog.unnest(a) AS x, pg_catalog.unnest(b) AS y, pg_catalog.unnest(c) AS z
	WHERE $s.note('unnest(bigint[],text[],jsonb[])') \$f\$;
CREATE FUNCTION $s.cnt(c bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
	\$f\$ SELECT CASE WHEN $s.note('count(*)') THEN c OPERATOR(pg_catalog.+) 1 ELSE c OPERATOR(pg_catalog.+) 1 END \$f\$;
CREATE AGGREGATE $s.count(*) (SFUNC = $s.cnt, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION $s.mx(c bigint, v bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
	\$f\$ SELECT CASE WHEN $s.note('max/min(bigint)') OR c IS NULL OR v OPERATOR(pg_catalog.>) c THEN v ELSE c END \$f\$;
CREATE AGGREGATE $s.max(bigint) (SFUNC = $s.mx, STYPE = bigint);
CREATE FUNCTION $s.mn(c bigint, v bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
	\$f\$ SELECT CASE WHEN $s.note('max/min(bigint)') OR c IS NULL OR v OPERATOR(pg_catalog.<) c THEN v ELSE c END \$f\$;
CREATE AGGREGATE $s.min(bigint) (SFUNC = $s.mn, STYPE = bigint);
CREATE FUNCTION $s.sm(c bigint, v integer) RETURNS bigint LANGUAGE sql VOLATILE AS
	\$f\$ SELECT CASE WHEN $s.note('sum(integer)') THEN coalesce(c, 0) OPERATOR(pg_catalog.+) v ELSE coalesce(c, 0) OPERATOR(pg_catalog.+) v END \$f\$;
CREATE AGGREGATE $s.sum(integer) (SFUNC = $s.sm, STYPE = bigint);
};
	return $sql;
}

# Rows of the planted log written by any role other than $owner, as text
sub foreign_runs
{
	my ($s, $owner, $db) = @_;
	return $node->safe_psql($db // 'postgres', qq{
		SET search_path = pg_catalog;
		SELECT coalesce(string_agg(DISTINCT who || ' (' || coalesce(btype, '?') || '): ' || what, '; '), '')
		  FROM $s.log WHERE who <> '$owner'});
}

# ------------------------------------------------------------------ set-up
su(qq{
	CREATE EXTENSION hubspot_fdw;
	CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-super');
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE carol LOGIN;        -- no user mapping, no USAGE on the server
	GRANT USAGE ON FOREIGN SERVER hubspot TO alice, bob;
	CREATE USER MAPPING FOR alice SERVER hubspot OPTIONS (access_token 'pat-alice');
	CREATE USER MAPPING FOR bob SERVER hubspot OPTIONS (access_token 'pat-bob');
	CREATE SCHEMA alice AUTHORIZATION alice;
	CREATE SCHEMA bob AUTHORIZATION bob;
});
HubSpotTest::wait_worker($node, 'postgres');
for my $r ('alice', 'bob')
{
	as($r, qq{CREATE FOREIGN TABLE $r.contacts (id text, email text, firstname text)
		SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email')});
}

# bob's rows: one HubSpot refuses with an error that quotes his value, one
# it takes.  The refused one stays failed: retry and discard targets below.
as('bob', q{INSERT INTO bob.contacts (email, firstname)
	VALUES ('bob-secret@@x', 'Bobsecretname'), ('bob-ok@example.com', 'Bobby')});
is(su(q{SELECT hubspot_flush('30 s')}), '0', 'bob: settled');
is(as('bob', q{SELECT state FROM hubspot_queue WHERE record_key = 'bob-secret@@x'}), 'failed',
	'bob: the invalid email failed');
like(as('bob', q{SELECT error::text FROM hubspot_queue WHERE record_key = 'bob-secret@@x'}),
	qr/bob-secret\@\@x/, "bob: HubSpot's error quotes his value");
my $bob_ids = as('bob', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM hubspot_queue});
my $bob_failed = as('bob', q{SELECT id FROM hubspot_queue WHERE record_key = 'bob-secret@@x'});
note("bob's ids: $bob_ids");
my $bob_before = su(q{SELECT string_agg(id || ':' || state || ':' || attempts || ':' || properties::text, ' ' ORDER BY id)
	FROM hubspot_queue WHERE record_key LIKE 'bob%'});

# ================================================================== 1. search_path
note('---- 1. search_path');

# Every function of the extension runs with a fixed search_path of pg_catalog
# (and pg_temp, which is never searched for functions or operators).
my @procs = split /\n/, su(q{
	SELECT p.oid::regprocedure || '|' || coalesce(array_to_string(p.proconfig, ';'), '')
	  FROM pg_proc p
	  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'hubspot_fdw'
	 ORDER BY 1});
cmp_ok(scalar(@procs), '>=', 14, scalar(@procs) . ' functions belong to the extension');
my @unfixed;
for my $p (@procs)
{
	my ($name, $cfg) = split /\|/, $p, 2;
	my ($sp) = map { /^search_path=(.*)$/ ? $1 : () } split /;/, $cfg;
	my @parts = defined $sp ? map { s/^\s+|\s+$//gr =~ s/"//gr } split /,/, $sp : ();
	push @unfixed, "$name [" . ($cfg eq '' ? 'no proconfig' : $cfg) . ']'
	  if !@parts || grep { $_ ne 'pg_catalog' && $_ ne 'pg_temp' } @parts;
}
is(join('; ', @unfixed), '', 'every function of the extension has proconfig search_path = pg_catalog, pg_temp');

# alice plants her code in her schema (liar operators: if any of it ran with
# another role's rights, every row would match).
as('alice', plant_sql('alice', 'alice', 'ALICE-CODE', 1));
as('alice', q{
	CREATE TABLE alice.people (id int, email text, firstname text);
	CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON alice.people
		FOR EACH ROW EXECUTE FUNCTION public.hubspot_push('contacts', 'email', 'exclude=id');
	CREATE TABLE alice.people2 (id int, email text, firstname text);
	CREATE TRIGGER push2 AFTER UPDATE ON alice.people2 REFERENCING OLD TABLE AS o NEW TABLE AS n
		FOR EACH STATEMENT EXECUTE FUNCTION public.hubspot_push('contacts', 'email', 'exclude=id');
	INSERT INTO alice.people2 VALUES (1, 'alice-p2@example.com', 'P2');
});
# the trap is armed: in alice's own session, with her search_path first,
# her operators, functions and aggregates are the ones that run
as('alice', q{SET search_path = alice, pg_catalog;
	SELECT 1::bigint = 2::bigint, 'a'::text = 'b'::text, now(), jsonb_concat('{}', '{}'),
		   pg_has_role(10::oid, 'USAGE'), (SELECT count(*) FROM (VALUES (1)) v),
		   (SELECT max(x) FROM (VALUES (1::bigint)) v(x)), ARRAY[1::bigint] && ARRAY[2::bigint]});
is(as('alice', q{SELECT count(DISTINCT what) >= 7 FROM alice.log WHERE who = 'alice'}), 't',
	'sanity: with search_path alice first, alice\'s session runs her planted code');

my $q_bob = "ARRAY[$bob_ids]::bigint[]";
my $props = q{'{"firstname": "pwned", "email": "pwned@evil.example"}'::jsonb};
my @attack_sql = (
	[ retry_all        => q{SELECT public.hubspot_retry()} ],
	[ retry_ids_props  => qq{SELECT public.hubspot_retry($q_bob, $props)} ],
	[ retry_ids        => qq{SELECT public.hubspot_retry($q_bob)} ],
	[ retry_null_props => qq{SELECT public.hubspot_retry(NULL, $props)} ],
	[ discard          => qq{SELECT public.hubspot_discard($q_bob)} ],
	[ flush            => q{SELECT public.hubspot_flush('1 s')} ],
	[ enqueue          => q{SELECT count(*) FROM public.hubspot_enqueue('upsert', 'contacts',
		'[{"id": "alice-enq@example.com", "idProperty": "email", "properties": {"firstname": "Enq"}}]')} ],
	[ batch_upsert     => q{SELECT count(*) FROM public.hubspot_batch_upsert('contacts',
		'[{"id": "alice-batch@example.com", "idProperty": "email", "properties": {"firstname": "Batch"}}]') r
		WHERE r->>'status' IS DISTINCT FROM 'error'} ],
	[ batch_read       => q{SELECT count(*) FROM public.hubspot_batch_read('contacts',
		'{"idProperty": "email", "inputs": [{"id": "alice-batch@example.com"}]}')} ],
	[ queue            => q{SELECT count(*) FROM public.hubspot_queue} ],
	[ queue_status     => q{SELECT count(*) FROM public.hubspot_queue_status} ],
	[ worker_status    => q{SELECT count(*) FROM public.hubspot_worker_status} ],
	[ worker_status_fn => q{SELECT count(*) FROM public.hubspot_worker_status()} ],
	[ server_state     => q{SELECT count(*) FROM public.hubspot_server_state()} ],
	[ insert_table     => q{INSERT INTO alice.contacts (email, firstname) VALUES ('alice-ft@example.com', 'Ft')} ],
	[ scan_table       => q{SELECT count(*) FROM alice.contacts WHERE email = 'bob-ok@example.com'} ],
	[ row_trigger      => q{INSERT INTO alice.people VALUES (1, 'alice-push@example.com', 'Push')} ],
	[ stmt_trigger     => q{UPDATE alice.people2 SET firstname = 'P2b'} ],
	[ enqueue_rollback => q{BEGIN; SELECT count(*) FROM public.hubspot_enqueue('archive', 'contacts',
		'[{"id": "alice-gone@example.com", "idProperty": "email"}]'); ROLLBACK} ],
);
for my $path ('alice, public, pg_catalog', 'alice, pg_catalog, public', '"$user", public')
{
	my (%res, @failed);
	for my $a (@attack_sql)
	{
		my ($k, $sql) = @$a;
		my ($rc, $out, $err) = try_as('alice', "SET search_path = $path;\n$sql;");
		if ($rc != 0)
		{
			$err =~ s/\n.*//s;
			push @failed, "$k: $err";
			next;
		}
		$res{$k} = $out;
	}
	is(join("\n", @failed), '', "search_path = $path: every call of alice's ran without error");
	for my $k ('retry_ids_props', 'retry_ids', 'discard')
	{
		is($res{$k}, '0', "search_path = $path: alice's $k with bob's ids returns 0") if defined $res{$k};
	}
	is($res{retry_all}, '0', "search_path = $path: hubspot_retry() finds nothing of alice's to retry");
	note("search_path = $path: " . join(', ', map { "$_=" . ($res{$_} // 'ERROR') } map { $_->[0] } @attack_sql));
}
is(su(q{SELECT hubspot_flush('30 s')}), '0', 'alice\'s writes settled');
is(foreign_runs('alice', 'alice'), '', 'alice\'s planted code never ran as another role (her log table)');
ok(!$node->log_contains('WARNING:  ALICE-CODE'), 'alice\'s planted code never ran as another role (server log)')
  or diag(join("\n", grep { /WARNING:  ALICE-CODE/ } split /\n/, slurp_file($node->logfile)));
is(su(q{SELECT string_agg(id || ':' || state || ':' || attempts || ':' || properties::text, ' ' ORDER BY id)
	FROM hubspot_queue WHERE record_key LIKE 'bob%'}), $bob_before, 'bob\'s rows are as they were');
ok(!grep({ $_ eq 'pwned@evil.example' } map { $_->{properties}{email} // '' } @{ $sim->objects('contacts') }),
	'nothing of alice\'s retry properties reached HubSpot');
is(HubSpotTest::stored($sim, 'alice-'), 5, 'alice\'s own writes (enqueue, batch, table, two triggers) reached HubSpot');

# bob's packed rows (still packed: the worker is off) are not alice's to discard
su(q{ALTER SYSTEM SET hubspot_fdw.enabled = off; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT state = 'disabled' FROM hubspot_worker_status
	WHERE database = 'postgres'}), 'worker disabled');
as('bob', q{INSERT INTO bob.contacts (email, firstname)
	SELECT 'bobpack-' || g || '@example.com', 'Pack' FROM generate_series(1, 1200) g});
is(su(q{SELECT count(*) FROM hubspot_queue_pack}), '2', 'bob\'s 1200 rows are queued in 2 packs');
my $pack_ids = as('bob', q{SELECT string_agg(id::text, ',') FROM (SELECT id FROM hubspot_queue
	WHERE record_key LIKE 'bobpack-%' ORDER BY id LIMIT 20) s});
for my $path ('alice, public, pg_catalog', '"$user", public')
{
	my ($rc, $out, $err) = try_as('alice', qq{SET search_path = $path;
		SELECT public.hubspot_discard(ARRAY[$pack_ids]::bigint[]);});
	is($rc, 0, "search_path = $path: alice's discard of bob's packed ids ran") or diag($err);
	is($out, '0', "search_path = $path: alice's discard of bob's packed ids returns 0") if $rc == 0;
}
is(su(q{SELECT count(*) FILTER (WHERE state = 'pending') || '/' || count(*) FROM hubspot_queue
	WHERE record_key LIKE 'bobpack-%'}), '1200/1200', 'bob\'s packed rows are all still pending');
su(q{ALTER SYSTEM RESET hubspot_fdw.enabled; SELECT pg_reload_conf()});
is(su(q{SELECT hubspot_flush('60 s')}), '0', 'bob\'s packed rows settled');
is(HubSpotTest::stored($sim, 'bobpack-'), 1200, 'bob\'s packed rows all reached HubSpot');
is(foreign_runs('alice', 'alice'), '', 'still: alice\'s code never ran as another role');
ok(!$node->log_contains('WARNING:  ALICE-CODE'), 'still: no ALICE-CODE warning in the server log');

# ================================================================== 2. visibility
note('---- 2. visibility');
my @secrets = ('bob-secret', 'Bobsecretname', 'bob-ok', 'bobpack-', 'pat-bob', 'pat-super');
sub leaks
{
	my ($text) = @_;
	return join(',', grep { index($text, $_) >= 0 } @secrets);
}
my %views = (
	hubspot_queue          => 'SELECT * FROM hubspot_queue',
	hubspot_queue_status   => 'SELECT * FROM hubspot_queue_status',
	hubspot_worker_status  => 'SELECT * FROM hubspot_worker_status',
	hubspot_server_state   => 'SELECT * FROM hubspot_server_state()',
	pg_user_mappings       => 'SELECT * FROM pg_user_mappings',
);
for my $v (sort keys %views)
{
	my $out = as('alice', $views{$v});
	is(leaks($out), '', "alice: $v shows nothing of bob's");
	# with her own (lying) operators and pg_has_role first in her search_path
	$out = as('alice', "SET search_path = alice, public, pg_catalog; $views{$v}");
	is(leaks($out), '', "alice, search_path alice first: $v shows nothing of bob's");
}
is(as('alice', q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'bob%'}), '0',
	'alice: no row of bob\'s in hubspot_queue');
is(as('alice', q{SELECT count(*) FROM hubspot_worker_status WHERE last_error IS NOT NULL}), '0',
	'alice: hubspot_worker_status.last_error is NULL');
is(as('bob', q{SELECT count(*) FROM hubspot_worker_status WHERE last_error IS NOT NULL}), '0',
	'bob (not a superuser either): hubspot_worker_status.last_error is NULL');
is(as('alice', q{SELECT count(*) FROM hubspot_queue_status
	WHERE server_error IS NOT NULL OR last_error::text LIKE '%bob%'}), '0',
	'alice: hubspot_queue_status shows no error of bob\'s');

# Leaky functions of alice's own cannot see bob's rows through the views.
as('alice', q{
	CREATE FUNCTION alice.leak(VARIADIC t text[]) RETURNS boolean LANGUAGE plpgsql COST 0.0000001
		AS $$ BEGIN RAISE NOTICE 'LEAK %', t; RETURN true; END $$;});
{
	my ($rc, $out, $err) = try_as('alice', q{
		SELECT count(*) FROM hubspot_queue WHERE alice.leak(record_key, properties::text, error::text, result::text);
		SELECT count(*) FROM hubspot_queue_status WHERE alice.leak(last_error::text, server_error, pause_reason);
		SELECT count(*) FROM hubspot_worker_status WHERE alice.leak(last_error, paused_servers);
		SELECT count(*) FROM hubspot_server_state() WHERE alice.leak(last_error);});
	is($rc, 0, 'alice: leaky-function queries ran') or diag($err);
	is(leaks($err), '', 'alice: a leaky function in WHERE sees nothing of bob\'s')
	  or diag($err);
}

# The superuser sees everything.
like(su(q{SELECT error::text FROM hubspot_queue WHERE record_key = 'bob-secret@@x'}), qr/bob-secret\@\@x/,
	'superuser: sees bob\'s failed row and its error');
like(su(q{SELECT string_agg(coalesce(last_error::text, ''), ' ') FROM hubspot_queue_status}),
	qr/bob-secret/, 'superuser: hubspot_queue_status.last_error quotes bob\'s value');
is(su(q{SELECT count(*) FROM hubspot_queue WHERE record_key LIKE 'bob%'}), '1202',
	'superuser: sees bob\'s rows in hubspot_queue');
note('superuser: hubspot_worker_status.last_error = '
	  . su(q{SELECT coalesce(string_agg(last_error, ' | '), '<null>') FROM hubspot_worker_status}));

# Whatever alice passes, her retry/discard leave bob's failed row alone.
is(val_as('alice', "SELECT hubspot_retry(ARRAY[$bob_failed]::bigint[])"), '0', 'alice: hubspot_retry(bob\'s id) = 0');
is(val_as('alice', "SELECT hubspot_retry(ARRAY[$bob_failed]::bigint[], '{\"email\": \"fixed\@example.com\"}')"), '0',
	'alice: hubspot_retry(bob\'s id, properties) = 0');
is(val_as('alice', "SELECT hubspot_discard(ARRAY[$bob_failed]::bigint[])"), '0', 'alice: hubspot_discard(bob\'s id) = 0');
is(su("SELECT state FROM hubspot_queue WHERE id = $bob_failed"), 'failed', 'bob\'s row is still failed');
# ... and bob's own work
is(val_as('bob', "SELECT hubspot_retry(ARRAY[$bob_failed]::bigint[], '{\"firstname\": \"B2\"}')"), '1',
	'bob: hubspot_retry(his id, properties) = 1');
is(su(q{SELECT hubspot_flush('30 s')}), '0', 'bob\'s retried row settled');
is(val_as('bob', "SELECT hubspot_discard(ARRAY[$bob_failed]::bigint[])"), '1', 'bob: hubspot_discard(his id) = 1');
is(su("SELECT state FROM hubspot_queue WHERE id = $bob_failed"), 'discarded', 'bob\'s row is discarded');

# NOTIFY hubspot_fdw_failed reaches every listener: it carries counts only.
{
	my ($lout, $lerr) = ('', '');
	my $script = "LISTEN hubspot_fdw_failed;\nSELECT pg_sleep(5);\nSELECT 'listened';\n";
	# (input from a file: IPC::Run feeds a scalar only while it is pumped)
	my $file = PostgreSQL::Test::Utils::tempdir() . '/listen.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	my $lh = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-U', 'alice' ],
		'<', $file, '>', \$lout, '2>', \$lerr);
	$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity
		WHERE usename = 'alice' AND query LIKE 'SELECT pg_sleep%'}) or diag('alice is not listening');
	as('bob', q{INSERT INTO bob.contacts (email, firstname) VALUES ('bob-secret2@@x', 'Bobsecretname2')});
	$lh->finish;
	like($lout, qr/hubspot_fdw_failed/, 'alice (listening) got NOTIFY hubspot_fdw_failed for bob\'s failed row');
	is(leaks($lout), '', 'the NOTIFY payload carries nothing of bob\'s') or diag($lout);
	note("NOTIFY as alice saw it: $lout");
}

# ================================================================== 3. views
note('---- 3. views');
as('bob', q{
	CREATE FOREIGN TABLE bob.contacts_now (id text, email text, firstname text)
		SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email', delivery 'immediate');
	CREATE VIEW bob.v_contacts AS SELECT id, email, firstname FROM bob.contacts;
	CREATE VIEW bob.v_contacts_now AS SELECT id, email, firstname FROM bob.contacts_now;
	GRANT USAGE ON SCHEMA bob TO alice, carol;
	GRANT INSERT, SELECT ON bob.v_contacts, bob.v_contacts_now TO alice, carol;
});
my ($rc, $out, $err) = try_as('alice', q{INSERT INTO bob.contacts (email) VALUES ('alice-direct@example.com')});
isnt($rc, 0, 'alice: no INSERT on bob\'s foreign table itself');

for my $who ('alice', 'carol')
{
	$sim->clear_requests;
	($rc, $out, $err) = try_as($who, qq{INSERT INTO bob.v_contacts (email, firstname) VALUES ('view-$who\@example.com', 'V')});
	is($rc, 0, "$who: INSERT through bob's view") or diag($err);
	is(su(q{SELECT hubspot_flush('30 s')}), '0', "$who via view: settled");
	is(su(qq{SELECT state FROM hubspot_queue WHERE record_key = 'view-$who\@example.com'}), 'done',
		"$who via view: the row is done");
	is(tokens_of(calls_with("view-$who\@example.com")), 'Bearer pat-bob',
		"$who via view: sent with bob's token");

	$sim->clear_requests;
	($rc, $out, $err) = try_as($who, qq{INSERT INTO bob.v_contacts_now (email, firstname) VALUES ('viewnow-$who\@example.com', 'V')});
	is($rc, 0, "$who: INSERT through bob's view of an immediate table") or diag($err);
	is(tokens_of(calls_with("viewnow-$who\@example.com")), 'Bearer pat-bob',
		"$who via view (immediate): sent with bob's token");

	$sim->clear_requests;
	($rc, $out, $err) = try_as($who, q{SELECT email || '|' || firstname FROM bob.v_contacts WHERE email = 'bob-ok@example.com'});
	is($rc, 0, "$who: SELECT through bob's view") or diag($err);
	is($out, 'bob-ok@example.com|Bobby', "$who: SELECT through bob's view reads the record");
	my $reads = $sim->requests(path => '/crm/');
	cmp_ok(scalar(@$reads), '>=', 1, "$who: SELECT through the view called HubSpot");
	is(tokens_of($reads), 'Bearer pat-bob', "$who: SELECT through bob's view used bob's token");
}
# control: alice's own table goes with her own token
$sim->clear_requests;
as('alice', q{SELECT count(*) FROM alice.contacts WHERE email = 'bob-ok@example.com'});
is(tokens_of($sim->requests(path => '/crm/')), 'Bearer pat-alice', 'control: alice\'s own table uses her token');

# ================================================================== 4. auth pause per mapping
note('---- 4. per-mapping auth pause');
sub status_as
{
	my ($role, $cols) = @_;
	return as($role, qq{SELECT $cols FROM hubspot_queue_status WHERE server = 'hubspot' AND object_type = 'contacts'});
}
$sim->clear_requests;
$sim->config({ tokens => { 'pat-bob' => undef } });
as('bob', q{INSERT INTO bob.contacts (email, firstname) SELECT 'bobpause-' || g || '@example.com', 'P' FROM generate_series(1, 5) g});
as('alice', q{INSERT INTO alice.contacts (email, firstname) SELECT 'alicego-' || g || '@example.com', 'G' FROM generate_series(1, 5) g});
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'alicego-') == 5 }, 20),
	'auth: alice\'s rows delivered while bob\'s token is refused');
ok(HubSpotTest::wait_for(sub { (status_as('bob', 'pause_reason') // '') eq 'auth' }, 20),
	"auth: bob's hubspot_queue_status shows pause_reason 'auth'");
like(status_as('bob', 'server_error') // '', qr/401|INVALID_AUTHENTICATION/, 'auth: bob sees his 401 as server_error');
is(status_as('alice', q{coalesce(pause_reason, '<null>') || ' ' || coalesce(server_error, '<null>')}),
	'<null> <null>', 'auth: alice\'s hubspot_queue_status shows no pause and no error');
is(su(q{SELECT pause_reason FROM hubspot_queue_status WHERE server = 'hubspot' AND object_type = 'contacts'}), 'auth',
	'auth: the superuser sees the auth pause');
my $n401 = scalar(grep { $_->{status} == 401 } @{ $sim->requests(path => 'batch/') });
cmp_ok($n401, '>=', 1, "auth: HubSpot refused bob's token ($n401 calls)");
as('alice', q{INSERT INTO alice.contacts (email, firstname) SELECT 'alicego2-' || g || '@example.com', 'G' FROM generate_series(1, 5) g});
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'alicego2-') == 5 }, 10),
	'auth: alice\'s later rows delivered too, during bob\'s pause');
sleep 2;
is(scalar(grep { $_->{status} == 401 } @{ $sim->requests(path => 'batch/') }), $n401, 'auth: no more calls with bob\'s token while paused');
is(row_states('bobpause-'), 'pending:0x5', 'auth: bob\'s rows pending, no attempt burned');
is(row_states('alicego'), 'done:1x10', 'auth: alice\'s rows done');
$sim->config({ tokens => { 'pat-bob-fixed' => 'all' } });
su(q{ALTER USER MAPPING FOR bob SERVER hubspot OPTIONS (SET access_token 'pat-bob-fixed')});
ok(HubSpotTest::wait_for(sub { HubSpotTest::stored($sim, 'bobpause-') == 5 }, 20),
	'auth: bob\'s rows delivered after ALTER USER MAPPING');
ok(HubSpotTest::wait_for(sub { row_states('bobpause-') eq 'done:1x5' }, 10), 'auth: bob\'s rows done with 1 attempt')
  or diag(row_states('bobpause-'));
is(status_as('bob', q{coalesce(pause_reason, '<null>')}), '<null>', 'auth: bob no longer paused');

# ================================================================== 5. database owner's search_path
note('---- 5. ALTER DATABASE SET search_path by the database owner');
su(q{CREATE ROLE dbo LOGIN; CREATE DATABASE dbo_db OWNER dbo;});
$node->safe_psql('dbo_db', qq{
	CREATE EXTENSION hubspot_fdw SCHEMA public;
	CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url', max_attempts '2');
	GRANT USAGE ON FOREIGN SERVER hubspot TO dbo;
	CREATE USER MAPPING FOR dbo SERVER hubspot OPTIONS (access_token 'pat-dbo');
	CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-super');
});
HubSpotTest::wait_worker($node, 'dbo_db');
as('dbo', q{CREATE SCHEMA evil;}, 'dbo_db');
as('dbo', plant_sql('evil', 'dbo', 'DBO-CODE', 0), 'dbo_db');
as('dbo', q{
	CREATE FOREIGN TABLE public.contacts (id text, email text, firstname text)
		SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
	CREATE TABLE public.people (id int, email text, firstname text);
	CREATE TRIGGER push AFTER INSERT OR UPDATE OR DELETE ON public.people
		FOR EACH ROW EXECUTE FUNCTION public.hubspot_push('contacts', 'email', 'exclude=id');
	ALTER DATABASE dbo_db SET search_path = evil, pg_catalog, public;
}, 'dbo_db');
# the worker reads the database's settings when it starts
$node->restart;
HubSpotTest::wait_worker($node, 'dbo_db');
is(as('dbo', q{SHOW search_path}, 'dbo_db'), 'evil, pg_catalog, public', 'dbo_db: search_path set by its owner');
is($node->safe_psql('dbo_db', q{SHOW search_path}), 'evil, pg_catalog, public',
	'dbo_db: a superuser\'s session starts with it too');
($rc, $out, $err) = try_as('dbo', q{
	INSERT INTO contacts (email, firstname) VALUES ('dbo-1@example.com', 'D1'), ('dbo-bad@@x', 'Bad');
	INSERT INTO contacts (email, firstname) SELECT 'dbopack-' || g || '@example.com', 'P' FROM generate_series(1, 1500) g;
	INSERT INTO people VALUES (1, 'dbo-push@example.com', 'Push');
	UPDATE people SET firstname = 'Push2';
	DELETE FROM people;
	SELECT count(*) FROM hubspot_enqueue('upsert', 'contacts', '[{"id": "dbo-enq@example.com", "idProperty": "email", "properties": {}}]');
	SELECT count(*) FROM hubspot_batch_upsert('contacts', '[{"id": "dbo-batch@example.com", "idProperty": "email", "properties": {}}]');
	SELECT hubspot_flush('60 s');
	SELECT hubspot_retry();
	SELECT hubspot_flush('60 s');
	SELECT count(*) FROM contacts WHERE email = 'dbo-1@example.com';
	SELECT * FROM hubspot_queue_status;
}, 'dbo_db');
is($rc, 0, 'dbo_db: the owner\'s writes, trigger, enqueue, batch call, flush, retry ran') or diag($err);
is(HubSpotTest::stored($sim, 'dbopack-'), 1500, 'dbo_db: the worker delivered the owner\'s packed rows');
is($node->safe_psql('dbo_db', q{SET search_path = pg_catalog;
	SELECT count(*) FROM public.hubspot_queue WHERE record_key = 'dbo-bad@@x' AND state = 'failed'}), '1',
	'dbo_db: the worker settled a failed row too');
# the superuser, connecting with the database's search_path, uses only the extension
($rc, $out, $err) = $node->psql('dbo_db', q{
	SELECT public.hubspot_flush('10 s');
	SELECT r FROM public.hubspot_batch_upsert('contacts', '[{"id": "su-batch@example.com", "idProperty": "email", "properties": {}}]') r;
	SELECT r FROM public.hubspot_enqueue('upsert', 'contacts', '[{"id": "su-enq@example.com", "idProperty": "email", "properties": {}}]') r;
	SELECT public.hubspot_retry();
	SELECT public.hubspot_flush('10 s');
	TABLE public.hubspot_queue_status;
	TABLE public.hubspot_worker_status;
	TABLE public.hubspot_queue;
});
is($rc, 0, 'dbo_db: the superuser\'s calls with the owner\'s search_path ran') or diag($err);
is(as('dbo', q{SELECT count(*) > 0 FROM evil.log WHERE who = 'dbo'}, 'dbo_db'), 't',
	'sanity: the owner\'s own session ran his planted code');
is(foreign_runs('evil', 'dbo', 'dbo_db'), '', 'dbo_db: the planted code never ran as another role (log table)');
ok(!$node->log_contains('WARNING:  DBO-CODE'), 'dbo_db: the planted code never ran as another role (server log)')
  or diag(join("\n", grep { /WARNING:  DBO-CODE/ } split /\n/, slurp_file($node->logfile)));

diag(sprintf('040_roles: %.0f s', time - $t_file));
$node->stop;
$sim->stop;
done_testing();
