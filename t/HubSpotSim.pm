# HubSpotSim - start the HubSpot simulator (test/hubspot_sim.py) from a TAP test and drive
# its control API.
#
#   use lib 't';            # (PGXS's prove already passes -I $(srcdir))
#   use HubSpotSim;
#   my $sim = HubSpotSim->start();            # options: log => "$dir/sim.log", verbose => 1,
#                                             # cpu => N (pin it), timeout => 10 (s)
#   $node->safe_psql(..., "... api_url '" . $sim->url . "' ...");
#   $sim->fault({ status => 503, count => 2 });
#   is($sim->count('contacts'), 10);
#   $sim->stop;                               # also done when $sim goes out of scope
#   (url, port, pid, log_file: the simulator's address, process id and output file)
#
# Control API methods (JSON in/out, die on errors): reset, config(\%h), fault(\%h) -> number
# of pending faults, faults -> [ pending faults ], clear_faults, requests(path => 'substr',
# since => seq, status => N) -> [ {...}, ... ], clear_requests, stats -> {...},
# objects($type) -> [ non-archived objects ], object_by($type, $prop, $value) -> {...} | undef
# (email compared case-insensitively), count($type), daily_reset,
# set_properties($type, \@properties), associations($from, $to) -> [ {from, to, types} ]
# (what the simulator holds; ids as strings, types [{category, typeId, label}]),
# association_labels($from, $to) -> [ {category, typeId, label} ],
# define_association_label($from, $to, \%def) -> [ new types ] (def: label (undef =
# unlabelled), name, inverseLabel, category, typeId, inverseTypeId).
# api($method, $path, $body, $token) calls the API
# itself and returns ($status, $decoded_body); api_raw($method, $path, $body, $token,
# \%headers) returns ($status, $raw_content, \%response_headers) (names lower-case; status
# 599 when HTTP::Tiny got no complete answer).
#
# Fault and config options are those of test/hubspot_sim.py's docstring; Perl 1/0 work as
# booleans there (JSON::PP::true/false too).  Shorthands for the common fault shapes:
#   $sim->applied_fault(drop => 1, match => 'batch/upsert');  # performed, then answer lost:
#                                  # fault({ apply => 1, ... }) with drop, garbage, truncate,
#                                  # status (+ body), raw_body, nul_string, pad_bytes, ...
#   $sim->envelope_status('PENDING', results => 0);           # not done, nothing stored
#   $sim->envelope_status('PROCESSING');                      # done, results given
#   $sim->fault({ raw_body => '<html>oops</html>', content_type => 'text/html', status => 502 });
#   $sim->fault({ headers => { 'X-HubSpot-RateLimit-Max' => '1' }, match => 'batch/' });
#   $sim->fault({ status => 429, headers => { 'Retry-After' => '-5' } });
#   $sim->config({ result_trace_ids => 'omit', error_context => 'omit',
#                  retry_after_on_429 => 2, retry_after_format => 'http-date',
#                  max_url_length => 2000 });

package HubSpotSim;

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Run ();
use JSON::PP ();
use Time::HiRes ();

my $REPO = File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__), File::Spec->updir));
our $PYTHON = $ENV{HUBSPOT_SIM_PYTHON} || '/usr/bin/python3';

sub start
{
	my ($class, %opt) = @_;
	my $dir = tempdir('hubspot_sim_XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $port_file = "$dir/port";
	my $log = $opt{log} || "$dir/sim.log";
	my @cmd = ($PYTHON, "$REPO/test/hubspot_sim.py",
		'--host', '127.0.0.1', '--port', '0', '--port-file', $port_file);
	push @cmd, '--verbose' if $opt{verbose};
	push @cmd, '--cpu', $opt{cpu} if defined $opt{cpu};
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>', $log, '2>&1');

	my $self = bless {
		h         => $h,
		dir       => $dir,
		log       => $log,
		owner_pid => $$,
		json      => JSON::PP->new->utf8->canonical,
		http      => HTTP::Tiny->new(
			keep_alive => 1,
			timeout    => 30,
			proxy      => undef,
			http_proxy => undef),
	}, $class;

	my $deadline = Time::HiRes::time() + ($opt{timeout} || 10);
	while (1)
	{
		if (-s $port_file)
		{
			open(my $fh, '<', $port_file) or croak "cannot read $port_file: $!";
			my $port = <$fh>;
			close $fh;
			chomp $port;
			if ($port =~ /^\d+$/)
			{
				$self->{port} = $port;
				last;
			}
		}
		if (!_alive($h->{KIDS}[0]{PID}) || Time::HiRes::time() > $deadline)
		{
			my $out = _slurp($log);
			$self->stop;
			croak "hubspot simulator did not start (no port in $port_file)\n$out";
		}
		Time::HiRes::sleep(0.05);
	}
	$self->{url} = "http://127.0.0.1:$self->{port}";
	return $self;
}

sub url  { return $_[0]->{url} }
sub port { return $_[0]->{port} }
sub log_file { return $_[0]->{log} }

sub pid
{
	my ($self) = @_;
	return $self->{h} ? $self->{h}{KIDS}[0]{PID} : undef;
}

sub stop
{
	my ($self) = @_;
	my $h = delete $self->{h};
	return unless $h;
	# TERM, then KILL if it has not exited within the grace period
	eval { $h->kill_kill(grace => 5); 1 };
	return;
}

sub DESTROY
{
	my ($self) = @_;
	# only the process that started the simulator may stop it
	local ($@, $!, $?);
	$self->stop if $self->{h} && $self->{owner_pid} == $$;
	return;
}

# running and not a zombie (IPC::Run reaps it later)
sub _alive
{
	my ($pid) = @_;
	return 0 unless $pid && kill(0, $pid);
	if (open(my $fh, '<', "/proc/$pid/stat"))
	{
		my $stat = <$fh>;
		close $fh;
		return 0 if defined $stat && $stat =~ /^\d+ \(.*\) [ZX]/;
	}
	return 1;
}

sub _slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return '';
	local $/;
	my $s = <$fh>;
	close $fh;
	return defined $s ? $s : '';
}

