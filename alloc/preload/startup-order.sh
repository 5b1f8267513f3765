#!/usr/bin/env bash
# Writes alloc/preload/startup.ld: the functions of the preload library that short
# processes run, placed together at the start of its code, and the zero-initialised
# statics they touch, placed together at the start of its `.bss` (build.rs passes the
# script to the linker). Run it after changing what runs at a process's start.
#
#   alloc/preload/startup-order.sh        # needs valgrind and a C compiler
#
# It builds the release library (without the script), runs `sh -c true` (publishing on
# and off), `sh -c` with a pipe, alloc/bench/startup/small.c and `python3 -c pass` under
# it with callgrind, and lists every function of the library that ran. The same programs
# but `python3` run under lackey (valgrind's memory trace) with the dynamic linker's
# `LD_DEBUG=files` log, which gives the library's base address in each process: every
# static of the library's `.bss` they load or store is listed: first the largest of
# those the most processes touch (its first bytes share the last page of `.data`, which
# the dynamic linker writes anyway), then the others smallest first, so that the small ones share a few pages instead
# of lying one a page among the large tables. (A child that forks without an exec, as
# a shell's side of a pipe, has no dynamic linker log: its parent's base is used.) A function or a static is
# named by its mangled name without its hash (legacy `17h<hash>`, v0 crate
# disambiguators and back-references), so a new compiler or changed code elsewhere does
# not make the list stale; alloc/preload/tests/startup_layout.rs fails when a name no
# longer matches.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v valgrind >/dev/null || { echo "startup-order.sh: needs valgrind" >&2; exit 1; }
# Built without the script, in its own target directory: valgrind gives the functions of
# an extra code section no object ("ob=???"), so an ordered build would list nothing.
SLABSCOPE_PRELOAD_NO_ORDER=1 CARGO_TARGET_DIR="$PWD/target/startup-order" \
  cargo build --release -p slabscope-preload
lib="$PWD/target/startup-order/release/libslabscope_preload.so"
work=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm)
trap 'rm -rf "$work" "$shm"' EXIT
cc -O2 -o "$work/small" alloc/bench/startup/small.c

n=0
run() {
  n=$((n + 1))
  env "$@" LD_PRELOAD="$lib" SLABSCOPE_SHM_DIR="$shm" valgrind --tool=callgrind \
    --trace-children=yes --demangle=no --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$work/cg.$n.%p" "${cmd[@]}" >/dev/null 2>&1
}
cmd=(sh -c true); run; run SLABSCOPE_PUBLISH=0
cmd=(sh -c 'echo hi | cat >/dev/null'); run
cmd=("$work/small"); run
cmd=(python3 -c pass); run

# The statics: each process's memory trace (lk.<pid>) and its dynamic linker's log
# (ld.<pid>, where the library's base address is).
trace() {
  env "$@" LD_PRELOAD="$lib" SLABSCOPE_SHM_DIR="$shm" LD_DEBUG=files \
    LD_DEBUG_OUTPUT="$work/ld" valgrind --tool=lackey --trace-mem=yes --trace-children=yes \
    --log-file="$work/lk.%p" "${cmd[@]}" >/dev/null 2>&1
}
cmd=(sh -c true); trace; trace SLABSCOPE_PUBLISH=0
cmd=(sh -c 'echo hi | cat >/dev/null'); trace
cmd=("$work/small"); trace

exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}')
python3 - "$exported" "$lib" "$work" > "$work/startup.ld" <<'EOF'
import bisect, glob, os, re, subprocess, sys
exported, lib, work = set(sys.argv[1].split()), sys.argv[2], sys.argv[3]
outs = glob.glob(os.path.join(work, "cg.*"))
names = set()
for path in outs:
    ob = ""
    for line in open(path, errors="replace"):
        if line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn=") and ob.endswith("libslabscope_preload.so"):
            # Without callgrind's recursion suffix ('2) and LTO's .llvm.<hash> suffix.
            name = re.sub(r"'[0-9]+$", "", line[3:].strip())
            names.add(re.sub(r"\.llvm\.[0-9]+$", "", name))

def unhashed(name):
    p = re.sub(r"17h[0-9a-f]{16}E.*$", "17h*", name)         # legacy: the hash
    p = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", p)               # v0: crate disambiguators
    # v0 back-references: offsets into the name, which change with the disambiguators'
    # lengths (this also loosens a capital B inside an identifier: still a match).
    return re.sub(r"B[0-9A-Za-z]*_", "B*_", p)

def pattern(name):
    if name.startswith("0x"):            # no symbol: PLT stubs and the like
        return None
    if not name.startswith(("_ZN", "_R")):
        # The library's own exported functions (malloc and its family); not the C
        # runtime's (_init, frame_dummy: .init and crtbegin's .text) nor
        # libc_nonshared.a's (the archive rule below).
        return [f".text.{name}"] if name in exported else None
    return [f".text.*{unhashed(name)}"]                      # .text. or .text.unlikely.

