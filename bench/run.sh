#!/bin/bash
# hubspot_fdw benchmarks (issues 3, 4 and 5).  Run as root:
#
#     bench/run.sh [drain] [writer] [latency] [memory] [ratelimit] [trigger] [sharedtoken] [reads] [assoc]
#
# (no argument: all six, in that order).  Assumes the extension is built and installed
# (make install) for PostgreSQL 15, and gcc, libcurl headers, python3, bc and column (perf
# for PERF=1) are present.
# Starts its own throwaway cluster (/tmp/hsbench, port 55432, socket in /tmp/hsbench, owned
# by 'postgres') and one HubSpot simulator (test/hubspot_sim.py, pinned to CPU 1), runs the
# benchmarks, prints a results table, stops everything it started.  Logs and raw outputs stay
# in /tmp/hsbench (removed at the start of the next run).
#
# Sizes can be changed through the environment:
#   DRAIN_ROWS=100000 WRITER_ROWS=100000 WRITER_REPS=7 LAT_RUNS=1000 LAT_AFTER_RUNS=300
#   MEM_ROWS=1000000
#   RL_ROWS=20000 RL_BATCH=10 TRIG_ROWS=100000 TRIG_REPS=5 SIM_CPU=1
#   AS_LINKS=10000 AS_COMPANIES=2000
# PERF=1 also records the worker with perf during one drain and prints where its time goes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin
B=/tmp/hsbench
PORT=55432
PY=/usr/bin/python3
export LANG=C.UTF-8 LC_ALL=C.UTF-8

DRAIN_ROWS=${DRAIN_ROWS:-100000}
WRITER_ROWS=${WRITER_ROWS:-100000}
WRITER_REPS=${WRITER_REPS:-7}
LAT_RUNS=${LAT_RUNS:-1000}
LAT_AFTER_RUNS=${LAT_AFTER_RUNS:-300}
MEM_ROWS=${MEM_ROWS:-1000000}
RL_ROWS=${RL_ROWS:-20000}
RL_BATCH=${RL_BATCH:-10}
TRIG_ROWS=${TRIG_ROWS:-100000}
TRIG_REPS=${TRIG_REPS:-5}
SIM_CPU=${SIM_CPU:-1}

ALL="drain writer latency memory ratelimit trigger sharedtoken reads assoc"
WHAT=${*:-$ALL}
for w in $WHAT; do
	case " $ALL " in *" $w "*) ;; *) echo "unknown benchmark: $w (one of: $ALL)" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (initdb and the simulator run as 'postgres')" >&2; exit 2; }
# what is measured: the commit checked out and the library the cluster will load
GIT_START=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
SO=$("$PG_BIN/pg_config" --pkglibdir)/hubspot_fdw.so
SO_TIME=$(date -u -r "$SO" '+%H:%M:%S UTC' 2>/dev/null || echo '?')

as_pg() {
	runuser -u postgres -- env -i HOME=/var/lib/postgresql LANG=C.UTF-8 LC_ALL=C.UTF-8 \
		PATH=$PG_BIN:/usr/bin:/bin "$@"
}
# psql as the superuser postgres over the socket; -At output, stop on the first error
q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$B" -p "$PORT" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
calc() { echo "scale=6; $*" | bc -l; }
fmt() { printf "%.${1}f" "$2"; }
kv() { grep -m1 "^$2=" "$1" | cut -d= -f2-; }  # kv FILE KEY
note() { echo "== $*"; }

