#!/usr/bin/env bash
# What being watched costs a short process (docs/BENCHMARKS.md, "Short processes"):
#  - the wall time of `sh -c true` and of a small C program (alloc/bench/startup/small.c)
#    with no preload and under LD_PRELOAD of libmimalloc, libjemalloc and
#    libslabscope_preload.so, the last also with SLABSCOPE_PUBLISH_AFTER_MS=100 ("late":
#    no segment for a process that ends sooner) and with SLABSCOPE_PUBLISH=0
#    ("unpublished": the allocator's own start, no segment): the median over ROUNDS
#    interleaved rounds of the mean of RUNS runs each (alloc/bench/startup/spawn.c forks
#    and execs them one by one), and slabscope's times over mimalloc's;
#  - the tmpfs (allocated blocks of the segment file) and RSS (RssShmem) that a short
#    process's segment costs, read while `sleep 1` runs under the preload.
#
#   alloc/bench/setup-preload.sh && cargo build --release -p slabscope-preload
#   alloc/bench/startup.sh [ROUNDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds="${1:-9}"
runs="${2:-200}"
out="target/bench/startup"
mkdir -p "$out"
cc -O2 -o "$out/spawn" alloc/bench/startup/spawn.c
cc -O2 -o "$out/small" alloc/bench/startup/small.c

lib_of() { dpkg -L "$1" 2>/dev/null | grep -E '\.so(\.[0-9]+)*$' | head -n1; }
slabscope="$PWD/target/release/libslabscope_preload.so"
[ -f "$slabscope" ] || { echo "startup.sh: build $slabscope first" >&2; exit 1; }
names=(none mimalloc jemalloc slabscope late unpublished)
libs=("" "$(lib_of libmimalloc2.0)" "$(lib_of libjemalloc2)" "$slabscope" "$slabscope" "$slabscope")
envs=("" "" "" "" "SLABSCOPE_PUBLISH_AFTER_MS=100" "SLABSCOPE_PUBLISH=0")
for i in 1 2; do
  [ -n "${libs[$i]}" ] || { echo "startup.sh: run alloc/bench/setup-preload.sh" >&2; exit 1; }
done

# The segments go where they would: a tmpfs (/dev/shm), not the disk /tmp may be on.
shm=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$shm"' EXIT
export SLABSCOPE_SHM_DIR="$shm"

# shellcheck source=alloc/bench/median.sh
source alloc/bench/median.sh

for prog in "sh -c true" "$out/small"; do
  declare -A samples=()
  for ((r = 0; r < rounds; r++)); do
    for i in "${!names[@]}"; do
      # shellcheck disable=SC2086
      t=$(env ${envs[$i]} LD_PRELOAD="${libs[$i]}" "$out/spawn" "$runs" $prog)
      samples[$i]+="$t"$'\n'
    done
  done
  printf '%-22s' "${prog##*/}"
  for i in "${!names[@]}"; do
    m=$(printf '%s' "${samples[$i]}" | median)
    printf '  %s %7.1f us' "${names[$i]}" "$m"
    eval "med_$i=$m"
  done
  # shellcheck disable=SC2154
  printf '  slabscope/mimalloc %.3f late/mimalloc %.3f unpublished/mimalloc %.3f\n' \
    "$(echo "$med_3 / $med_1" | bc -l)" "$(echo "$med_4 / $med_1" | bc -l)" \
    "$(echo "$med_5 / $med_1" | bc -l)"
  unset samples
done

LD_PRELOAD="$slabscope" sleep 1 &
pid=$!
sleep 0.3
seg="$shm/slabscope.$pid"
blocks=$(stat -c %b "$seg")
rss=$(awk '/^RssShmem:/ {print $2}' "/proc/$pid/status")
size=$(stat -c %s "$seg")
wait "$pid"
echo "segment of a short process: $((blocks * 512 / 1024)) KiB of tmpfs, ${rss} KiB RssShmem (file laid out at $((size / 1024)) KiB)"
left=$(find "$shm" -name 'slabscope.*' | wc -l)
echo "segments left after the runs: $left"
