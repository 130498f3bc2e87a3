#!/usr/bin/env bash
# Installs the Debian packages tessera's build and tests need, if any are
# missing. Safe to run any number of times; does nothing when all are there.
#
#   newlib-source                     newlib's sources, built into hlibc
#   clang lld wasi-libc               the wasm32-wasi builds of the guests
#   libclang-rt-14-dev-wasm32         compiler-rt builtins for wasm32
#   wabt                              wat2wasm, for hand-written test modules
#   gcc make xz-utils                 the native guests and the build itself
set -euo pipefail

pkgs=(gcc make xz-utils newlib-source clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null; then
	echo "deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: run as root or install sudo" >&2; exit 1; }
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
