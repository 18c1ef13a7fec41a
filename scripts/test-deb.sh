#!/usr/bin/env bash
# Installs the Debian package in a fresh Debian chroot and runs the demo
# (scripts/demo.sh with HUBSPOT_FDW_INSTALLED=1: nothing is built there):
#   sudo ./scripts/test-deb.sh [--pg 15|17|18|19] [path/to/postgresql-NN-hubspot-fdw_*.deb]
# Without a path it takes dist/postgresql-NN-hubspot-fdw_<version>_*.deb, and
# builds it first (scripts/build-deb.sh) when it is not there.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/lib.sh"
. "$here/chroot.sh"
major=${HUBSPOT_FDW_PG:-15}
deb=
while [ $# -gt 0 ]; do
	case "$1" in
	--pg) major=${2:?--pg needs a major version}; shift 2 ;;
	-*) echo "usage: $0 [--pg 15|17|18|19] [file.deb]" >&2; exit 2 ;;
	*) deb=$1; shift ;;
	esac
done
hs_need_root
suite=$(hs_pg_suite "$major")
if [ -z "$deb" ]; then
	version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
	deb=$(ls "$SRC/dist/postgresql-$major-hubspot-fdw_${version}_"*.deb 2>/dev/null | head -n1 || true)
	[ -n "$deb" ] || deb=$("$here/build-deb.sh" --pg "$major" | tail -n1)
fi
[ -f "$deb" ] || hs_die "no such file: $deb"
t0=$(date +%s)
hs_chroot_traps
echo "== installing $(basename "$deb") in a fresh Debian $suite chroot"
hs_chroot_up "$suite"
cp "$deb" "$HS_ROOT/tmp/"
hs_chroot_install "$major" "/tmp/$(basename "$deb")" python3 || hs_die "apt-get install failed"
hs_chroot_run dpkg -L "postgresql-$major-hubspot-fdw" | grep -E '\.(so|control|sql)$'
hs_chroot_copy_src /src
rm -rf "$HS_ROOT/src/debian"
echo "== demo (HUBSPOT_FDW_INSTALLED=1)"
rc=0
HS_CHROOT_ENV="PGV=$major HUBSPOT_FDW_INSTALLED=1" hs_chroot_run bash /src/scripts/demo.sh \
	>"$HS_ROOT/demo.log" 2>&1 || rc=$?
cat "$HS_ROOT/demo.log"
# what the demo must show: every queued row settled, HubSpot holding Ada's merged record
check() { grep -qE -- "$2" "$HS_ROOT/demo.log" || { echo "test-deb: the demo did not show $1" >&2; rc=1; }; }
check "the built extension unused" '^== using the installed hubspot_fdw'
check "a settled queue" '^ +0$'
check "Ada's merged record" 'ada@example.com +\| Ada +\| Lovelace +\| London'
grep -q 'building in' "$HS_ROOT/demo.log" && { echo "test-deb: the demo built the extension" >&2; rc=1; }
echo "== test-deb: PostgreSQL $major, $(( $(date +%s) - t0 )) s, rc=$rc"
exit $rc
