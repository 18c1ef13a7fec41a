#!/usr/bin/env bash
# Builds the Debian package postgresql-NN-hubspot-fdw from debian/ (pg_buildext,
# as PostgreSQL's own packaging of extensions does) in a throwaway Debian chroot,
# so this machine stays clean:
#   sudo ./scripts/build-deb.sh [--pg 15|17|18|19] [--out DIR]
# Default: PostgreSQL 15 (Debian 12), into ./dist/.  The last line it prints is
# the path of the .deb.  The chroot comes from scripts/chroot.sh.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
. "$here/lib.sh"
. "$here/chroot.sh"
major=${HUBSPOT_FDW_PG:-15}
out=$SRC/dist
while [ $# -gt 0 ]; do
	case "$1" in
	--pg) major=${2:?--pg needs a major version}; shift 2 ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	*) echo "usage: $0 [--pg 15|17|18|19] [--out DIR]" >&2; exit 2 ;;
	esac
done
hs_need_root
suite=$(hs_pg_suite "$major")
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
t0=$(date +%s)
hs_chroot_traps
echo "== building postgresql-$major-hubspot-fdw $version in a fresh Debian $suite chroot"
hs_chroot_up "$suite"
hs_chroot_install "$major" postgresql-server-dev-all "postgresql-server-dev-$major" \
	debhelper dpkg-dev build-essential libcurl4-openssl-dev || hs_die "apt-get install failed"
echo "== build dependencies installed after $(( $(date +%s) - t0 )) s"
hs_chroot_copy_src "/build/hubspot-fdw-$version"
if ! HS_CHROOT_ENV="PG_SUPPORTED_VERSIONS=$major" hs_chroot_run sh -c \
	"cd /build/hubspot-fdw-$version && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b" \
	>"$HS_ROOT/build.log" 2>&1; then
	tail -n 60 "$HS_ROOT/build.log"
	hs_die "dpkg-buildpackage failed"
fi
grep -E 'warning|error' "$HS_ROOT/build.log" | grep -v -- '-Werror' || true
mkdir -p "$out"
deb=$(ls "$HS_ROOT/build/postgresql-$major-hubspot-fdw_${version}_"*.deb)
cp "$deb" "$out/"
hs_chroot_run dpkg-deb --info "/build/$(basename "$deb")" | sed -n '/Package:/,/Description:/p'
echo "== built in $(( $(date +%s) - t0 )) s:"
echo "$out/$(basename "$deb")"
