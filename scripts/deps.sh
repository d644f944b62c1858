#!/usr/bin/env bash
# Installs what jobgate needs from Debian 12's packages, only when missing,
# so a second run costs a few dpkg queries. Source it or run it.
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh build      only what building jobgate needs
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config libsqlite3-dev nlohmann-json3-dev libcli11-dev
            libfmt-dev libspdlog-dev libcurl4-openssl-dev libssl-dev libtomlplusplus-dev libsystemd-dev tzdata
            libpq-dev libmicrohttpd-dev)
test_pkgs=(libgtest-dev libgmock-dev libbenchmark-dev sqlite3 util-linux curl nodejs npm libcpp-httplib-dev
           libyaml-cpp-dev zip unzip libhowardhinnant-date-dev postgresql pgbouncer faketime chromium valgrind)

want=("${build_pkgs[@]}")
[[ "${1:-all}" == build ]] || want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. nodesource); accept them on PATH.
if [[ " ${missing[*]} " == *" nodejs "* ]] && command -v node >/dev/null; then
  missing=("${missing[@]/nodejs}")
fi
if [[ " ${missing[*]} " == *" npm "* ]] && command -v npm >/dev/null; then
  missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# postgresql and pgbouncer start a system service from their postinst and
# fail the install when that start fails (no init system in a container).
# The tests run their own server (scripts/postgres.sh), so forbid service
# starts for this install with a policy-rc.d (exit 101: action forbidden),
# unless the machine has its own, and take ours away afterwards.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# scripts/deps.sh: no service starts while it installs\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