# ------------------------------------------------------------------ start / stop
SIM_PID=
stop_all() {
	set +e
	if [ -f "$B/data/postmaster.pid" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$B/data" -m fast -w stop >/dev/null 2>&1
	fi
	if [ -n "$SIM_PID" ]; then
		pkill -TERM -P "$SIM_PID" 2>/dev/null   # the python child of our runuser
		kill "$SIM_PID" 2>/dev/null
		wait "$SIM_PID" 2>/dev/null
		SIM_PID=
	fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# leftovers of an earlier run of this script (only ours: the cluster in $B, the simulator whose
# pid we wrote down)
if [ -f "$B/data/postmaster.pid" ]; then
	as_pg "$PG_BIN/pg_ctl" -D "$B/data" -m fast -w stop >/dev/null 2>&1 || true
fi
if [ -f "$B/sim.pid" ]; then
	old=$(cat "$B/sim.pid")
	if grep -q "hubspot_sim.py" "/proc/$old/cmdline" 2>/dev/null; then
		pkill -TERM -P "$old" 2>/dev/null || true; kill "$old" 2>/dev/null || true; sleep 0.5
	fi
fi
rm -rf "$B"
mkdir -p "$B"
cp "$ROOT/test/hubspot_sim.py" "$ROOT/test/simctl.py" "$HERE/simwait.py" "$HERE/latency.py" \
	"$HERE/ratelimit.py" "$HERE/rounds.py" "$HERE/seed.py" "$B/"
gcc -O2 -Wall -o "$B/curl_sink" "$HERE/curl_sink.c" -lcurl
chown -R postgres:postgres "$B"

note "cluster in $B/data, port $PORT"
as_pg "$PG_BIN/initdb" -N -A trust -U postgres -D "$B/data" >/dev/null
cat >> "$B/data/postgresql.conf" <<CONF
shared_preload_libraries = 'hubspot_fdw'
listen_addresses = ''
unix_socket_directories = '$B'
port = $PORT
max_worker_processes = 16
hubspot_fdw.naptime = 1000
log_autovacuum_min_duration = 0
CONF
as_pg "$PG_BIN/pg_ctl" -D "$B/data" -l "$B/postgres.log" -w start >/dev/null

note "simulator pinned to CPU $SIM_CPU"
runuser -u postgres -- "$PY" "$B/hubspot_sim.py" --host 127.0.0.1 --port 0 \
	--port-file "$B/sim.port" --cpu "$SIM_CPU" >"$B/sim.log" 2>&1 &
SIM_PID=$!
echo "$SIM_PID" > "$B/sim.pid"
for _ in $(seq 100); do [ -s "$B/sim.port" ] && break; sleep 0.1; done
[ -s "$B/sim.port" ] || { echo "simulator did not start:"; cat "$B/sim.log"; exit 1; }
SIM=http://127.0.0.1:$(cat "$B/sim.port")
sim() { "$PY" "$B/simctl.py" --url "$SIM" "$@" >/dev/null; }
sim_sink() { sim reset; sim config '{"mode": "sink", "record_bodies": false}'; }

worker_pid() {
	q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'hubspot_fdw worker' AND datname = 'postgres'"
}
worker_enabled() {  # on|off
	q -c "ALTER SYSTEM SET hubspot_fdw.enabled = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}

q <<SQL
CREATE EXTENSION hubspot_fdw;
CREATE SERVER hubspot FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url '$SIM', rate_limit '100000', max_concurrency '4');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot OPTIONS (access_token 'pat-test');
CREATE FOREIGN TABLE contacts (email text, firstname text, lastname text)
	SERVER hubspot OPTIONS (object_type 'contacts', id_property 'email');
SQL
for _ in $(seq 50); do [ -n "$(worker_pid)" ] && break; sleep 0.1; done
[ -n "$(worker_pid)" ] || { echo "no hubspot_fdw worker"; tail "$B/postgres.log"; exit 1; }

RES=$B/results.tsv
printf '#\tbenchmark\tmeasured\treference / goal\tverdict\n' > "$RES"
res() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RES"; }
ratio_verdict() {  # value <= limit ?
	if [ "$(echo "$1 <= $2" | bc -l)" = 1 ]; then echo "met"; else echo "MISSED"; fi
}

# The INSERT used by benchmarks 1, 2 and 4: contacts keyed by email, two more text columns.
gen_insert() {  # table rows prefix
	echo "INSERT INTO $1 (email, firstname, lastname)
	      SELECT '$3' || g || '@example.com', 'First' || g, 'Last' || g
	        FROM generate_series(1, $2) g;"
}

# ------------------------------------------------------------------ 1. drain rate
bench_drain() {
	note "1. drain rate: $DRAIN_ROWS rows, sink mode, record_bodies off"
	local c
	for c in 4 8; do
		q -c "ALTER SERVER hubspot OPTIONS (SET max_concurrency '$c')"
		# a) as the issue says: commit, then SELECT hubspot_flush('600 s') in the same session
		q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
		sim_sink
		q > "$B/drain_flush_$c.out" <<SQL
BEGIN;
$(gen_insert contacts "$DRAIN_ROWS" "d$c.")
COMMIT;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT hubspot_flush('600 s') AS left \gset
SELECT 't0=' || :t0, 't1=' || extract(epoch FROM clock_timestamp()), 'left=' || :left;
SQL
		"$PY" "$B/simwait.py" "$SIM" "$DRAIN_ROWS" --timeout 5 > "$B/drain_flush_$c.sim" || true
		local t0 t1 left
		t0=$(tr '|' '\n' < "$B/drain_flush_$c.out" | kv /dev/stdin t0)
		t1=$(tr '|' '\n' < "$B/drain_flush_$c.out" | kv /dev/stdin t1)
		left=$(tr '|' '\n' < "$B/drain_flush_$c.out" | kv /dev/stdin left)
		eval "DR_FLUSH_$c=$(calc "$DRAIN_ROWS / ($t1 - $t0)")"
		eval "DR_FLUSH_LEFT_$c=$left"
		eval "DR_FLUSH_MIF_$c=$(kv "$B/drain_flush_$c.sim" max_in_flight)"
		# b) the same, but the end is seen by polling the simulator (no hubspot_flush loop
		#    competing for the CPU): commit -> the simulator's last answer
		q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
		sim_sink
		q > "$B/drain_sim_$c.out" <<SQL
BEGIN;
$(gen_insert contacts "$DRAIN_ROWS" "e$c.")
COMMIT;
SELECT 't0=' || extract(epoch FROM clock_timestamp());
SQL
		"$PY" "$B/simwait.py" "$SIM" "$DRAIN_ROWS" --poll 0.05 --timeout 600 > "$B/drain_sim_$c.sim"
		"$PY" "$B/rounds.py" "$SIM" > "$B/drain_rounds_$c.out"
		eval "DR_BURST_$c='$(kv "$B/drain_rounds_$c.out" in_bursts_pct)% of the time calls in flight: $(kv "$B/drain_rounds_$c.out" bursts) bursts of $(kv "$B/drain_rounds_$c.out" calls_per_burst) calls, $(kv "$B/drain_rounds_$c.out" mean_burst_ms) ms each; $(kv "$B/drain_rounds_$c.out" mean_gap_ms) ms idle between'"
		left=$(q -c "SELECT hubspot_flush('60 s')")
		t0=$(kv "$B/drain_sim_$c.out" t0)
		t1=$(kv "$B/drain_sim_$c.sim" last_t)
		eval "DR_SIM_$c=$(calc "$DRAIN_ROWS / ($t1 - $t0)")"
		eval "DR_SIM_LEFT_$c=$left"
		eval "DR_SIM_MIF_$c=$(kv "$B/drain_sim_$c.sim" max_in_flight)"
		# c) the floor: the same bodies from curl_sink, c connections in flight
		sim_sink
		"$B/curl_sink" "$SIM/crm/v3/objects/contacts/batch/upsert" "$DRAIN_ROWS" 100 "$c" \
			> "$B/curl_sink_$c.out"
		eval "DR_CURL_$c=$(kv <(tr ' ' '\n' < "$B/curl_sink_$c.out") rows_per_s)"
		echo "   max_concurrency $c: flush $(fmt 0 "$(eval echo \$DR_FLUSH_$c)") rows/s," \
			"sim-polled $(fmt 0 "$(eval echo \$DR_SIM_$c)") rows/s, curl_sink $(eval echo \$DR_CURL_$c) rows/s"
	done
	q -c "ALTER SERVER hubspot OPTIONS (SET max_concurrency '4')"
	if [ -n "${PERF:-}" ] && command -v perf >/dev/null; then
		# one more drain (not counted) with the worker under perf: which of its functions
		# (inclusive time) the drain goes to
		q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
		sim_sink
		perf record -q -g -p "$(worker_pid)" -o "$B/perf_worker.data" 2>/dev/null &
		local perf_pid=$!
		sleep 0.5
		q -c "$(gen_insert contacts "$DRAIN_ROWS" "p.")"
		"$PY" "$B/simwait.py" "$SIM" "$DRAIN_ROWS" --timeout 600 > /dev/null
		q -c "SELECT hubspot_flush('60 s')" > /dev/null
		kill -INT "$perf_pid"; wait "$perf_pid" || true
		perf report -i "$B/perf_worker.data" --no-children --sort dso -g none 2>/dev/null |
			grep '%' | head -6 > "$B/perf_worker_dso.txt" || true
		perf report -i "$B/perf_worker.data" --children --sort sym -g none 2>/dev/null |
			grep '%' | grep -E ' (hs_|worker_round|jsonb_in|CommitTransactionCommand)' |
			head -16 > "$B/perf_worker_fn.txt" || true
		echo "   perf, worker during one more drain, by object:"; sed 's/^/     /' "$B/perf_worker_dso.txt"
		echo "   by function (inclusive):"; sed 's/^/     /' "$B/perf_worker_fn.txt"
	fi
	for c in 4 8; do
		local f s k
		f=$(eval echo \$DR_FLUSH_$c); s=$(eval echo \$DR_SIM_$c); k=$(eval echo \$DR_CURL_$c)
		res 1 "drain, max_concurrency $c, commit -> hubspot_flush returns (left $(eval echo \$DR_FLUSH_LEFT_$c), max in flight $(eval echo \$DR_FLUSH_MIF_$c))" \
			"$(fmt 0 "$f") rows/s" "curl_sink $c conn: $k rows/s" "$(fmt 1 "$(calc "100 * $f / $k")")% of curl"
		res 1 "drain, max_concurrency $c, commit -> last call answered (no flush polling; left $(eval echo \$DR_SIM_LEFT_$c))" \
			"$(fmt 0 "$s") rows/s" "curl_sink $c conn: $k rows/s" "$(fmt 1 "$(calc "100 * $s / $k")")% of curl"
		res 1 "  where the time goes (simulator's log, run above)" "$(eval echo \$DR_BURST_$c)" "" ""
	done
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
}

# ------------------------------------------------------------------ 2. writer overhead
bench_writer() {
	note "2. writer overhead: $WRITER_ROWS-row INSERT, foreign vs local, $WRITER_REPS reps (worker off)"
	worker_enabled off
	q <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS local_contacts, local_queue;
CREATE TABLE local_contacts (email text, properties jsonb);
-- for information: a plain table shaped and indexed like the queue, filled by plain SQL
CREATE TABLE local_queue (LIKE hubspot_queue_data INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
SQL
	local srv
	srv=$(q -c "SELECT oid FROM pg_foreign_server WHERE srvname = 'hubspot'")
	{
		echo "SET client_min_messages = warning;"
		for r in $(seq 0 "$WRITER_REPS"); do   # rep 0: warm-up, not counted
			for v in foreign local queue_like; do
				echo "TRUNCATE hubspot_queue_data, hubspot_queue_pack, local_contacts, local_queue; CHECKPOINT;"
				echo "SELECT clock_timestamp() AS t0 \\gset"
				case $v in
					foreign) gen_insert contacts "$WRITER_ROWS" "w$r." ;;
					local) echo "INSERT INTO local_contacts (email, properties)
						SELECT 'w$r.' || g || '@example.com',
						       jsonb_build_object('email', 'w$r.' || g || '@example.com',
						                          'firstname', 'First' || g, 'lastname', 'Last' || g)
						  FROM generate_series(1, $WRITER_ROWS) g;" ;;
					queue_like) echo "INSERT INTO local_queue (owner, server_id, object_type, operation,
						                         id_property, record_key, properties)
						SELECT 10, $srv, 'contacts', 'upsert', 'email', 'w$r.' || g || '@example.com',
						       jsonb_build_object('email', 'w$r.' || g || '@example.com',
						                          'firstname', 'First' || g, 'lastname', 'Last' || g)
						  FROM generate_series(1, $WRITER_ROWS) g;" ;;
				esac
				echo "SELECT 'RESULT $([ "$r" = 0 ] && echo warmup_)$v ' || extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1e6 / $WRITER_ROWS;"
			done
		done
	} > "$B/writer.sql"
	q -f "$B/writer.sql" > "$B/writer.out"
	local v
	for v in foreign local queue_like; do
		eval "WR_$v=$(grep "^RESULT $v " "$B/writer.out" | awk '{print $3}' | sort -g |
			awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
		eval "WRMIN_$v=$(grep "^RESULT $v " "$B/writer.out" | awk '{print $3}' | sort -g | head -1)"
		echo "   $v: $(grep "^RESULT $v " "$B/writer.out" | awk '{printf "%.2f ", $3}')µs/row"
	done
	local ratio
	ratio=$(calc "$WR_foreign / $WR_local")
	res 2 "INSERT $WRITER_ROWS rows into the foreign table (median of $WRITER_REPS, µs/row)" \
		"$(fmt 2 "$WR_foreign") µs/row" "local table (text, jsonb): $(fmt 2 "$WR_local") µs/row" \
		"ratio $(fmt 2 "$ratio")x (goal <= 1.5x): $(ratio_verdict "$ratio" 1.5)"
	res 2 "  the same from the fastest of the $WRITER_REPS runs (less sensitive to other load on the machine)" \
		"$(fmt 2 "$WRMIN_foreign") µs/row" "local table: $(fmt 2 "$WRMIN_local") µs/row" \
		"ratio $(fmt 2 "$(calc "$WRMIN_foreign / $WRMIN_local")")x"
	res 2 "  for information: plain INSERT into a copy of the queue table (same columns, 3 indexes)" \
		"$(fmt 2 "$WR_queue_like") µs/row" "foreign table: $(fmt 2 "$WR_foreign") µs/row" \
		"ratio to local $(fmt 2 "$(calc "$WR_queue_like / $WR_local")")x"
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack" -c "DROP TABLE local_contacts, local_queue"
	worker_enabled on
}

