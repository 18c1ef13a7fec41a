# Associations (DESIGN.md section 7, REFERENCE.md section 13): queued links
# survive a crash between the records' writes and the link, are sent only
# after their records' writes, fail naming the side whose record failed or
# does not exist (after the search waits), keep a pair's other labels, go
# through association foreign tables, and can be retried or discarded.
# Checked through SQL (hubspot_queue, hubspot_flush) and through what the
# simulator received (its request log, with t_start/t_end) and stores.
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

# Slack between the simulator's t_end of an answer and the worker reading it.
my $SLACK = 0.05;

my $t_file = time;
my $sim = HubSpotSim->start();
# at global destruction the simulator's IPC::Run handle may be gone already
END { $sim->stop if $sim }
my $node = HubSpotTest::node('assoc', "hubspot_fdw.log_calls = on\n");
HubSpotTest::setup_db($node, 'postgres', $sim);

sub psql { return $node->safe_psql('postgres', $_[0]) }

psql(q{
	CREATE FOREIGN TABLE hubspot_companies (id text, domain text, name text)
		SERVER hubspot OPTIONS (object_type 'companies');
	CREATE FOREIGN TABLE contact_company (
		contact_email  text OPTIONS (side 'from', property 'email'),
		company_domain text OPTIONS (side 'to',   property 'domain'),
		label          text
	) SERVER hubspot OPTIONS (from_type 'contacts', to_type 'companies');});

# ------------------------------------------------------------------ helpers

sub section
{
	my ($name) = @_;
	note("---- $name");
	$sim->clear_faults;
	$sim->clear_requests;
}

# one association input, by email and domain; $label optional
sub link_json
{
	my ($email, $domain, $label) = @_;
	my $l = defined $label ? qq{, "label": "$label"} : '';
	return qq{{"from": {"id": "$email", "idProperty": "email"}, "to": {"id": "$domain", "idProperty": "domain"}$l}};
}

sub enqueue_sql
{
	my ($op, @links) = @_;
	return qq{SELECT hubspot_enqueue('$op', 'contacts/companies', '[} . join(', ', @links) . qq{]');};
}

# the association queue rows naming this email (record_key holds it)
sub assoc_rows_sql
{
	my ($email) = @_;
	return qq{FROM hubspot_queue WHERE object_type = 'contacts/companies' AND record_key LIKE '%"$email"%'};
}

sub assoc_field
{
	my ($email, $expr) = @_;
	return psql(qq{SELECT string_agg(($expr)::text, ',' ORDER BY id) } . assoc_rows_sql($email));
}

sub contact_id
{
	my $o = $sim->object_by('contacts', 'email', $_[0]);
	return $o ? $o->{id} : undef;
}

sub company_id
{
	my $o = $sim->object_by('companies', 'domain', $_[0]);
	return $o ? $o->{id} : undef;
}

# The type ids the simulator holds between a contact and a company
# (ascending, comma separated), '' when the pair has none.
sub link_types
{
	my ($email, $domain) = @_;
	my ($cid, $coid) = (contact_id($email), company_id($domain));
	return 'no such records' unless defined $cid && defined $coid;
	for my $l (@{ $sim->associations('contacts', 'companies') })
	{
		next unless $l->{from} eq $cid && $l->{to} eq $coid;
		return join(',', sort { $a <=> $b } map { $_->{typeId} } @{ $l->{types} });
	}
	return '';
}

# every association the contact has, as "companyid:types;..."
sub links_of
{
	my ($email) = @_;
	my $cid = contact_id($email) // return 'no such contact';
	return join(';', map { $_->{to} . ':' . join(',', sort { $a <=> $b } map { $_->{typeId} } @{ $_->{types} }) }
		  grep { $_->{from} eq $cid } @{ $sim->associations('contacts', 'companies') });
}

sub assoc_calls
{
	return [ sort { $a->{t_start} <=> $b->{t_start} }
		  @{ $sim->requests(path => '/associations/') } ];
}

# A worker killed by a signal restarts the cluster (restart_after_crash):
# the test cannot go on.  The crash we cause ourselves is an immediate stop,
# never a signal.
sub worker_alive
{
	my ($what) = @_;
	my $log = slurp_file($node->logfile);
	my ($crash) = $log =~ /^(.*terminated by signal.*\n(?:.*DETAIL.*\n)?)/m;
	return if ok(!defined $crash, "$what: no server process crashed");
	diag($crash);
	diag("$what: a server process crashed; the rest of this file cannot run");
	done_testing();
	exit 1;
}

