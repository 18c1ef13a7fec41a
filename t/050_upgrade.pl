# ALTER EXTENSION hubspot_fdw UPDATE from 0.1: rows queued under 0.1 while
# the worker was off are all delivered after the update, and the updated
# database's schema is the one CREATE EXTENSION of the default version makes.
# Generic: the target is whatever default_version the control file names.
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
my $node = HubSpotTest::node('upgrade', "hubspot_fdw.enabled = off\n");
my $url = $sim->url;

# The same server, user mapping and foreign table in each database.
sub wire
{
	my ($db) = @_;
	$node->safe_psql($db, qq{
		CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$url');
		CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');
		CREATE FOREIGN TABLE hubspot_contacts (id text, email text, firstname text)
			SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
	});
}

my $default = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'hubspot_fdw'});
isnt($default, '0.1', "default version is $default");

# --- 0.1, worker off: rows queue up --------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('upgraded', q{CREATE EXTENSION hubspot_fdw VERSION '0.1'});
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'hubspot_fdw'}),
	'0.1', 'created at 0.1');
wire('upgraded');
HubSpotTest::wait_worker($node, 'upgraded');
ok($node->poll_query_until('upgraded', q{SELECT state = 'disabled' FROM hubspot_worker_status
	WHERE database = 'upgraded'}, 't'), 'worker disabled');

# Rows written by the 0.1 library, in 0.1's layout (owner and server by OID):
# a pack, single rows and two enqueued companies.  The installed library is
# this release's, which must not write into 0.1's tables: it says so.
my ($ret, $out, $err) = $node->psql('upgraded',
	q{INSERT INTO hubspot_contacts (email) VALUES ('refused@example.com')});
isnt($ret, 0, 'a write under 0.1 tables is refused by the newer library');
like($err, qr/older than its library.*\n.*ALTER EXTENSION hubspot_fdw UPDATE/s, 'and says to update');
$node->safe_psql('upgraded', q{
	INSERT INTO hubspot_queue_pack (first_id, last_id, owner, server_id, object_type, operation,
		id_property, enqueued_at, ids, record_keys, properties, n)
	SELECT 1, 2500, 'postgres'::regrole, s.oid, 'contacts', 'upsert', 'email', now(),
		   array_agg(g::bigint ORDER BY g), array_agg('up' || g || '@example.com' ORDER BY g),
		   array_agg(jsonb_build_object('firstname', 'Up' || g) ORDER BY g), 2500
	  FROM pg_foreign_server s, generate_series(1, 2500) g WHERE s.srvname = 'hubspot'
	 GROUP BY s.oid;
	SELECT setval('hubspot_queue_data_id_seq', 3000);
	INSERT INTO hubspot_queue_data (owner, server_id, object_type, operation, id_property, record_key, properties)
	SELECT 'postgres'::regrole, s.oid, 'contacts', 'upsert', 'email', 'one' || g || '@example.com',
		   '{"firstname": "One"}'
	  FROM pg_foreign_server s, generate_series(1, 3) g WHERE s.srvname = 'hubspot';
	INSERT INTO hubspot_queue_data (owner, server_id, object_type, operation, id_property, record_key, properties)
	SELECT 'postgres'::regrole, s.oid, 'companies', 'upsert', 'company_code', v.k, jsonb_build_object('name', v.n)
	  FROM pg_foreign_server s, (VALUES ('UP-1', 'Upgrade One'), ('UP-2', 'Upgrade Two')) v(k, n)
	 WHERE s.srvname = 'hubspot';});
my $total = 2500 + 3 + 2;
is($node->safe_psql('upgraded', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'pending')
	FROM hubspot_queue}), "$total $total", "$total rows pending under 0.1");
sleep 2;
is(scalar @{ $sim->requests(path => 'batch/') }, 0, 'worker off: nothing sent');

# --- update, worker on: everything arrives ---------------------------------
$node->safe_psql('upgraded', 'ALTER EXTENSION hubspot_fdw UPDATE');
is($node->safe_psql('upgraded', q{SELECT extversion FROM pg_extension WHERE extname = 'hubspot_fdw'}),
	$default, "updated to $default");
is($node->safe_psql('upgraded', q{SELECT count(*) FROM hubspot_queue WHERE state = 'pending'}),
	$total, 'the queue kept its rows across the update');