# ------------------------------------------------------------------ 3. latency
bench_latency() {
	note "3. latency: $LAT_RUNS single-row INSERT+COMMIT -> stored (normal mode)"
	sim reset
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack" -c "VACUUM ANALYZE hubspot_queue_data"
	"$PY" "$B/latency.py" --sim "$SIM" --runs "$LAT_RUNS" --warmup 20 --table contacts -- \
		"$PG_BIN/psql" -h "$B" -p "$PORT" -U postgres -d postgres > "$B/latency.out"
	sed 's/^/   /' "$B/latency.out"
	local p50 p99
	p50=$(kv "$B/latency.out" commit_p50_ms); p99=$(kv "$B/latency.out" commit_p99_ms)
	res 3 "commit -> stored, p50 ($(kv "$B/latency.out" runs) runs, missing $(kv "$B/latency.out" missing))" \
		"$p50 ms" "goal <= 20 ms" "$(ratio_verdict "$p50" 20)"
	res 3 "commit -> stored, p99 (max $(kv "$B/latency.out" commit_max_ms) ms)" \
		"$p99 ms" "goal <= 100 ms" "$(ratio_verdict "$p99" 100)"
	res 3 "  INSERT sent -> stored (upper bound, includes the INSERT and commit), p50 / p99" \
		"$(kv "$B/latency.out" stmt_p50_ms) / $(kv "$B/latency.out" stmt_p99_ms) ms" "" ""
	res 3 "  split: commit -> call reaches simulator p50/p99; simulator time p50/p99" \
		"$(kv "$B/latency.out" pickup_p50_ms)/$(kv "$B/latency.out" pickup_p99_ms); $(kv "$B/latency.out" sim_p50_ms)/$(kv "$B/latency.out" sim_p99_ms) ms" "" ""
	# for information: the same right after a bulk load was drained (the settled rows are still
	# in the queue table and its indexes; autovacuum may or may not have run yet)
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
	sim_sink
	q -c "$(gen_insert contacts "$DRAIN_ROWS" "b.")"
	q -c "SELECT hubspot_flush('600 s')" > /dev/null
	sim reset
	"$PY" "$B/latency.py" --sim "$SIM" --runs "$LAT_AFTER_RUNS" --warmup 0 --table contacts --tag after -- \
		"$PG_BIN/psql" -h "$B" -p "$PORT" -U postgres -d postgres > "$B/latency_after.out"
	echo "   right after a $DRAIN_ROWS-row drain:"
	sed 's/^/   /' "$B/latency_after.out"
	res 3 "  for information: p50 / p99 of $LAT_AFTER_RUNS runs right after a $DRAIN_ROWS-row drain (queue not vacuumed)" \
		"$(kv "$B/latency_after.out" commit_p50_ms) / $(kv "$B/latency_after.out" commit_p99_ms) ms" \
		"goal <= 20 / 100 ms" "$(ratio_verdict "$(kv "$B/latency_after.out" commit_p50_ms)" 20)/$(ratio_verdict "$(kv "$B/latency_after.out" commit_p99_ms)" 100)"
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
}