# ------------------------------------------------------------------ HTTP
sub _request
{
	my ($self, $method, $path, $body, $headers) = @_;
	croak "simulator is not running" unless $self->{url};
	my %args = (headers => { %{ $headers || {} } });
	if (defined $body)
	{
		$args{content} = $self->{json}->encode($body);
		$args{headers}{'Content-Type'} = 'application/json';
	}
	my $res = $self->{http}->request($method, $self->{url} . $path, \%args);
	my $decoded;
	if (defined $res->{content} && length $res->{content})
	{
		$decoded = eval { $self->{json}->decode($res->{content}) };
		$decoded = $res->{content} unless defined $decoded;
	}
	return ($res, $decoded);
}

sub _control
{
	my ($self, $method, $path, $body) = @_;
	my ($res, $decoded) = $self->_request($method, $path, $body);
	if (!$res->{success})
	{
		my $msg = ref $decoded eq 'HASH' ? $decoded->{error} : $res->{content};
		croak "simulator $method $path failed: $res->{status} " . ($msg // '');
	}
	return $decoded;
}

sub api
{
	my ($self, $method, $path, $body, $token) = @_;
	$token = 'pat-test' unless defined $token;
	my ($res, $decoded) =
	  $self->_request($method, $path, $body, { Authorization => "Bearer $token" });
	return ($res->{status}, $decoded);
}

sub api_raw
{
	my ($self, $method, $path, $body, $token, $headers) = @_;
	$token = 'pat-test' unless defined $token;
	my ($res) = $self->_request($method, $path, $body,
		{ Authorization => "Bearer $token", %{ $headers || {} } });
	my %h = map { lc($_) => $res->{headers}{$_} } keys %{ $res->{headers} || {} };
	return ($res->{status}, $res->{content}, \%h);
}

# ------------------------------------------------------------------ control API
sub reset          { $_[0]->_control('POST', '/_sim/reset', {}); return }
sub config         { return $_[0]->_control('POST', '/_sim/config', $_[1]) }
sub fault          { return $_[0]->_control('POST', '/_sim/faults', $_[1])->{faults} }
sub faults         { return $_[0]->_control('GET', '/_sim/faults')->{faults} }
sub clear_faults   { $_[0]->_control('DELETE', '/_sim/faults'); return }
sub clear_requests { $_[0]->_control('DELETE', '/_sim/requests'); return }
sub daily_reset    { $_[0]->_control('POST', '/_sim/daily_reset', {}); return }
sub stats          { return $_[0]->_control('GET', '/_sim/stats') }

# fault({ apply => 1, %opt }): the request is performed (writes stored), then the answer
# that %opt describes replaces the real one
sub applied_fault
{
	my ($self, %opt) = @_;
	return $self->fault({ %opt, apply => JSON::PP::true });
}

# fault({ envelope_status => $status, %opt }) for batch upsert/update/create/read answers;
# results => 0 (or 'omit') with PENDING/PROCESSING/CANCELED: the writes are not done
sub envelope_status
{
	my ($self, $status, %opt) = @_;
	return $self->fault({ %opt, envelope_status => $status });
}

sub set_properties
{
	my ($self, $type, $props) = @_;
	$self->_control('POST', "/_sim/properties/$type", { properties => $props });
	return;
}

sub associations
{
	my ($self, $from, $to) = @_;
	return $self->_control('GET', "/_sim/associations/$from/$to")->{results};
}

sub association_labels
{
	my ($self, $from, $to) = @_;
	return $self->_control('GET', "/_sim/associations/$from/$to/labels")->{results};
}

sub define_association_label
{
	my ($self, $from, $to, $def) = @_;
	my %d = %{ $def || {} };
	$d{label} = undef unless exists $d{label};
	return $self->_control('POST', "/_sim/associations/$from/$to/labels", \%d)->{results};
}

sub requests
{
	my ($self, %opt) = @_;
	my $path = '/_sim/requests';
	$path .= "?since=$opt{since}" if defined $opt{since};
	my $reqs = $self->_control('GET', $path)->{requests};
	if (defined $opt{path})
	{
		$reqs = [ grep { index($_->{path}, $opt{path}) >= 0 } @$reqs ];
	}
	if (defined $opt{status})
	{
		$reqs = [ grep { $_->{status} == $opt{status} } @$reqs ];
	}
	return $reqs;
}

sub objects
{
	my ($self, $type) = @_;
	my $res = $self->_control('GET', "/_sim/objects/$type")->{results};
	return [ grep { !$_->{archived} } @$res ];
}

sub object_by
{
	my ($self, $type, $prop, $value) = @_;
	my $ci = $prop eq 'email';
	my $want = $ci ? lc $value : $value;
	for my $o (@{ $self->objects($type) })
	{
		my $v = $o->{properties}{$prop};
		next unless defined $v;
		return $o if ($ci ? lc $v : $v) eq $want;
	}
	return undef;
}

sub count
{
	my ($self, $type) = @_;
	return scalar @{ $self->objects($type) };
}

1;