# ------------------------------------------------------------------ 1. crash between the phases
# A company created (no id_property), a contact upserted and their link, in
# one transaction.  The link's call is held 6 s by the simulator; the cluster
# crashes while it is 'sending'.  After the restart the link is sent again and
# resolved from the company's own queued create: no search.
section('crash between the records and their link');
$sim->fault({ delay_ms => 6000, match => '/associations/', count => 1 });
psql(q{BEGIN;
	INSERT INTO hubspot_companies (domain, name) VALUES ('crash.example', 'Crash Co');
	INSERT INTO hubspot_contacts (email, firstname) VALUES ('crash@example.com', 'Cr');
	} . enqueue_sql('associate', link_json('crash@example.com', 'crash.example')) . q{
	COMMIT;});
my $crash_aid = assoc_field('crash@example.com', 'id');
like($crash_aid, qr/^\d+$/, 'crash: one association row queued');
is(psql(qq{SELECT record_key FROM hubspot_queue WHERE id = $crash_aid}),
	'["email","crash@example.com","domain","crash.example"]', 'crash: record_key names both sides');
ok(HubSpotTest::wait_for(sub {
		psql(q{SELECT count(*) FROM hubspot_queue WHERE state = 'done'
				AND ((object_type = 'contacts' AND record_key = 'crash@example.com')
				  OR (object_type = 'companies' AND properties->>'domain' = 'crash.example'))}) eq '2'
		  && psql(qq{SELECT state FROM hubspot_queue WHERE id = $crash_aid}) eq 'sending' }, 30),
	'crash: the records\' rows are done and the link is being sent');