# ------------------------------------------------------------------ 4. worker memory
bench_memory() {
	note "4. worker memory: $MEM_ROWS-row backlog, sink mode"
	worker_enabled off
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
	local t0 t1 wp
	t0=$(now)
	q -c "$(gen_insert contacts "$MEM_ROWS" "m.")"
	t1=$(now)
	MEM_INSERT_S=$(calc "$t1 - $t0")
	echo "   backlog of $MEM_ROWS rows queued in $(fmt 1 "$MEM_INSERT_S") s"
	wp=$(worker_pid)
	local idle_rss idle_anon
	idle_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$wp/status")
	idle_anon=$(awk '/^RssAnon/ {print $2}' "/proc/$wp/status")
	sim_sink
	t0=$(now)
	worker_enabled on
	"$PY" "$B/simwait.py" "$SIM" "$MEM_ROWS" --pid "$wp" --interval 0.2 --poll 0.25 \
		--timeout 900 > "$B/memory.sim" || true
	local left
	left=$(q -c "SELECT hubspot_flush('120 s')")
	t1=$(kv "$B/memory.sim" last_t)
	[ "$(worker_pid)" = "$wp" ] || echo "   WARNING: the worker pid changed during the drain ($wp -> $(worker_pid))"
	sed 's/^/   /' "$B/memory.sim"
	"$PY" "$B/rounds.py" "$SIM" > "$B/memory_rounds.out"
	sed 's/^/   /' "$B/memory_rounds.out"
	local rate
	rate=$(calc "$MEM_ROWS / ($t1 - $t0)")
	res 4 "worker VmRSS over the drain of $MEM_ROWS rows (min / max; $(kv "$B/memory.sim" rss_samples) samples)" \
		"$(( $(kv "$B/memory.sim" rss_min_kb) / 1024 )) / $(( $(kv "$B/memory.sim" rss_max_kb) / 1024 )) MB" \
		"idle, just before: $(( idle_rss / 1024 )) MB" "bounded (see RssAnon)"
	res 4 "  private memory (RssAnon min / max) and shared buffers touched (RssShmem max)" \
		"$(( $(kv "$B/memory.sim" anon_min_kb) / 1024 )) / $(( $(kv "$B/memory.sim" anon_max_kb) / 1024 )) MB; shmem $(( $(kv "$B/memory.sim" shmem_max_kb) / 1024 )) MB" \
		"idle, just before: RssAnon $(( idle_anon / 1024 )) MB; shared_buffers 128 MB" ""
	res 4 "  drain rate of the $MEM_ROWS-row backlog (enable -> last call answered; left $left)" \
		"$(fmt 0 "$rate") rows/s, $(fmt 0 "$(calc "$t1 - $t0")") s" \
		"queued in $(fmt 1 "$MEM_INSERT_S") s" ""
	res 4 "  drain rate over the first / last tenth of the calls; share of time with calls in flight" \
		"$(kv "$B/memory_rounds.out" rate_first_tenth) / $(kv "$B/memory_rounds.out" rate_last_tenth) rows/s; $(kv "$B/memory_rounds.out" in_bursts_pct)%" \
		"mean idle gap between bursts $(kv "$B/memory_rounds.out" mean_gap_ms) ms" ""
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
}

