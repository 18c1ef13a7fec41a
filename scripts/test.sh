#!/usr/bin/env bash
# Sets up and runs every test of hubspot_fdw on a fresh Debian 12 machine:
#   sudo ./scripts/test.sh
# installs what is missing (apt-get), builds and installs the extension, then
# runs the simulator's own tests, pg_regress (temp instance that preloads the
# extension, simulator on loopback) and the TAP suite, as the 'postgres' user.
# Exits non-zero on any failure; stops everything it started.
#
#   sudo ./scripts/test.sh --pg 17     (or HUBSPOT_FDW_PG=17)
# runs the same suite against PostgreSQL 17 (15, 17, 18, 19) in a throwaway
# Debian chroot instead (scripts/chroot.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pg_major=${HUBSPOT_FDW_PG:-}
while [ $# -gt 0 ]; do
	case "$1" in
	--pg) [ $# -ge 2 ] || { echo "$0: --pg needs a major version" >&2; exit 2; }; pg_major=$2; shift 2 ;;
	--pg=*) pg_major=${1#--pg=}; shift ;;
	*) echo "usage: $0 [--pg 15|17|18|19]" >&2; exit 2 ;;
	esac
done
hs_need_root
if [ -n "$pg_major" ] && [ -z "${HUBSPOT_FDW_IN_CHROOT:-}" ]; then
	. "$(dirname "${BASH_SOURCE[0]}")/chroot.sh"
	hs_chroot_test "$pg_major"
	exit
fi
start=$(date +%s)
hs_install_deps
hs_build_install
trap 'hs_stop_sim' EXIT

rc=0
echo "== simulator unit tests"
as_pg sh -c "cd '$W' && /usr/bin/python3 -m unittest discover -s test -p 'test_*.py'" || rc=1

echo "== pg_regress"
hs_start_sim
HS_ENV="HUBSPOT_SIM_URL=$SIM_URL" as_pg make -C "$W" -s PG_CONFIG="$PG_CONFIG" installcheck TAP_TESTS= || rc=1
hs_stop_sim

echo "== TAP"
as_pg make -C "$W" -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS= PROVE_FLAGS="${PROVE_FLAGS:---timer}" || rc=1

if [ $rc != 0 ]; then
	for f in "$W"/regression.diffs "$W"/tmp_check_regress/log/postmaster.log "$W"/tmp_check/log/*; do
		[ -f "$f" ] && { echo "===== $f"; tail -n 150 "$f"; }
	done
	echo "(work dir kept: $W)"
else
	rm -rf "$W"
fi
echo "== scripts/test.sh finished in $(( $(date +%s) - start )) s, rc=$rc"
exit $rc
