#!/usr/bin/env bash
# Installs the peer sandboxes sandboxbench compares tessera with, from
# Debian's packages: bubblewrap, crun, runc and gVisor's runsc. Idempotent.
set -euo pipefail
pkgs=(bubblewrap crun runc runsc)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
