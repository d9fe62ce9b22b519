#!/usr/bin/env bash
# Install the Debian packages listed in host-packages.txt that are not installed yet.
# A no-op (one dpkg-query) when everything is present; safe to run concurrently with other
# apt users thanks to DPkg::Lock::Timeout.  Needs root (the test cluster runs as root anyway).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/host-packages.txt" | grep -v '^$' | sort -u)
missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
echo "setup-host: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: must run as root to install packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
# Refresh the lists when a package has no candidate (fresh machine or stale lists).
for p in "${missing[@]}"; do
  if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get "${apt_opts[@]}" update -qq
    break
  fi
done
# Packages' maintainer scripts must not start services (there is no init system to own them).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
