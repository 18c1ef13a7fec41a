#!/usr/bin/env bash
# The demo: sudo ./scripts/demo.sh
# On a fresh Debian 12 machine as root: installs what is missing, builds and
# installs hubspot_fdw, starts a throwaway cluster that preloads it and the
# HubSpot simulator on loopback, then runs the main job in psql
# (scripts/demo.sql).  With HUBSPOT_TOKEN set it talks to real HubSpot
# (https://api.hubapi.com) with that private-app token instead.
# HUBSPOT_FDW_INSTALLED=1 uses the hubspot_fdw already installed (the .deb).
# Everything it started is stopped at the end.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hs_need_root
hs_install_deps
hs_build_install
trap 'hs_stop_cluster; hs_stop_sim; rm -rf "$W"' EXIT
hs_start_cluster
if [ -n "${HUBSPOT_TOKEN:-}" ]; then
	API_URL=https://api.hubapi.com
	TOKEN=$HUBSPOT_TOKEN
	echo "== using real HubSpot at $API_URL"
else
	hs_start_sim
	API_URL=$SIM_URL
	TOKEN=pat-test
fi
as_pg env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
	psql -X -d postgres -v api_url="$API_URL" -v token="$TOKEN" -f "$W/scripts/demo.sql"
