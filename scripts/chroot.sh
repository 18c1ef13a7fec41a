# Throwaway Debian chroots for other PostgreSQL majors; sourced by
# scripts/test.sh (--pg NN), scripts/build-deb.sh and scripts/test-deb.sh.
#
# A major maps to a Debian suite (hs_pg_suite).  The debootstrapped base of a
# suite is made once and kept as a tarball under $HS_CACHE; downloaded .debs are
# kept there too.  Every run extracts a fresh tree from the tarball, mounts
# proc, dev, dev/pts (and a private tmpfs on dev/shm), installs the packages,
# and hs_chroot_down (run from the EXIT trap, also on failure and Ctrl-C) ends
# every process whose root is the tree, by PID, undoes the mounts and removes
# the tree.
#
# Needs: root, debootstrap (installed with apt-get when missing), the Debian
# mirror named in /etc/apt/sources.list.d/ (or $HUBSPOT_FDW_MIRROR).

HS_CACHE=${HUBSPOT_FDW_CACHE:-/var/cache/hubspot_fdw}
HS_ROOT=
HS_MOUNTS=()

hs_die() { echo "$0: $*" >&2; exit 2; }

# The suite whose archive carries postgresql-NN.
hs_pg_suite() {
	case "$1" in
	15) echo bookworm ;;
	17) echo trixie ;;
	18 | 19) echo sid ;;         # 19 comes from experimental, on top of sid
	16) hs_die "PostgreSQL 16 is not in any Debian suite this script can reach (the code guards for it, untested)" ;;
	*) hs_die "no Debian suite known for PostgreSQL '$1' (try 15, 17, 18 or 19)" ;;
	esac
}

# URIs of the host's Debian archive and security archive (deb822 or one-line).
hs_mirror() {
	[ -n "${HUBSPOT_FDW_MIRROR:-}" ] && { echo "$HUBSPOT_FDW_MIRROR"; return; }
	local u
	u=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
		grep -oE '(https?|file)://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ')
	echo "${u:-http://deb.debian.org/debian}" | sed 's,/$,,'
}
hs_security_mirror() {
	local u
	u=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null |
		grep -oE '(https?|file)://[^ ]*/debian-security/?( |$)' | head -n1 | tr -d ' ')
	echo "${u:-http://deb.debian.org/debian-security}" | sed 's,/$,,'
}

