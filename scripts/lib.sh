# Shared by scripts/test.sh and scripts/demo.sh: dependencies, a scratch
# build owned by the unprivileged 'postgres' user (initdb refuses root),
# and the HubSpot simulator.
# The PostgreSQL major under test: 15 (this Debian 12 host) unless PGV says otherwise
# (scripts/test.sh --pg NN sets it inside its chroot).  HUBSPOT_FDW_INSTALLED=1: use the
# extension already installed (e.g. from the .deb) instead of building it.
PGV=${PGV:-15}
PG_BIN=/usr/lib/postgresql/$PGV/bin
PG_CONFIG=$PG_BIN/pg_config
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8

hs_need_root() {
	[ "$(id -u)" = 0 ] || { echo "$0: run as root (it installs packages and the extension)" >&2; exit 2; }
}

hs_install_deps() {
	# Don't let the server package create and start a 'main' cluster on :5432.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/00-hubspot-fdw.conf
	local pkgs="postgresql-$PGV postgresql-server-dev-$PGV libcurl4-openssl-dev libipc-run-perl
	            perl make gcc libc6-dev python3"
	[ "${HUBSPOT_FDW_INSTALLED:-}" = 1 ] && pkgs="postgresql-$PGV python3"
	if ! dpkg -s $pkgs >/dev/null 2>&1; then
		echo "== installing packages"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
	fi
}

as_pg() {
	runuser -u postgres -- env -i HOME=/var/lib/postgresql LANG=C.UTF-8 LC_ALL=C.UTF-8 \
		PATH=$PG_BIN:/usr/local/bin:/usr/bin:/bin \
		${HUBSPOT_FUZZ_BUDGET:+HUBSPOT_FUZZ_BUDGET=$HUBSPOT_FUZZ_BUDGET} ${HS_ENV:-} "$@"
}

# Copy the tree to a scratch dir that 'postgres' owns, build there, install.
hs_build_install() {
	W=$(mktemp -d /tmp/hubspot_fdw.XXXXXX)
	tar -C "$SRC" --exclude=.git --exclude=tmp_check --exclude=tmp_check_regress \
		--exclude=results --exclude=log --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		-cf - . | tar -C "$W" -xf -
	chown -R postgres:postgres "$W"
	if [ "${HUBSPOT_FDW_INSTALLED:-}" = 1 ]; then
		[ -f "/usr/share/postgresql/$PGV/extension/hubspot_fdw.control" ] ||
			{ echo "HUBSPOT_FDW_INSTALLED=1, but hubspot_fdw is not installed for PostgreSQL $PGV" >&2; exit 1; }
		echo "== using the installed hubspot_fdw"
		return
	fi
	echo "== building in $W"
	as_pg make -C "$W" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$W" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Start the simulator on a free loopback port; sets SIM_URL and SIM_PID.
hs_start_sim() {
	local portfile="$W/sim.port"
	rm -f "$portfile"
	as_pg /usr/bin/python3 "$W/test/hubspot_sim.py" --host 127.0.0.1 --port 0 \
		--port-file "$portfile" >"$W/sim.log" 2>&1 &
	SIM_PID=$!
	for _ in $(seq 100); do [ -s "$portfile" ] && break; sleep 0.1; done
	[ -s "$portfile" ] || { echo "simulator did not start:"; cat "$W/sim.log"; exit 1; }
	SIM_URL="http://127.0.0.1:$(cat "$portfile")"
	echo "== HubSpot simulator at $SIM_URL"
}

# Kill processes whose command line holds $1 (no procps on a minimal machine).
hs_kill_matching() {
	local p
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$1"; then
			kill -TERM "${p#/proc/}" 2>/dev/null || true
		fi
	done
}

hs_stop_sim() {
	# the simulator runs under runuser: find it by its unique path
	[ -n "${W:-}" ] && hs_kill_matching "$W/test/hubspot_sim.py"
	[ -n "${SIM_PID:-}" ] && { wait "$SIM_PID" 2>/dev/null || true; }
	SIM_PID=
}

# A throwaway cluster that preloads the extension; sets PGHOST/PGPORT.
hs_start_cluster() {
	local d="$W/cluster"
	as_pg initdb -N -A trust -U postgres -D "$d/data" >/dev/null
	cat >> "$d/data/postgresql.conf" <<CONF
shared_preload_libraries = 'hubspot_fdw'
listen_addresses = ''
unix_socket_directories = '$d'
port = 54329
hubspot_fdw.naptime = 1000
CONF
	as_pg pg_ctl -D "$d/data" -l "$d/postgres.log" -w start >/dev/null
	export PGHOST=$d PGPORT=54329 PGUSER=postgres
}

hs_stop_cluster() {
	[ -d "${W:-}/cluster/data" ] && as_pg pg_ctl -D "$W/cluster/data" -m fast -w stop >/dev/null 2>&1 || true
}
