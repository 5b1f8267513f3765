#!/usr/bin/env bash
# What each kind of heap misuse meets (docs/DEBUGGING.md, "What each kind of misuse
# meets"): builds mimalloc-bench's security programs (its `bench/security` directory,
# not part of this repository: give its path) the way its CMakeLists.txt does, at the
# three sizes it uses, runs each once on glibc alone, under LD_PRELOAD of Debian's
# libmimalloc and libjemalloc (alloc/bench/setup-preload.sh) when installed, and under
# libslabscope_preload.so by default and with SLABSCOPE_CHECK=1, and prints per kind of
# misuse how many programs got each outcome:
#   reported  the program ran to its end and slabscope said what it refused;
#   abort     the allocator stopped the process (SIGABRT);
#   SIGSEGV   the process faulted;
#   silent    the program ran to its end and nothing was said.
# Segments go to a temporary directory (the processes that fault keep theirs).
#
#   cargo build --release -p slabscope-preload
#   alloc/bench/misuse-programs.sh /path/to/mimalloc-bench/bench/security
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C

src="${1:?usage: misuse-programs.sh MIMALLOC_BENCH/bench/security}"
[ -f "$src/common.h" ] || { echo "misuse-programs.sh: no common.h in $src" >&2; exit 1; }
lib="$PWD/target/release/libslabscope_preload.so"
[ -f "$lib" ] || { echo "misuse-programs.sh: build $lib first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SLABSCOPE_SHM_DIR="$work/shm"
mkdir -p "$SLABSCOPE_SHM_DIR" "$work/bin"

flags=(-O2 -w -fno-inline -fno-builtin-inline -fno-inline-small-functions -fno-ipa-pure-const)
for f in "$src"/*.c; do
    n=$(basename "$f" .c)
    for size in small:8 medium:4096 large:262144; do
        cc "${flags[@]}" -DALLOCATION_SIZE="${size#*:}" -o "$work/bin/${n}_${size%%:*}" "$f"
    done
done
for f in "$src"/*.cc; do
    c++ -O2 -w -std=c++17 -fsized-deallocation -DALLOCATION_SIZE=4096 \
        -o "$work/bin/$(basename "$f" .cc)" "$f"
done

# Configurations: name, LD_PRELOAD, extra environment.
configs=("slabscope|$lib|" "slabscope-check|$lib|SLABSCOPE_CHECK=1" "glibc||")
for l in libmimalloc.so.2.0:libmimalloc libjemalloc.so.2:libjemalloc; do
    p="/usr/lib/x86_64-linux-gnu/${l%%:*}"
    if [ -f "$p" ]; then configs+=("${l#*:}|$p|"); else echo "(${l#*:} not installed: left out)"; fi
done

# The kind of misuse a program makes, from its name.
kind() {
    case "$1" in
        double_free*) echo "double-free" ;;
        invalid_free* | invalid_*delete*) echo "invalid-free" ;;
        *after_free*) echo "after-free" ;;
        *overflow* | *underflow*) echo "overflow" ;;
        *) echo "other" ;;
    esac
}

printf '%-16s %-13s %s\n' configuration kind outcomes
for c in "${configs[@]}"; do
    IFS='|' read -r name preload extra <<<"$c"
    declare -A count=()
    for t in "$work"/bin/*; do
        set +e
        # The group's redirection keeps bash's own line about a child's fault off the
        # output.
        # shellcheck disable=SC2086 # $extra is empty or one NAME=VALUE word.
        { env $extra LD_PRELOAD="$preload" timeout 60 "$t" >"$work/out" 2>"$work/err"; } 2>/dev/null
        rc=$?
        set -e
        if grep -q NOT_CAUGHT "$work/out"; then
            if grep -q '^slabscope: ' "$work/err"; then o=reported; else o=silent; fi
        elif [ "$rc" = 134 ]; then o=abort
        elif [ "$rc" = 139 ]; then o=SIGSEGV
        else o=exit$rc; fi
        k=$(kind "$(basename "$t")")
        count["$k $o"]=$((${count["$k $o"]:-0} + 1))
    done
    for k in double-free invalid-free after-free overflow other; do
        line=""
        for key in $(printf '%s\n' "${!count[@]}" | tr ' ' '=' | grep "^$k=" | sort); do
            line+="${key#"$k="} ${count["${key/=/ }"]}, "
        done
        printf '%-16s %-13s %s\n' "$name" "$k" "${line%, }"
    done
    unset count
done
