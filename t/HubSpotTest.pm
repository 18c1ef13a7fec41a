# Shared set-up for the TAP tests: a node that preloads hubspot_fdw, and a
# database wired to the simulator.
package HubSpotTest;
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

sub node
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'hubspot_fdw'\n"
		  . "hubspot_fdw.naptime = 1000\nmax_worker_processes = 16\n"
		  . "restart_after_crash = on\n" . ($extra // ''));
	$node->start;
	return $node;
}

# CREATE EXTENSION, a server "hubspot" on the simulator, a mapping and a
# foreign table hubspot_contacts keyed by email.
sub setup_db
{
	my ($node, $db, $sim, $server_opts) = @_;
	$server_opts //= '';
	my $url = $sim->url;
	$node->safe_psql($db, qq{
		CREATE EXTENSION hubspot_fdw;
		CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw
			OPTIONS (api_url '$url' $server_opts);
		CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');
		CREATE FOREIGN TABLE hubspot_contacts (id text, email text, firstname text)
			SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
	});
	wait_worker($node, $db);
}

sub wait_worker
{
	my ($node, $db) = @_;
	ok( $node->poll_query_until('postgres', qq{
			SELECT count(*) = 1 FROM pg_stat_activity
			 WHERE backend_type = 'hubspot_fdw worker' AND datname = '$db'}),
		"worker of $db runs");
}

sub worker_pid
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT pid FROM pg_stat_activity
		 WHERE backend_type = 'hubspot_fdw worker' AND datname = '$db'});
}

# Wait (up to $timeout s) until $cond->() is true; returns whether it became true.
sub wait_for
{
	my ($cond, $timeout) = @_;
	my $end = time + ($timeout // 60);
	while (time < $end)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	return 0;
}

# Count of stored contacts whose email starts with $prefix.
sub stored
{
	my ($sim, $prefix) = @_;
	return scalar grep { ($_->{properties}{email} // '') =~ /^\Q$prefix\E/ }
	  @{ $sim->objects('contacts') };
}

1;