# the worker claimed it; give it a moment to be inside the held call
usleep(500_000);
$node->stop('immediate');
$node->start;
HubSpotTest::wait_worker($node, 'postgres');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'crash: settled after the restart');
is(psql(qq{SELECT state FROM hubspot_queue WHERE id = $crash_aid}), 'done', 'crash: the link is done');
is(scalar(grep { ($_->{properties}{domain} // '') eq 'crash.example' } @{ $sim->objects('companies') }),
	1, 'crash: the company was created once');
is(link_types('crash@example.com', 'crash.example'), '279', 'crash: HubSpot holds exactly that link (unlabelled)');
is(links_of('crash@example.com'), company_id('crash.example') . ':279', 'crash: and no other link of the contact');
is(scalar @{ $sim->requests(path => '/search') }, 0, 'crash: no search: the company id came from its queued create');
my $crash_calls = assoc_calls();
ok(scalar(@$crash_calls) >= 1 && scalar(@$crash_calls) <= 2,
	'crash: the link was sent once or twice (once more after the crash)')
  or diag(explain [ map { "$_->{path} $_->{status}" } @$crash_calls ]);
# the call after the crash carries the records' ids
my $last = $crash_calls->[-1];
is(join(',', map { "$_->{from}{id}>$_->{to}{id}" } @{ $last->{body}{inputs} || [] }),
	contact_id('crash@example.com') . '>' . company_id('crash.example'),
	'crash: the call names the contact and company by their ids');

# the call held across the crash ends (the simulator performs it after its
# delay): it was in flight when the cluster stopped, and it adds nothing
ok(HubSpotTest::wait_for(sub { scalar(grep { $_->{fault} } @{ assoc_calls() }) == 1 }, 10),
	'crash: the held call was in flight at the crash (answered after it)');
is(scalar(@{ assoc_calls() }), 2, 'crash: the link was sent twice: before and after the crash');
is(link_types('crash@example.com', 'crash.example'), '279', 'crash: still exactly that link');

# ------------------------------------------------------------------ 2. ordering
# The records' writes are slowed by 1.5 s each: a link sent alongside them
# would start before their answers.
section('the link is sent after its records\' writes');
$sim->fault({ delay_ms => 1500, match => 'companies/batch/create', count => 1 });
$sim->fault({ delay_ms => 1500, match => 'contacts/batch/upsert', count => 1 });
psql(q{BEGIN;
	INSERT INTO hubspot_companies (domain, name) VALUES ('order.example', 'Order Co');
	INSERT INTO hubspot_contacts (email, firstname) VALUES ('order@example.com', 'Or');
	} . enqueue_sql('associate', link_json('order@example.com', 'order.example')) . q{
	COMMIT;});
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'order: settled');
is(assoc_field('order@example.com', 'state'), 'done', 'order: the link is done');
is(link_types('order@example.com', 'order.example'), '279', 'order: HubSpot holds the link');
{
	my @writes = grep { $_->{path} =~ m{companies/batch/create|contacts/batch/upsert} }
	  @{ $sim->requests(path => '/batch/') };
	my $links = assoc_calls();
	is(scalar @writes, 2, 'order: one call for each record');
	is(scalar @$links, 1, 'order: one association call');
	my $last_end = 0;
	$last_end = $_->{t_end} > $last_end ? $_->{t_end} : $last_end for @writes;
	ok(@$links && $links->[0]{t_start} >= $last_end - $SLACK,
		'order: the association call starts after both record writes were answered')
	  or diag(sprintf('association started %.3f s before the last record write was answered',
			$last_end - ($links->[0]{t_start} // 0)));
}

# ------------------------------------------------------------------ 3. a record whose write failed
section('a record whose write failed');
psql(q{BEGIN;
	INSERT INTO hubspot_companies (domain, name) VALUES ('fail.example', 'Fail Co');
	SELECT hubspot_enqueue('upsert', 'contacts',
		'[{"id": "badwrite@example.com", "idProperty": "email", "properties": {"lifetime_value": "not a number"}},
		  {"id": "goodwrite@example.com", "idProperty": "email", "properties": {"firstname": "G"}}]');
	} . enqueue_sql('associate', link_json('badwrite@example.com', 'fail.example'),
		link_json('goodwrite@example.com', 'fail.example')) . q{
	COMMIT;});
# (a worker that crashes here takes every backend down, this flush with them)
my $flushed = eval { psql(q{SELECT hubspot_flush('30 s')}) };
is($flushed, '0', 'failed record: settled');
worker_alive('failed record');
my $bad_write = psql(q{SELECT id FROM hubspot_queue WHERE object_type = 'contacts' AND record_key = 'badwrite@example.com'});
is(psql(qq{SELECT state FROM hubspot_queue WHERE id = $bad_write}), 'failed', 'failed record: the contact\'s write failed');
is(assoc_field('badwrite@example.com', q{state || ' ' || (error->>'side') || ' ' || (error->>'category')}),
	'failed from RECORD_WRITE_FAILED', 'failed record: its link failed, naming the from side');
my $bad_msg = assoc_field('badwrite@example.com', q{error->>'message'});
like($bad_msg, qr/^from side \(contacts with email = "badwrite\@example\.com"\): /,
	'failed record: the message names the side as the user gave it');
like($bad_msg, qr/queue row $bad_write\b.*failed.*not a number/, 'failed record: and the failed write, with HubSpot\'s message');
is(assoc_field('goodwrite@example.com', 'state'), 'done', 'failed record: the other link of the transaction is done');
is(link_types('goodwrite@example.com', 'fail.example'), '279', 'failed record: HubSpot holds the other link');
ok(!grep({ my $r = $_; grep { ($_->{from}{id} // '') !~ /^\d+$/ } @{ $r->{body}{inputs} || [] } } @{ assoc_calls() }),
	'failed record: no association call carried an unresolved side');
is(scalar(@{ assoc_calls() }), 1, 'failed record: one association call, for the good link only');

# ------------------------------------------------------------------ 4. a missing record
# Three links to companies nobody wrote through the queue: one is created
# in HubSpot directly 4 s later (search finds it on a later try), two never
# exist (they fail after 6 tries, held 3 s apart).
section('a missing record: search waits, then fails');
psql(q{BEGIN;
	INSERT INTO hubspot_contacts (email, firstname) VALUES ('miss@example.com', 'Mi');
	} . enqueue_sql('associate', link_json('miss@example.com', 'late.example'),
		link_json('miss@example.com', 'nowhere1.example'), link_json('miss@example.com', 'nowhere2.example')) . q{
	COMMIT;});
my $t_miss = time;
sleep 4;
my ($st) = $sim->api('POST', '/crm/v3/objects/companies', { properties => { domain => 'late.example', name => 'Late' } });
is($st, 201, 'missing: the late company created in HubSpot directly');
ok(HubSpotTest::wait_for(sub {
		psql(q{SELECT count(*) } . assoc_rows_sql('miss@example.com') . q{ AND state IN ('pending', 'sending')}) eq '0' }, 40),
	'missing: every link settled');
my $t_settled = time - $t_miss;
my $late_row = psql(q{SELECT state || ' ' || attempts } . assoc_rows_sql('miss@example.com') . q{ AND record_key LIKE '%late.example%'});
like($late_row, qr/^done ([2-6])$/, 'missing: the late company was found by a later try, the link is done');
is(link_types('miss@example.com', 'late.example'), '279', 'missing: HubSpot holds the late link');
for my $d ('nowhere1.example', 'nowhere2.example')
{
	is(psql(q{SELECT state || ' ' || attempts || ' ' || (error->>'category') || ' ' || (error->>'side') }
			. assoc_rows_sql('miss@example.com') . qq{ AND record_key LIKE '%$d%'}),
		'failed 6 OBJECT_NOT_FOUND to', "missing: $d: failed after 6 tries, OBJECT_NOT_FOUND, side to");
}
like(psql(q{SELECT error->>'message' } . assoc_rows_sql('miss@example.com') . q{ AND record_key LIKE '%nowhere1%'}),
	qr/^to side \(companies with domain = "nowhere1\.example"\): no live record/,
	'missing: the message names the to side');
{
	# the searches: one per try, 3 s (HS_ASSOC_HOLD) apart
	my @s = sort { $a->{t_start} <=> $b->{t_start} } @{ $sim->requests(path => 'companies/search') };
	my @nowhere = grep { (join ',', @{ $_->{body}{filterGroups}[0]{filters}[0]{values} || [] }) =~ /nowhere1/ } @s;
	is(scalar @nowhere, 6, 'missing: searched 6 times for the missing domain');
	my $min;
	for my $i (1 .. $#nowhere)
	{
		my $g = $nowhere[$i]{t_start} - $nowhere[ $i - 1 ]{t_end};
		$min = $g if !defined $min || $g < $min;
	}
	ok(defined $min && $min >= 3 - 0.5, 'missing: the tries were held about 3 s apart')
	  or diag('smallest gap between tries: ' . ($min // 'none'));
	is(scalar(grep { $_->{status} != 200 } @s), 0, 'missing: every search was answered 200');
	cmp_ok($t_settled, '<', 35, 'missing: settled within the waits');
}

# ------------------------------------------------------------------ 7. retry / discard (of the failed rows above)
section('hubspot_retry and hubspot_discard on failed links');
{
	my $n1 = psql(q{SELECT id } . assoc_rows_sql('miss@example.com') . q{ AND record_key LIKE '%nowhere1%'});
	my $n2 = psql(q{SELECT id } . assoc_rows_sql('miss@example.com') . q{ AND record_key LIKE '%nowhere2%'});
	my ($s2) = $sim->api('POST', '/crm/v3/objects/companies', { properties => { domain => 'nowhere1.example' } });
	is($s2, 201, 'retry: the missing company now exists');
	is(psql(qq{SELECT hubspot_retry(ARRAY[$n1])}), '1', 'retry: one failed link back to pending');
	is(psql(qq{SELECT hubspot_discard(ARRAY[$n2])}), '1', 'discard: one failed link discarded');
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'retry: settled');
	is(psql(qq{SELECT state FROM hubspot_queue WHERE id = $n1}), 'done', 'retry: the retried link is done');
	is(link_types('miss@example.com', 'nowhere1.example'), '279', 'retry: HubSpot holds it');
	is(psql(qq{SELECT state FROM hubspot_queue WHERE id = $n2}), 'discarded', 'discard: the row is discarded');
	ok(!grep({ ($_->{body}{filterGroups}[0]{filters}[0]{values}[0] // '') =~ /nowhere2/ } @{ $sim->requests(path => '/search') }),
		'discard: a discarded link is not looked up again');

	# the link whose record's write failed: fix the write, retry both
	my $a3 = assoc_field('badwrite@example.com', 'id');
	is(psql(qq{SELECT hubspot_retry(ARRAY[$bad_write], '{"lifetime_value": 7}')}), '1', 'retry: the failed contact write, fixed');
	is(psql(qq{SELECT hubspot_retry(ARRAY[$a3])}), '1', 'retry: and its link');
	is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'retry: settled again');
	is(psql(qq{SELECT state FROM hubspot_queue WHERE id = $a3}), 'done',
		'retry: the link is done once its record\'s write is done');
	is(link_types('badwrite@example.com', 'fail.example'), '279', 'retry: HubSpot holds that link');
}

# ------------------------------------------------------------------ 5. labels
section('labels: a labelled link keeps the pair\'s other labels');
psql(q{BEGIN;
	INSERT INTO hubspot_companies (domain, name) VALUES ('label.example', 'Label Co');
	INSERT INTO hubspot_contacts (email, firstname) VALUES ('label@example.com', 'La');
	COMMIT;});
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: records written');
my $defs = $sim->define_association_label('contacts', 'companies', { label => 'Manager', name => 'manager' });
my ($mgr) = map { $_->{typeId} } grep { ($_->{label} // '') eq 'Manager' } @$defs;
like($mgr, qr/^\d+$/, 'labels: "Manager" defined in HubSpot');
psql(enqueue_sql('associate', link_json('label@example.com', 'label.example', 'Manager')));
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: Manager link settled');
is(link_types('label@example.com', 'label.example'), "279,$mgr", 'labels: the pair has 279 and Manager');
psql(enqueue_sql('associate', link_json('label@example.com', 'label.example', 'HUBSPOT_DEFINED:1')));
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: Primary link settled');
is(link_types('label@example.com', 'label.example'), "1,279,$mgr", 'labels: the pair has 279, Manager and Primary');
{
	my ($create) = grep { $_->{path} =~ m{batch/create$} } reverse @{ assoc_calls() };
	my @sent = $create ? sort { $a <=> $b } map { $_->{associationTypeId} } @{ $create->{body}{inputs}[0]{types} || [] } : ();
	ok(scalar(grep { $_ == $mgr } @sent) && scalar(grep { $_ == 1 } @sent),
		'labels: the Primary call sent the present Manager type along')
	  or diag("sent types: @sent");
}
psql(enqueue_sql('dissociate', link_json('label@example.com', 'label.example', 'Manager')));
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: dissociate Manager settled');
is(assoc_field('label@example.com', 'state'), 'done,done,done', 'labels: every label row done');
is(link_types('label@example.com', 'label.example'), '1,279', 'labels: dissociating Manager removed only it');
psql(enqueue_sql('dissociate', link_json('label@example.com', 'label.example')));
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: dissociate all settled');
is(link_types('label@example.com', 'label.example'), '', 'labels: dissociating without a label removed every type');
is(assoc_field('label@example.com', 'operation || \':\' || state'),
	'associate:done,associate:done,dissociate:done,dissociate:done', 'labels: four rows, all done');
# an unknown label name fails with the label named
psql(enqueue_sql('associate', link_json('label@example.com', 'label.example', 'NoSuchLabel')));
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'labels: unknown label settled');
like(psql(q{SELECT state || ' ' || (error->>'category') || ' ' || (error->>'message') } . assoc_rows_sql('label@example.com')
		. q{ AND properties->>'label' = 'NoSuchLabel'}),
	qr/^failed UNKNOWN_LABEL .*NoSuchLabel/, 'labels: an unknown label name fails, naming it');

# ------------------------------------------------------------------ 6. the foreign table
section('association foreign table');
psql(q{BEGIN;
	INSERT INTO hubspot_companies (domain, name) VALUES ('ft1.example', 'FT1'), ('ft2.example', 'FT2');
	INSERT INTO hubspot_contacts (email, firstname) VALUES ('ft@example.com', 'Ft');
	INSERT INTO contact_company VALUES ('ft@example.com', 'ft1.example', NULL), ('ft@example.com', 'ft2.example', 'Manager');
	COMMIT;});
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'table: settled');
is(assoc_field('ft@example.com', 'operation || \':\' || state'), 'associate:done,associate:done',
	'table: INSERT queued two associate rows, done');
is(link_types('ft@example.com', 'ft1.example'), '279', 'table: HubSpot holds the unlabelled link');
is(link_types('ft@example.com', 'ft2.example'), "279,$mgr", 'table: and the Manager link');
is(psql(q{SELECT contact_email || '|' || company_domain || '|' || coalesce(label, '') FROM contact_company
		WHERE contact_email = 'ft@example.com' AND label IS NOT NULL ORDER BY company_domain, label}),
	'ft@example.com|ft2.example|Manager', 'table: SELECT shows the labelled link with both keys');
is(psql(q{SELECT string_agg(contact_email || '|' || company_domain || '|' || coalesce(label, 'NULL'), ' ; '
		ORDER BY company_domain, label) FROM contact_company WHERE contact_email = 'ft@example.com'}),
	'ft@example.com|ft1.example|NULL ; ft@example.com|ft2.example|Manager ; ft@example.com|ft2.example|NULL',
	'table: SELECT shows one row per type of each pair (NULL = unlabelled)');
is(psql(q{SELECT string_agg(DISTINCT company_domain, ',' ORDER BY company_domain) FROM contact_company
		WHERE contact_email = 'ft@example.com'}),
	'ft1.example,ft2.example', 'table: SELECT shows both linked companies');
is(psql(q{DELETE FROM contact_company WHERE contact_email = 'ft@example.com' AND label = 'Manager'}), '',
	'table: DELETE WHERE label = Manager');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'table: DELETE settled');
is(assoc_field('ft@example.com', q{operation || ':' || state || ':' || coalesce(properties->>'label', '')}),
	'associate:done:,associate:done:Manager,dissociate:done:Manager', 'table: one dissociate row, with the label');
is(link_types('ft@example.com', 'ft2.example'), '279', 'table: only the Manager label was removed');
is(link_types('ft@example.com', 'ft1.example'), '279', 'table: the other link is untouched');
is(psql(q{SELECT count(*) FROM contact_company WHERE contact_email = 'ft@example.com' AND label = 'Manager'}), '0',
	'table: SELECT no longer shows the label');
# every row of the contact at once: the pair with Manager gets both a
# dissociate of everything and one of Manager
psql(q{INSERT INTO contact_company VALUES ('ft@example.com', 'ft2.example', 'Manager')});
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'table: Manager linked again');
is(link_types('ft@example.com', 'ft2.example'), "279,$mgr", 'table: the pair has Manager again');
is(psql(q{DELETE FROM contact_company WHERE contact_email = 'ft@example.com'}), '', 'table: DELETE every link of the contact');
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'table: that DELETE settled');
is(psql(q{SELECT string_agg(coalesce(properties->>'label', 'NULL') || ':' || state || coalesce(' ' || (error->>'message'), ''), ', ' ORDER BY id) }
		. assoc_rows_sql('ft@example.com') . q{ AND operation = 'dissociate' AND id > (SELECT max(id) } . assoc_rows_sql('ft@example.com')
		. q{ AND operation = 'associate')}),
	'NULL:done, NULL:done, Manager:done', 'table: three dissociate rows, all done');
is(links_of('ft@example.com'), '', 'table: the contact has no link left');
my ($rc, $out, $err) = $node->psql('postgres',
	q{UPDATE contact_company SET label = 'Manager' WHERE contact_email = 'ft@example.com'});
isnt($rc, 0, 'table: UPDATE is refused');
like($err, qr/ERROR/, 'table: with an error') or diag($err);

# ------------------------------------------------------------------ 8. another role's writes
# A link takes its sides from its own role's earlier writes only: another
# role's failed write of the same contact neither fails it nor shows it
# that role's values or errors.
section('another role');
psql(q{SELECT count(*) FROM hubspot_batch_upsert('contacts',
		'[{"id": "shared@example.com", "idProperty": "email", "properties": {"firstname": "S"}}]')});
my $shared_co = psql(q{SELECT r->>'id' FROM hubspot_batch_create('companies',
		'[{"properties": {"domain": "shared.example"}}]') r});
psql(q{CREATE ROLE alice LOGIN;
	GRANT USAGE ON FOREIGN SERVER hubspot TO alice;
	CREATE USER MAPPING FOR alice SERVER hubspot OPTIONS (access_token 'pat-test');});
psql(q{SELECT hubspot_enqueue('upsert', 'contacts',
		'[{"id": "shared@example.com", "idProperty": "email", "properties": {"lifetime_value": "SECRET-OF-POSTGRES"}}]')});
is(psql(q{SELECT hubspot_flush('30 s')}), '0', 'roles: postgres\'s write settled');
is(psql(q{SELECT state FROM hubspot_queue WHERE record_key = 'shared@example.com' ORDER BY id DESC LIMIT 1}),
	'failed', 'roles: postgres\'s write of the contact failed');
$node->safe_psql('postgres', qq{SET ROLE alice;
	SELECT hubspot_enqueue('associate', 'contacts/companies',
		'[{"from": {"id": "shared\@example.com", "idProperty": "email"}, "to": {"id": "$shared_co"}}]');});
is($node->safe_psql('postgres', q{SET ROLE alice; SELECT hubspot_flush('30 s')}), '0', 'roles: alice\'s link settled');
is($node->safe_psql('postgres', q{SET ROLE alice;
	SELECT state || coalesce(' ' || (error->>'message'), '') FROM hubspot_queue WHERE object_type = 'contacts/companies'}),
	'done', 'roles: alice\'s link is done, untouched by postgres\'s failed write');
is(links_of('shared@example.com'), "$shared_co:279", 'roles: HubSpot holds alice\'s link');

worker_alive('end');
diag(sprintf('080_associations: %.1f s', time - $t_file));
done_testing();
