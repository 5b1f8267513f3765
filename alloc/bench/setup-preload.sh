#!/usr/bin/env bash
# Installs the Debian allocator libraries that `slabscope-bench --preload` runs
# bench-system under (LD_PRELOAD), when they are missing, and prints where they are.
#
#   alloc/bench/setup-preload.sh
#
# Needs apt-get (Debian/Ubuntu) and root, or sudo, only when something is missing.
set -euo pipefail

packages=(libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "setup-preload: apt-get not found; install ${missing[*]} by hand" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  echo "setup-preload: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

for p in "${packages[@]}"; do
  so=$(dpkg -L "$p" | grep -E '\.so(\.[0-9]+)*$' | head -n1)
  echo "$p: $so"
done
