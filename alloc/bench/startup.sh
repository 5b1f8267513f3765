#!/usr/bin/env bash
# What being watched costs a short process (docs/BENCHMARKS.md, "Short processes"):
#  - the wall time of `sh -c true` and of a small C program (alloc/bench/startup/small.c)
#    under LD_PRELOAD of libmimalloc, libjemalloc and libslabscope_preload.so (loaded
#    from a copy, as installed; "as-built": from target/release, as the linker wrote it),
#    the last also with SLABSCOPE_PUBLISH_AFTER_MS=100 ("late": no segment for a process that ends
#    sooner) and with SLABSCOPE_PUBLISH=0 ("unpublished": the allocator's own start, no
#    segment), and with no preload: alloc/bench/startup/alternate.c runs the program once
#    under each in turn (from a different one each round), RUNS times, and prints each
#    one's median run and its time over libmimalloc's (the median over blocks of 50
#    rounds of the mean run);
#  - the tmpfs (allocated blocks of the segment file) and RSS (RssShmem) that a short
#    process's segment costs, read while `sleep 1` runs under the preload.
#
#   alloc/bench/setup-preload.sh && cargo build --release -p slabscope-preload
#   alloc/bench/startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${1:-2000}"
out="target/bench/startup"
mkdir -p "$out"
cc -O2 -o "$out/alternate" alloc/bench/startup/alternate.c
cc -O2 -o "$out/small" alloc/bench/startup/small.c

lib_of() { dpkg -L "$1" 2>/dev/null | grep -E '\.so(\.[0-9]+)*$' | head -n1; }
built="$PWD/target/release/libslabscope_preload.so"
[ -f "$built" ] || { echo "startup.sh: build $built first" >&2; exit 1; }
mimalloc=$(lib_of libmimalloc2.0)
jemalloc=$(lib_of libjemalloc2)
[ -n "$mimalloc" ] && [ -n "$jemalloc" ] || { echo "startup.sh: run alloc/bench/setup-preload.sh" >&2; exit 1; }
# The segments go where they would: a tmpfs (/dev/shm), not the disk /tmp may be on.
shm=$(mktemp -d -p /dev/shm)
# The library is loaded from a copy, as installed (like the others, from /usr/lib): the
# file the linker has just written is cached in a way that makes each of its page faults
# dearer, 2-3 % of `sh -c true` on the machine of docs/BENCHMARKS.md ("Short processes").
lib=$(mktemp -d)
trap 'rm -rf "$shm" "$lib"' EXIT
cp "$built" "$lib/"
cp "$(dirname "$built")/deps/libslabscope_trace.so" "$lib/"
slabscope="$lib/libslabscope_preload.so"
export SLABSCOPE_SHM_DIR="$shm"

# The first setting is the one the others are measured against; "+" separates them.
settings=(
  mimalloc "LD_PRELOAD=$mimalloc" +
  slabscope "LD_PRELOAD=$slabscope" +
  as-built "LD_PRELOAD=$built" +
  late "LD_PRELOAD=$slabscope" SLABSCOPE_PUBLISH_AFTER_MS=100 +
  unpublished "LD_PRELOAD=$slabscope" SLABSCOPE_PUBLISH=0 +
  jemalloc "LD_PRELOAD=$jemalloc" +
  none
)

for prog in "sh -c true" "$out/small"; do
  # shellcheck disable=SC2086
  "$out/alternate" "$runs" 50 "${settings[@]}" -- $prog |
    awk -v p="${prog##*/}" '{ line = line sprintf("  %s %.1f us (%.3f)", $1, $2, $3) }
      END { printf "%-12s%s\n", p, line }'
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