# ------------------------------------------------------------------ 5. rate limit
# 12. One budget per HubSpot app: two servers whose user mappings hold one token,
# HubSpot allowing that token ST_LIMIT calls per 10 s and each server allowed as
# many on its own; before 0.2 each server kept its own budget (79 of 239 calls
# answered 429 in the run that found it).
bench_sharedtoken() {
	local n=${ST_ROWS:-8000} limit=${ST_LIMIT:-100}
	note "12. shared token: two servers, one token, simulator $limit calls / 10 s, $n rows per server, batch_size 100"
	sim reset
	sim config "{\"mode\": \"sink\", \"record_bodies\": false, \"rate_limit_max\": $limit, \"rate_limit_interval_ms\": 10000, \"tokens\": {\"pat-shared\": \"all\"}}"
	for srv in st1 st2; do
		q <<SQL
CREATE SERVER $srv FOREIGN DATA WRAPPER hubspot_fdw OPTIONS (api_url '$SIM', rate_limit '$limit');
CREATE USER MAPPING FOR CURRENT_USER SERVER $srv OPTIONS (access_token 'pat-shared');
CREATE FOREIGN TABLE contacts_$srv (email text, firstname text, lastname text)
	SERVER $srv OPTIONS (object_type 'contacts', id_property 'email');
SQL
	done
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
	curl -s -X DELETE "$SIM/_sim/requests" >/dev/null
	local t0; t0=$(now)
	q -c "$(gen_insert contacts_st1 "$n" "st1.")" -c "$(gen_insert contacts_st2 "$n" "st2.")"
	q -c "SELECT hubspot_flush('300 s')" >/dev/null
	local t1; t1=$(now)
	curl -s "$SIM/_sim/requests" | "$PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin)["requests"] if "batch/upsert" in x["path"]]
print(len(r), sum(1 for x in r if x["status"] == 429), sum(x.get("ninputs") or 0 for x in r if x["status"] < 300))
' > "$B/st.out"
	read -r calls r429 rows < "$B/st.out"
	local secs; secs=$(calc "$t1 - $t0")
	res 12 "two servers, one token: calls answered 429 (before 0.2: 79 of 239)" \
		"$r429 of $calls ($(fmt 2 "$(calc "100 * $r429 / $calls")")%)" "goal <= 1%" \
		"$(ratio_verdict "$(calc "100 * $r429 / $calls")" 1)"
	res 12 "  rows/s delivered by both (the shared limit allows $((limit / 10)) calls/s = $((limit * 10)) rows/s)" \
		"$(fmt 0 "$(calc "$rows / $secs")") rows/s ($rows rows in $(fmt 1 "$secs") s)" "" ""
}

# 14. Associations: AS_LINKS contact->company links keyed by email and domain
# (AS_COMPANIES companies), queued in one transaction, then hubspot_flush().
bench_assoc() {
	local n=${AS_LINKS:-10000} nc=${AS_COMPANIES:-2000}
	note "14. associations: $n links by email and domain ($nc companies), queued, then flushed"
	sim reset
	sim config '{"rate_limit_max": 100000, "record_bodies": false}'
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
	q -c "SELECT count(*) FROM hubspot_batch_upsert('contacts',
		(SELECT jsonb_agg(jsonb_build_object('id', 'c' || g || '@assoc.io', 'idProperty', 'email',
			'properties', jsonb_build_object('firstname', 'C' || g))) FROM generate_series(1, $n) g))" >/dev/null
	q -c "SELECT count(*) FROM hubspot_batch_create('companies',
		(SELECT jsonb_agg(jsonb_build_object('properties', jsonb_build_object('domain', 'd' || g || '.assoc.io')))
		   FROM generate_series(1, $nc) g))" >/dev/null
	curl -s -X DELETE "$SIM/_sim/requests" >/dev/null
	local t0; t0=$(now)
	q -c "SELECT count(*) FROM hubspot_enqueue('associate', 'contacts/companies',
		(SELECT jsonb_agg(jsonb_build_object(
			'from', jsonb_build_object('id', 'c' || g || '@assoc.io', 'idProperty', 'email'),
			'to', jsonb_build_object('id', 'd' || (g % $nc + 1) || '.assoc.io', 'idProperty', 'domain')))
		   FROM generate_series(1, $n) g))" >/dev/null
	q -c "SELECT hubspot_flush('600 s')" >/dev/null
	local t1; t1=$(now)
	local done; done=$(q -c "SELECT count(*) FILTER (WHERE state = 'done') || ' done, ' || count(*) FILTER (WHERE state <> 'done') || ' not' FROM hubspot_queue")
	curl -s "$SIM/_sim/requests" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["requests"]
