#!/usr/bin/env bash
# Builds release binaries of `psepr` and `dp5` and installs them as services:
#
#   PREFIX/bin/psepr, PREFIX/bin/dp5                  the commands
#   /usr/local/psepr/etc/psepr/PsEPRServer.xml         the PsEPR configuration (kept if present)
#   /usr/local/psepr/logs/PsEPRServer/                 the PsEPR log directory (owner psepr)
#   /etc/dp5/                                          one DP5 config file per server (NAME.cfg)
#   /var/lib/dp5/                                      the DP5 servers' data (owner dp5)
#   /etc/systemd/system/psepr.service, dp5@.service    the units
#   /usr/lib/sysusers.d/dp5-psepr.conf                 the psepr and dp5 service users
#   PREFIX/share/doc/dp5-psepr/README.md               the documentation the units point to
#
# Every path is under DESTDIR when set (packaging, tests); the service users are created only
# when installing for real (no DESTDIR, as root).
#
# Usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--binaries DIR]
#   --prefix DIR     where the commands go (default $PREFIX, else /usr/local)
#   --destdir DIR    a staging root (default $DESTDIR, else none)
#   --binaries DIR   take psepr and dp5 from DIR instead of building them (`swift build -c release`)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-/usr/local}"
destdir="${DESTDIR:-}"
binaries=""

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --destdir) destdir="$2"; shift 2 ;;
        --binaries) binaries="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac

if [ -z "$binaries" ]; then
    (cd "$root" && swift build -c release --product psepr && swift build -c release --product dp5)
    binaries="$(cd "$root" && swift build -c release --show-bin-path)"
fi
for command in psepr dp5; do
    [ -x "$binaries/$command" ] || { echo "install.sh: no executable $binaries/$command" >&2; exit 1; }
done

# Ownership only when installing for real as root; a staging root keeps the caller's.
real_install=no
if [ -z "$destdir" ] && [ "$(id -u)" = 0 ]; then real_install=yes; fi

if [ "$real_install" = yes ]; then
    getent group psepr >/dev/null || groupadd --system psepr
    getent passwd psepr >/dev/null || useradd --system --gid psepr --home-dir /usr/local/psepr --shell /usr/sbin/nologin psepr
    getent group dp5 >/dev/null || groupadd --system dp5
    getent passwd dp5 >/dev/null || useradd --system --gid dp5 --home-dir /var/lib/dp5 --shell /usr/sbin/nologin dp5
fi

install -d -m 0755 "$destdir$prefix/bin" "$destdir$prefix/share/doc/dp5-psepr" \
    "$destdir/usr/local/psepr/etc/psepr" "$destdir/etc/dp5" "$destdir/etc/systemd/system" "$destdir/usr/lib/sysusers.d"
install -m 0755 "$binaries/psepr" "$binaries/dp5" "$destdir$prefix/bin/"
install -m 0644 "$root/README.md" "$destdir$prefix/share/doc/dp5-psepr/README.md"
install -m 0644 "$root/packaging/sysusers.conf" "$destdir/usr/lib/sysusers.d/dp5-psepr.conf"

config="$destdir/usr/local/psepr/etc/psepr/PsEPRServer.xml"
if [ -e "$config" ]; then
    echo "install.sh: keeping the existing $config"
else
    install -m 0644 "$root/packaging/PsEPRServer.xml" "$config"
fi

for unit in psepr.service dp5@.service; do
    sed "s|@PREFIX@|$prefix|g" "$root/packaging/systemd/$unit" > "$destdir/etc/systemd/system/$unit"
    chmod 0644 "$destdir/etc/systemd/system/$unit"
done

if [ "$real_install" = yes ]; then
    install -d -m 0750 -o psepr -g psepr /usr/local/psepr/logs/PsEPRServer
    install -d -m 0750 -o dp5 -g dp5 /var/lib/dp5
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
else
    install -d -m 0750 "$destdir/usr/local/psepr/logs/PsEPRServer" "$destdir/var/lib/dp5"
fi

echo "Installed psepr and dp5 into ${destdir:-/}${destdir:+ }(prefix $prefix)."
echo "Start them with: systemctl enable --now psepr.service; and for /etc/dp5/NAME.cfg: systemctl enable --now dp5@NAME.service"
