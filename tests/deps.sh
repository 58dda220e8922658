#!/bin/sh
# deps.sh PKG... — install the Debian packages that are missing.
# As root: apt-get update (once) + apt-get install -y. Otherwise: print the
# exact command and fail, so nothing half-works.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: run as root:  apt-get update && apt-get install -y$missing"
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# What the tests install is tools, never services: without this, installing
# nginx starts the system nginx on port 80 (and fails where 80 is taken).
# policy-rc.d answering 101 tells invoke-rc.d not to start anything.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq || exit 1
apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
echo "deps: installed$missing"