def n(f): return sum(1 for x in r if f(x["path"]))
print(n(lambda p: p.endswith("contacts/batch/read")), n(lambda p: p.endswith("companies/search")),
      n(lambda p: "/associations/" in p and "/batch/" in p), n(lambda p: "/properties/" in p or p.endswith("/labels")), len(r))
' > "$B/as.out"
	read -r reads searches links other total < "$B/as.out"
	local secs; secs=$(calc "$t1 - $t0")
	local goal=$(( (n + 99) / 100 + (nc + 99) / 100 + (n + 1999) / 2000 ))
	res 14 "$n links by email/domain ($done): calls = email batch/reads + domain searches + link calls (+ other)" \
		"$total = $reads + $searches + $links (+ $other)" "goal <= $goal" "$(ratio_verdict "$((reads + searches + links))" "$goal")"
	res 14 "  links/s, enqueue to flushed" "$(fmt 0 "$(calc "$n / $secs")") links/s ($(fmt 1 "$secs") s)" "" ""
}

bench_ratelimit() {
	note "5. rate limit: simulator 50 calls / 1 s, server rate_limit '1000' (per 10 s), $RL_ROWS rows, batch_size $RL_BATCH"
	q <<SQL
CREATE SERVER hubspot_rl FOREIGN DATA WRAPPER hubspot_fdw
	OPTIONS (api_url '$SIM', rate_limit '1000', batch_size '$RL_BATCH');
CREATE USER MAPPING FOR CURRENT_USER SERVER hubspot_rl OPTIONS (access_token 'pat-test');
CREATE FOREIGN TABLE contacts_rl (email text, firstname text, lastname text)
	SERVER hubspot_rl OPTIONS (object_type 'contacts', id_property 'email');
SQL
	sim reset
	sim config '{"mode": "sink", "record_bodies": false, "rate_limit_max": 50, "rate_limit_interval_ms": 1000}'
	# does sink mode enforce the limit and send the headers?  one call, look at the headers
	curl -s -D "$B/rl_headers.txt" -o /dev/null -X POST -H 'Authorization: Bearer pat-test' \
		-H 'Content-Type: application/json' \
		-d '{"inputs":[{"id":"probe@example.com","idProperty":"email","properties":{}}]}' \
		"$SIM/crm/v3/objects/contacts/batch/upsert"
	RL_HDR=$(grep -ci '^X-HubSpot-RateLimit-Max: 50' "$B/rl_headers.txt" || true)
	sleep 1.2
	local phase
	for phase in steady change; do
		q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
		curl -s -X DELETE "$SIM/_sim/requests" >/dev/null
		curl -s -X DELETE "$SIM/_sim/stats" >/dev/null
		sim config '{"rate_limit_max": 50}'
		sleep 1.2
		q -c "$(gen_insert contacts_rl "$RL_ROWS" "r.$phase.")"
		if [ $phase = steady ]; then
			"$PY" "$B/ratelimit.py" --sim "$SIM" --inputs "$RL_ROWS" --limit 50 --dump "$B/rl_$phase.log" > "$B/rl_$phase.out"
		else
			"$PY" "$B/ratelimit.py" --sim "$SIM" --inputs "$RL_ROWS" --limit 50 --dump "$B/rl_$phase.log" \
				--change-after 10 --change-to 30 > "$B/rl_$phase.out"
		fi
		q -c "SELECT hubspot_flush('30 s')" >/dev/null
		curl -s "$SIM/_sim/stats" > "$B/rl_$phase.stats"
		sed 's/^/   /' "$B/rl_$phase.out"
		echo "   simulator stats: $(cat "$B/rl_$phase.stats")"
	done
	local f=$B/rl_steady.out g=$B/rl_change.out
	res 5 "achieved calls/s at 50/1 s ($RL_ROWS rows, $(kv "$f" p1_calls) calls in $(kv "$f" duration_s) s; steady = mean per sliding 1 s window after the first 2 s)" \
		"$(kv "$f" p1_rate)/s (steady $(kv "$f" p1_steady_rate)/s = $(kv "$f" p1_steady_pct)%)" \
		"goal >= 95% of 50/s" "$(ratio_verdict 95 "$(kv "$f" p1_steady_pct)")"
	res 5 "share of calls answered 429 (sink sends the rate headers: $([ "$RL_HDR" = 1 ] && echo yes || echo NO))" \
		"$(kv "$f" p1_share429_pct)% ($(kv "$f" p1_429) of $(kv "$f" p1_calls))" "goal <= 1%" \
		"$(ratio_verdict "$(kv "$f" p1_share429_pct)" 1)"
	res 5 "  sending pattern: bursts of calls (median size) every (median period)" \
		"$(kv "$f" p1_burst_calls_median) calls every $(kv "$f" p1_burst_period_median_s) s" "window 1 s (+2% margin: 1.02 s)" ""
	res 5 "limit 50 -> 30 after 10 s: phase 1 (50/s) calls/s, 429 share" \
		"$(kv "$g" p1_rate)/s (steady $(kv "$g" p1_steady_pct)%), 429 $(kv "$g" p1_share429_pct)% ($(kv "$g" p1_429)/$(kv "$g" p1_calls))" \
		"goal >= 95%, <= 1%" "$(ratio_verdict 95 "$(kv "$g" p1_steady_pct)")/$(ratio_verdict "$(kv "$g" p1_share429_pct)" 1)"
	res 5 "limit 50 -> 30 after 10 s: phase 2 (30/s) calls/s, 429 share" \
		"$(kv "$g" p2_rate)/s (steady $(kv "$g" p2_steady_pct)%), 429 $(kv "$g" p2_share429_pct)% ($(kv "$g" p2_429)/$(kv "$g" p2_calls))" \
		"goal >= 95%, <= 1%" "$(ratio_verdict 95 "$(kv "$g" p2_steady_pct)")/$(ratio_verdict "$(kv "$g" p2_share429_pct)" 1)"
	res 5 "  phase 2 sending pattern" \
		"$(kv "$g" p2_burst_calls_median) calls every $(kv "$g" p2_burst_period_median_s) s" "" ""
	sim reset
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack"
}

