#!/usr/bin/env bash
# What heap checks cost real programs (docs/BENCHMARKS.md, "Heap checks"): each program
# runs under LD_PRELOAD of libslabscope_preload.so with SLABSCOPE_CHECK=0 and =1 in turn,
# ROUNDS times, the order alternating; prints the median wall time of each mode and
# their ratio. Publishing stays on (as a user would run it); the segments go to a
# temporary tmpfs directory. A program that is not installed is left out, and said so.
#
#   cargo build --release -p slabscope-preload
#   alloc/bench/check-programs.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
export LC_ALL=C

rounds="${1:-5}"
lib="$PWD/target/release/libslabscope_preload.so"
[ -f "$lib" ] || { echo "check-programs.sh: build $lib first" >&2; exit 1; }
work=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$work" "$shm"' EXIT
export SLABSCOPE_SHM_DIR="$shm"

# Inputs: a JSON round trip of 60,000 small records (CPython: objects over 512 bytes
# and pymalloc's arenas come from malloc), hashes of arrays in perl, 400,000 lines to
# sort, a table of 200,000 rows and its index in SQLite, a C file to compile, the
# history of this repository.
cat > "$work/work.py" <<'EOF'
import json, random
random.seed(1)
data = [{"id": i, "name": "n%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5), "v": random.random()}
        for i in range(60000)]
for _ in range(6):
    s = json.dumps(data)
    d = json.loads(s)
    m = {x["name"]: x for x in d}
    l = sorted(d, key=lambda x: x["v"])
print(len(s), len(m), l[0]["id"])
EOF
cat > "$work/work.pl" <<'EOF'
my %h;
for my $r (1 .. 3) {
    %h = ();
    for (1 .. 300000) { $h{"k$_"} = [$_, "x$_" x 3, { a => $_ }] }
    my @k = sort keys %h;
    my $s = join(",", @k[0 .. 1000]);
}
print scalar(keys %h), "\n";
EOF
cat > "$work/work.sql" <<'EOF'
create table t(a, b);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 200000)
insert into t select x, hex(randomblob(40)) from c;
create index i on t(b);
select count(*), sum(length(b)) from t group by a % 7;
EOF
seq 1 400000 | awk 'BEGIN { srand(1) } { print int(rand() * 1e9) " line " $1 }' > "$work/lines.txt"

# One function per program, run in this directory.
p_python3() { python3 "$work/work.py"; }
p_perl() { perl "$work/work.pl"; }
p_sort() { sort "$work/lines.txt"; }
p_sqlite3() { sqlite3 -bail :memory: ".read $work/work.sql"; }
p_gcc() { gcc -O2 -w -c alloc/preload/tests/c/misuse.c -o "$work/misuse.o"; }
p_git() { git log --stat -n 300; }
programs=(python3 perl sort sqlite3 gcc git)

# shellcheck source=alloc/bench/median.sh
source alloc/bench/median.sh
run() { # MODE PROGRAM: wall seconds of one run; stops the script if the run fails or
  # checks report a heap error (mode 1 reports and goes on)
  local mode=$1 name=$2 s e
  s=$(date +%s%N)
  if ! SLABSCOPE_CHECK=$mode LD_PRELOAD="$lib" "p_$name" > /dev/null 2> "$work/stderr" < /dev/null; then
    echo "check-programs.sh: $name failed with SLABSCOPE_CHECK=$mode:" >&2
    tail -n 20 "$work/stderr" >&2
    exit 1
  fi
  e=$(date +%s%N)
  if grep -q "slabscope: heap error" "$work/stderr"; then
    echo "check-programs.sh: $name: heap errors reported:" >&2
    grep "slabscope: heap error" "$work/stderr" | head -n 5 >&2
    exit 1
  fi
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f\n", (e - s) / 1e9 }'
}

printf '%-8s %12s %12s %8s\n' program "default s" "checked s" ratio
for name in "${programs[@]}"; do
  if ! command -v "$name" > /dev/null; then
    printf '%-8s not installed: left out\n' "$name"
    continue
  fi
  off="" on=""
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
      off+="$(run 0 "$name")"$'\n'
      on+="$(run 1 "$name")"$'\n'
    else
      on+="$(run 1 "$name")"$'\n'
      off+="$(run 0 "$name")"$'\n'
    fi
  done
  a=$(printf '%s' "$off" | median)
  b=$(printf '%s' "$on" | median)
  awk -v n="$name" -v a="$a" -v b="$b" 'BEGIN { printf "%-8s %12.3f %12.3f %8.2f\n", n, a, b, b / a }'
done