# Make (once) the cached minbase tarball of a suite; prints its path.
hs_chroot_base() {
	local suite=$1 tarball="$HS_CACHE/base-$1.tar" tmp
	mkdir -p "$HS_CACHE"
	(
		flock 9
		[ -s "$tarball" ] && exit 0
		command -v debootstrap >/dev/null || {
			echo "== installing debootstrap" >&2
			apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
		}
		tmp=$(mktemp -d "$HS_CACHE/debootstrap.XXXXXX")
		echo "== debootstrap --variant=minbase $suite (once; cached as $tarball)" >&2
		local t0=$(date +%s)
		if ! debootstrap --variant=minbase "$suite" "$tmp" "$(hs_mirror)" >"$tmp.log" 2>&1; then
			tail -n 30 "$tmp.log" >&2
			hs_umount_under "$tmp"
			rm -rf --one-file-system "$tmp" "$tmp.log"
			exit 1
		fi
		hs_umount_under "$tmp"
		rm -f "$tmp"/var/cache/apt/archives/*.deb
		chmod 755 "$tmp"
		tar -C "$tmp" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
		rm -rf --one-file-system "$tmp" "$tmp.log"
		echo "== debootstrap $suite took $(( $(date +%s) - t0 )) s" >&2
	) 9>"$HS_CACHE/lock" || hs_die "debootstrap of $suite failed"
	echo "$tarball"
}

# Mount points at or under $1, deepest first.
hs_mounts_under() {
	awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
hs_umount_under() {
	local m
	for m in $(hs_mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}

# A fresh tree of $1 (suite) in HS_ROOT, mounted and ready for apt-get.
hs_chroot_up() {
	local suite=$1 base mirror
	base=$(hs_chroot_base "$suite")
	HS_ROOT=$(mktemp -d /var/tmp/hubspot_fdw-root.XXXXXX)
	HS_ROOT=$(cd "$HS_ROOT" && pwd -P)
	tar -C "$HS_ROOT" -xf "$base"
	chmod 755 "$HS_ROOT"        # mktemp's 0700 would keep 'postgres' and '_apt' out
	mirror=$(hs_mirror)
	{
		echo "deb $mirror $suite main"
		case "$suite" in
		sid) ;;
		*) echo "deb $mirror $suite-updates main"
		   echo "deb $(hs_security_mirror) $suite-security main" ;;
		esac
	} >"$HS_ROOT/etc/apt/sources.list"
	rm -f "$HS_ROOT"/etc/apt/sources.list.d/*
	# sid and experimental on a frozen mirror: their Release files may have expired
	cat >"$HS_ROOT/etc/apt/apt.conf.d/90hubspot-fdw" <<-'EOF'
		Acquire::Check-Valid-Until "false";
		Acquire::Retries "3";
		APT::Install-Recommends "false";
		Dpkg::Use-Pty "false";
	EOF
	# A throwaway tree: no fsync, no docs, man pages or translations.
	cat >"$HS_ROOT/etc/dpkg/dpkg.cfg.d/90hubspot-fdw" <<-'EOF'
		force-unsafe-io
		path-exclude=/usr/share/doc/*
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/locale/*
		path-exclude=/usr/share/info/*
	EOF
	cp -L /etc/resolv.conf "$HS_ROOT/etc/resolv.conf" 2>/dev/null || true
	printf '#!/bin/sh\nexit 101\n' >"$HS_ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$HS_ROOT/usr/sbin/policy-rc.d"
	# Don't let the server package create a 'main' cluster.
	mkdir -p "$HS_ROOT/etc/postgresql-common/createcluster.d"
	echo 'create_main_cluster = false' >"$HS_ROOT/etc/postgresql-common/createcluster.d/00-hubspot-fdw.conf"

	hs_mount -t proc proc "$HS_ROOT/proc"
	hs_mount --bind /dev "$HS_ROOT/dev"
	hs_mount --bind /dev/pts "$HS_ROOT/dev/pts"
	hs_mount -t tmpfs -o mode=1777,size=1g tmpfs "$HS_ROOT/dev/shm"     # PostgreSQL's DSM, not the host's
	mkdir -p "$HS_CACHE/apt-$suite/partial"
	hs_mount --bind "$HS_CACHE/apt-$suite" "$HS_ROOT/var/cache/apt/archives"
}

hs_mount() {
	local target=${*: -1}
	mount "$@" || hs_die "mount $* failed"
	HS_MOUNTS+=("$target")
}

# Run a command in the tree, with a clean environment ($HS_CHROOT_ENV adds NAME=value words).
# It runs in the background and is waited for, so that a Ctrl-C runs the INT trap at
# once (which ends it by PID in hs_chroot_down) instead of after the command is done.
hs_chroot_run() {
	chroot "$HS_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive ${HS_CHROOT_ENV:-} "$@" &
	wait $!
}

# apt-get update + install in the tree.  For 19 the PostgreSQL packages come
# from experimental: a pin takes postgresql* and libpq* from there and the rest
# from sid (a blanket -t experimental would also pull experimental's perl,
# which conflicts with sid's Perl modules).
hs_chroot_install() {
	local major=$1; shift
	if [ "$major" = 19 ]; then
		echo "deb $(hs_mirror) experimental main" >>"$HS_ROOT/etc/apt/sources.list"
		printf 'Package: postgresql* libpq*\nPin: release a=experimental\nPin-Priority: 990\n' \
			>"$HS_ROOT/etc/apt/preferences.d/hubspot-fdw-experimental"
	fi
	hs_chroot_run apt-get update -qq >"$HS_ROOT/apt.log" 2>&1 || { tail -n 20 "$HS_ROOT/apt.log"; return 1; }
	hs_chroot_run apt-get install -y -qq "$@" >>"$HS_ROOT/apt.log" 2>&1 ||
		{ tail -n 40 "$HS_ROOT/apt.log"; return 1; }
}

# Copy the source tree (without .git and build output) to $HS_ROOT$1.
hs_chroot_copy_src() {
	mkdir -p "$HS_ROOT$1"
	tar -C "$SRC" --exclude=.git --exclude=tmp_check --exclude=tmp_check_regress \
		--exclude=results --exclude=log --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=./dist -cf - . | tar -C "$HS_ROOT$1" -xf -
}

# Processes whose root directory is the tree (started in the chroot).
hs_chroot_pids() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$r" = "$HS_ROOT" ] || [ "${r#"$HS_ROOT"/}" != "$r" ] && echo "${p#/proc/}"
	done
	return 0
}

# End the tree's processes (by PID), undo the mounts, remove the tree.  Idempotent.
hs_chroot_down() {
	local pids i m
	[ -n "$HS_ROOT" ] && [ -d "$HS_ROOT" ] || return 0
	for i in $(seq 50); do
		pids=$(hs_chroot_pids)
		[ -z "$pids" ] && break
		if [ "$i" -lt 30 ]; then kill -TERM $pids 2>/dev/null; else kill -KILL $pids 2>/dev/null; fi
		sleep 0.2
	done
	for (( i=${#HS_MOUNTS[@]}-1; i>=0; i-- )); do
		m=${HS_MOUNTS[$i]}
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "could not unmount $m" >&2
	done
	HS_MOUNTS=()
	hs_umount_under "$HS_ROOT"
	if [ -n "$(hs_mounts_under "$HS_ROOT")" ]; then
		echo "$HS_ROOT still has mounts; not removing it" >&2
		return 1
	fi
	if [ -n "${HUBSPOT_FDW_KEEP_CHROOT:-}" ]; then
		echo "(chroot kept: $HS_ROOT)"
	else
		rm -rf --one-file-system "$HS_ROOT"
	fi
	HS_ROOT=
}

# Install the EXIT/INT/TERM traps that tear the tree down.
hs_chroot_traps() {
	trap 'hs_chroot_down' EXIT
	trap 'echo "interrupted" >&2; exit 130' INT
	trap 'exit 143' TERM
}

hs_pg_packages() {
	echo "postgresql-$1 postgresql-server-dev-$1 libcurl4-openssl-dev libipc-run-perl perl make gcc libc6-dev python3"
}

# scripts/test.sh --pg NN: the whole suite against PostgreSQL NN in a fresh tree.
hs_chroot_test() {
	local major=$1 suite t0 t1 rc=0
	suite=$(hs_pg_suite "$major")
	t0=$(date +%s)
	hs_chroot_traps
	echo "== PostgreSQL $major in a fresh Debian $suite chroot"
	hs_chroot_up "$suite"
	echo "== chroot $HS_ROOT ready in $(( $(date +%s) - t0 )) s; installing packages"
	t1=$(date +%s)
	hs_chroot_install "$major" $(hs_pg_packages "$major") || hs_die "apt-get install failed"
	echo "== packages installed in $(( $(date +%s) - t1 )) s: $(hs_chroot_run dpkg-query -W -f '${Package} ${Version}' "postgresql-$major")"
	hs_chroot_copy_src /src
	t1=$(date +%s)
	# the fuzz's generated statements test the C, not the major: a shorter budget here
	HS_CHROOT_ENV="PGV=$major HUBSPOT_FDW_IN_CHROOT=1 ${PROVE_FLAGS:+PROVE_FLAGS=$PROVE_FLAGS} HUBSPOT_FUZZ_BUDGET=${HUBSPOT_FUZZ_BUDGET:-25}" \
		hs_chroot_run bash /src/scripts/test.sh || rc=$?
	echo "== PostgreSQL $major: tests $(( $(date +%s) - t1 )) s, whole run $(( $(date +%s) - t0 )) s, rc=$rc"
	return $rc
}