# ------------------------------------------------------------------ 6. trigger cost
bench_trigger() {
	note "6. trigger cost: UPDATE customers SET plan = 'pro' on $TRIG_ROWS rows, $TRIG_REPS reps (worker off)"
	worker_enabled off
	q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (id serial, email text, plan text, name text);
INSERT INTO customers (email, plan, name)
	SELECT 'cust' || g || '@example.com', 'free', 'Customer ' || g FROM generate_series(1, $TRIG_ROWS) g;
VACUUM ANALYZE customers;
-- for information: the same work done by a PL/pgSQL statement trigger into a plain copy of the
-- queue table (changed columns only, as jsonb; old and new rows paired by id)
DROP TABLE IF EXISTS local_queue;
CREATE TABLE local_queue (LIKE hubspot_queue_data INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
CREATE OR REPLACE FUNCTION bench_sql_push() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN
	INSERT INTO local_queue (owner, server_id, object_type, operation, id_property, record_key, properties)
	SELECT 10, 0, 'contacts', 'upsert', 'email', n.email, c.props
	  FROM o JOIN n ON n.id = o.id
	 CROSS JOIN LATERAL (SELECT jsonb_object_agg(k, v) AS props
	                       FROM jsonb_each(to_jsonb(n) - 'id') AS e(k, v)
	                      WHERE to_jsonb(o) -> k IS DISTINCT FROM v) c
	 WHERE c.props IS NOT NULL;
	RETURN NULL;
END \$f\$;
-- for information: a statement trigger with transition tables that does nothing (what
-- PostgreSQL's capture of the old and new rows costs by itself)
CREATE OR REPLACE FUNCTION bench_empty() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN
	RETURN NULL;
END \$f\$;
SQL
	{
		echo "SET client_min_messages = warning;"
		for r in $(seq 0 "$TRIG_REPS"); do   # rep 0: warm-up, not counted
			for v in none empty statement row plpgsql; do
				echo "DROP TRIGGER IF EXISTS push ON customers;"
				echo "UPDATE customers SET plan = 'free';"
				echo "VACUUM customers; TRUNCATE hubspot_queue_data, hubspot_queue_pack, local_queue; CHECKPOINT;"
				case $v in
					statement) echo "CREATE TRIGGER push AFTER UPDATE ON customers
						REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
						EXECUTE FUNCTION hubspot_push('contacts', 'email', 'exclude=id');" ;;
					row) echo "CREATE TRIGGER push AFTER UPDATE ON customers FOR EACH ROW
						EXECUTE FUNCTION hubspot_push('contacts', 'email', 'exclude=id');" ;;
					empty) echo "CREATE TRIGGER push AFTER UPDATE ON customers
						REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
						EXECUTE FUNCTION bench_empty();" ;;
					plpgsql) echo "CREATE TRIGGER push AFTER UPDATE ON customers
						REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
						EXECUTE FUNCTION bench_sql_push();" ;;
				esac
				echo "SELECT clock_timestamp() AS t0 \\gset"
				echo "UPDATE customers SET plan = 'pro';"
				echo "SELECT 'RESULT $([ "$r" = 0 ] && echo warmup_)$v ' || extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000
				        || ' ' || (SELECT count(*) FROM hubspot_queue) + (SELECT count(*) FROM local_queue);"
			done
		done
		echo "DROP TRIGGER IF EXISTS push ON customers;"
	} > "$B/trigger.sql"
	q -f "$B/trigger.sql" > "$B/trigger.out"
	local v
	for v in none empty statement row plpgsql; do
		eval "TR_$v=$(grep "^RESULT $v " "$B/trigger.out" | awk '{print $3}' | sort -g |
			awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
		eval "TRMIN_$v=$(grep "^RESULT $v " "$B/trigger.out" | awk '{print $3}' | sort -g | head -1)"
		eval "TRQ_$v=$(grep "^RESULT $v " "$B/trigger.out" | tail -1 | awk '{print $4}')"
		echo "   $v: $(grep "^RESULT $v " "$B/trigger.out" | awk '{printf "%.0f ", $3}')ms, queued $(eval echo \$TRQ_$v)"
	done
	local rs rr
	rs=$(calc "$TR_statement / $TR_none"); rr=$(calc "$TR_row / $TR_none")
	res 6 "UPDATE $TRIG_ROWS rows + statement trigger (queued $TRQ_statement; median of $TRIG_REPS)" \
		"$(fmt 0 "$TR_statement") ms" "no trigger: $(fmt 0 "$TR_none") ms" \
		"ratio $(fmt 2 "$rs")x (goal <= 2x): $(ratio_verdict "$rs" 2)"
	res 6 "  the same from the fastest of the $TRIG_REPS runs" \
		"$(fmt 0 "$TRMIN_statement") ms" "no trigger: $(fmt 0 "$TRMIN_none") ms" \
		"ratio $(fmt 2 "$(calc "$TRMIN_statement / $TRMIN_none")")x"
	res 6 "  for information: statement trigger with transition tables doing nothing (PostgreSQL's capture alone)" \
		"$(fmt 0 "$TR_empty") ms" "no trigger: $(fmt 0 "$TR_none") ms" "ratio $(fmt 2 "$(calc "$TR_empty / $TR_none")")x"
	res 6 "  for information: FOR EACH ROW trigger (queued $TRQ_row)" \
		"$(fmt 0 "$TR_row") ms" "no trigger: $(fmt 0 "$TR_none") ms" "ratio $(fmt 2 "$rr")x"
	res 6 "  for information: PL/pgSQL statement trigger writing a plain copy of the queue (queued $TRQ_plpgsql)" \
		"$(fmt 0 "$TR_plpgsql") ms" "no trigger: $(fmt 0 "$TR_none") ms" "ratio $(fmt 2 "$(calc "$TR_plpgsql / $TR_none")")x"
	q -c "TRUNCATE hubspot_queue_data, hubspot_queue_pack" -c "DROP TABLE customers, local_queue" -c "DROP FUNCTION bench_sql_push(), bench_empty()"
	worker_enabled on
}