pats = sorted({p for n in names for p in (pattern(n) or [])})
if len(pats) < 20:
    sys.exit(f"startup-order.sh: only {len(pats)} functions found; startup.ld left as it was")

# The .bss statics (Rust's: mangled), from the library: the symbols inside its .bss
# section (thread-locals are `b` symbols too, but their values are offsets in the TLS
# block, not addresses).
sections = subprocess.run(["readelf", "-S", "-W", lib], capture_output=True, text=True, check=True)
bss = next(
    (int(m.group(1), 16), int(m.group(1), 16) + int(m.group(2), 16))
    for m in (re.search(r"\]\s+\.bss\s+NOBITS\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", l)
              for l in sections.stdout.splitlines())
    if m
)
nm = subprocess.run(["nm", "-S", "-n", lib], capture_output=True, text=True, check=True)
statics = []
for line in nm.stdout.splitlines():
    f = line.split()
    if len(f) == 4 and f[2] in "bB" and f[3].startswith(("_ZN", "_R")):
        if bss[0] <= int(f[0], 16) < bss[1]:
            statics.append((int(f[0], 16), int(f[1], 16), f[3]))
starts = [s[0] for s in statics]
bases = {}
for ld in glob.glob(os.path.join(work, "ld.*")):
    pid = ld.rsplit(".", 1)[1]
    # The last link map of the library in the log is the traced program's (valgrind's
    # own launcher loads the preload first).
    lines = open(ld, errors="replace").read().splitlines()
    for i, l in enumerate(lines):
        if l.endswith("generating link map") and os.path.basename(lib) in l:
            m = re.search(r"base: 0x([0-9a-f]+)", lines[i + 1] if i + 1 < len(lines) else "")
            if m:
                bases[pid] = int(m.group(1), 16)
parents = {}
for trace in glob.glob(os.path.join(work, "lk.*")):
    m = re.search(r"Parent PID: (\d+)", open(trace, errors="replace").read(4096))
    if m:
        parents[trace.rsplit(".", 1)[1]] = m.group(1)

def base_of(pid):
    # A child forked without an exec (a shell's side of a pipe) has no dynamic linker
    # log: it has its parent's mappings.
    for _ in range(8):
        if pid in bases:
            return bases[pid]
        pid = parents.get(pid)
    return None

touched = {}   # name -> size
traces = {}    # name -> how many processes touched it
for trace in glob.glob(os.path.join(work, "lk.*")):
    base = base_of(trace.rsplit(".", 1)[1])
    if base is None:
        continue
    seen = set()
    for l in open(trace, errors="replace"):
        if len(l) < 4 or l[0] != " " or l[1] not in "LSM":
            continue
        a = int(l[3:].split(",", 1)[0], 16) - base
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < statics[i][0] + max(statics[i][1], 1):
            touched[statics[i][2]] = statics[i][1]
            seen.add(statics[i][2])
    for name in seen:
        traces[name] = traces.get(name, 0) + 1
# First the largest of those that the most processes touch: its first bytes (where a
# table keeps its lock and counts) share the page that the end of .data is on, written
# by the dynamic linker anyway; the rest smallest first after it, so that the small
# ones share a few pages.
first = max(touched, key=lambda n: (traces.get(n, 0), touched[n], n))
by_size = sorted((kv for kv in touched.items() if kv[0] != first), key=lambda kv: (kv[1], kv[0]))
data = []
for name, size in [(first, touched[first])] + by_size:
    p = f".bss.*{unhashed(name)}"
    if p not in data:
        data.append(p)
if len(data) < 10:
    sys.exit(f"startup-order.sh: only {len(data)} statics found; startup.ld left as it was")
print("/* Generated by alloc/preload/startup-order.sh: the functions that short processes")
print(" * run, placed together before the rest of the code, so that starting a process")
print(" * faults in a few pages of the library instead of pages all over it. */")
print("SECTIONS {")
print("  .text.slabscope_start : {")
print("    /* libc_nonshared.a: atexit and pthread_atfork, called at start. */")
print("    *libc_nonshared.a:*(.text .text.*)")
for p in pats:
    print(f"    *({p})")
print("  }")
print("} INSERT BEFORE .text;")
print()
print("/* The zero-initialised statics that they touch at the start of the library's .bss,")
print(" * beside the last page of .data: the largest that most processes touch first, then")
print(" * the others smallest first. */")
print("SECTIONS {")
print("  .bss.slabscope_start (NOLOAD) : {")
for p in data:
    print(f"    *({p})")
print("  }")
print("} INSERT BEFORE .bss;")
EOF
mv "$work/startup.ld" alloc/preload/startup.ld
echo "startup-order.sh: wrote alloc/preload/startup.ld ($(grep -c '^    \*(\.text' alloc/preload/startup.ld) functions, $(grep -c '^    \*(\.bss' alloc/preload/startup.ld) statics)"