$node->safe_psql('postgres', 'ALTER SYSTEM SET hubspot_fdw.enabled = on');
$node->reload;
is($node->safe_psql('upgraded', q{SELECT hubspot_flush('120 s')}), '0', 'after the update: settled');
is(HubSpotTest::stored($sim, 'up'), 2500, 'bulk rows stored');
is(HubSpotTest::stored($sim, 'one'), 3, 'single rows stored');
is(join(',', map { $_->{properties}{name} // '' }
	  grep { ($_->{properties}{company_code} // '') =~ /^UP-/ }
	  sort { ($a->{properties}{company_code} // '') cmp ($b->{properties}{company_code} // '') }
	  @{ $sim->objects('companies') }),
	'Upgrade One,Upgrade Two', 'enqueued companies stored');
is($node->safe_psql('upgraded', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'done')
	FROM hubspot_queue}), "$total $total", 'every queued row done');
is($node->safe_psql('upgraded', 'SELECT count(*) FROM hubspot_queue_pack'), '0', 'no pack left');

# --- the updated schema is the fresh one ----------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION hubspot_fdw');
wire('fresh');

sub dump_schema
{
	my ($db, @opts) = @_;
	my ($out, $err) = run_command([ 'pg_dump', '--schema-only', @opts, '-d', $node->connstr($db) ]);
	is($err, '', "pg_dump @opts $db: no error");
	return $out;
}

# Only what must differ between two databases is normalised: their names, and
# the random key of pg_dump's \restrict lines.  The --binary-upgrade dump
# (below) also carries OIDs, xids, LSNs and the sequence's position.
sub normalise
{
	my ($dump, $db) = @_;
	my @lines = grep { !/^\\(un)?restrict / } split /\n/, $dump;
	s/\b\Q$db\E\b/DBNAME/g for @lines;
	return join("\n", @lines) . "\n";
}

# In a --binary-upgrade dump OIDs are renamed by first appearance (so that
# what refers to what is still compared); the extension's list of
# configuration tables is compared as a set; a column dropped by the update
# script leaves a placeholder a fresh table cannot have, so those go too.
sub normalise_binary
{
	my ($dump, $db) = @_;
	my @lines = split /\n/, normalise($dump, $db);
	my (%oid, @out);
	my $name = sub { my $o = shift; $oid{$o} //= 'OID' . (1 + keys %oid); return $oid{$o} };
	for (@lines)
	{
		next if /binary_upgrade_create_empty_extension/;
		# a table rewritten by the update (ALTER COLUMN ... TYPE) has a new
		# relfilenode: storage, not schema
		s/(binary_upgrade_set_next_\w*relfilenode\()'\d+'/$1'RELFILENODE'/;
		s/'(\d+)'::pg_catalog\.oid/"'" . $name->($1) . "'::pg_catalog.oid"/ge;
		s/\boid = '(\d+)'/"oid = '" . $name->($1) . "'"/ge;
	}
	my $skip = 0;
	for (@lines)
	{
		if (/^-- For binary upgrade, recreate dropped column/)
		{
			pop @out if @out && $out[-1] eq '';
			$skip = 1;
			next;
		}
		if ($skip) { $skip = 0 if /DROP COLUMN/; next; }
		next if /\Qpg.dropped.\E/;
		if (/^(.*binary_upgrade_create_empty_extension\(.*?, )'\{([\d,]*)\}', '\{(.*?)\}'(.*)$/)
		{
			my ($head, $tail) = ($1, $4);
			my @cfg = split /,/, $2;
			my @cond = split /,/, $3;
			my @pairs = sort map { $name->($cfg[$_]) . '=' . ($cond[$_] // '') } 0 .. $#cfg;
			$_ = "${head}CONFIG{" . join(',', @pairs) . "}$tail";
		}
		s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = 'XID', relminmxid = 'MXID'/;
		s/'\{[^}]*\}'::pg_catalog\.pg_lsn\[\]/'{LSNS}'::pg_catalog.pg_lsn[]/;    # one per column, dropped too
		s{\b[0-9A-F]+/[0-9A-F]+\b}{LSN}g if /pg_lsn/;
		s/(pg_catalog\.setval\('[^']*', )\d+, (?:true|false)\)/$1N, CALLED)/;
		push @out, $_;
	}
	my $text = join("\n", @out) . "\n";
	$text =~ s/,\n\);/\n);/g;    # the last column was a dropped one
	return $text;
}

sub same
{
	my ($what, $got, $want) = @_;
	my $dir = $node->basedir;
	my ($g, $w) = ("$dir/upgraded.$what.sql", "$dir/fresh.$what.sql");
	append_to_file($g, $got);
	append_to_file($w, $want);
	my ($diff) = run_command([ 'diff', '-u', $w, $g ]);
	ok($got eq $want, "$what: the updated database's schema equals a fresh $default")
	  or diag("diff -u fresh updated:\n$diff");
}

same('schema', normalise(dump_schema('upgraded'), 'upgraded'),
	normalise(dump_schema('fresh'), 'fresh'));
same('binary-upgrade-schema',
	normalise_binary(dump_schema('upgraded', '--binary-upgrade'), 'upgraded'),
	normalise_binary(dump_schema('fresh', '--binary-upgrade'), 'fresh'));

$node->stop;
$sim->stop;
done_testing();