# ------------------------------------------------------------------ 13. reads (issue 13)
# Calls the simulator answered (its stats), and the time, of one query.
reads_q() {  # label sql -> prints "calls seconds result"
	curl -s -X DELETE "$SIM/_sim/stats" >/dev/null
	local t0 t1 out
	t0=$(now)
	out=$(q -c "$2")
	t1=$(now)
	echo "$(curl -s "$SIM/_sim/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["calls"])') $(calc "$t1 - $t0") $out"
}
bench_reads() {
	note "13. reads: count(*) of 10,000 contacts; a search matching 200 of 100,000; a join of 1,000 local emails"
	sim reset
	sim config '{"record_bodies": false}'	# HubSpot's limits, search 5/s included
	"$PY" "$B/seed.py" "$SIM" 1 10000
	q <<SQL
CREATE FOREIGN TABLE rc (id text, email text, firstname text, stage text OPTIONS (property 'lifecyclestage'))
	SERVER hubspot OPTIONS (object_type 'contacts');
SQL
	local calls secs out
	read -r calls secs out < <(reads_q count "SELECT count(*) FROM rc")
	res 13 "SELECT count(*) of 10,000 contacts (list, 100 a page)" \
		"$calls calls, $(fmt 0 "$(calc "$out / $secs")") rows/s ($out rows in $(fmt 2 "$secs") s)" "100 calls" \
		"$(ratio_verdict "$calls" 100)"
	"$PY" "$B/seed.py" "$SIM" 10001 100000
	read -r calls secs out < <(reads_q lead "SELECT count(*) FROM rc WHERE stage = 'lead'")
	res 13 "WHERE lifecyclestage = 'lead': $out of 100,000 (search)" \
		"$calls calls, $(fmt 3 "$secs") s" "goal <= 2" "$(ratio_verdict "$calls" 2)"
	read -r calls secs out < <(reads_q lead "SELECT count(*) FROM rc WHERE stage = 'lead' OR (stage = 'customer' AND email = 'r7@example.com')")
	res 13 "  the same OR one more record (two filter groups)" \
		"$calls calls, $(fmt 3 "$secs") s, $out rows" "goal <= 2" "$(ratio_verdict "$calls" 2)"
	q -c "CREATE TABLE emails AS SELECT 'r' || (g * 97) || '@example.com' AS email FROM generate_series(1, 1000) g"
	read -r calls secs out < <(reads_q join "SELECT count(*) FROM rc WHERE email = ANY (ARRAY(SELECT email FROM emails))")
	res 13 "1,000 local emails against 100,000 contacts: = ANY (ARRAY(SELECT ...)) (batch/read)" \
		"$calls calls, $(fmt 3 "$secs") s, $out rows" "goal <= 12" "$(ratio_verdict "$calls" 12)"
	read -r calls secs out < <(reads_q join "SELECT count(*) FROM rc JOIN emails USING (email)")
	res 13 "  the same as a plain JOIN (parameterized scan: the local keys by batch/read)" \
		"$calls calls, $(fmt 3 "$secs") s, $out rows" "goal <= 12" "$(ratio_verdict "$calls" 12)"
	q -c "DROP FOREIGN TABLE rc" -c "DROP TABLE emails"
}

T_START=$(now)
for w in $WHAT; do
	"bench_$w"
done

echo
echo "hubspot_fdw benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)," \
	"git $GIT_START at the start$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (+local changes in src/)')," \
	"hubspot_fdw.so installed $SO_TIME, total $(fmt 0 "$(calc "$(now) - $T_START")") s"
column -t -s $'\t' "$RES"
echo
if grep -E "ERROR|WARNING|FATAL|PANIC|terminated by signal" "$B/postgres.log" | grep -v -e "hubspot_fdw.enabled" -e "canceling autovacuum task" -e "automatic vacuum of table" -e "automatic analyze of table" > "$B/log_problems.txt"; then
	echo "server log lines worth a look ($B/postgres.log):"
	head -20 "$B/log_problems.txt"
fi
