#!/usr/bin/env python3
"""The least a heap check can cost: floor builds of the benchmark binary.

docs/BENCHMARKS.md, "What the checks cost at the least", explains the builds. Each one
puts part of check mode's work (`SLABSCOPE_CHECK`) straight into the default mode's fast
paths and nothing else: requests padded for the trailer, the trailer's live and freed
state, the pattern and the canary, the quarantine. The script copies the tree at HEAD
into target/check-floor/src, edits it for each build, builds `bench-slabscope` there,
then runs every build against the unchanged binary with checks off, in rounds whose
order alternates, and prints the median of the per-round time ratios (the build's time
over the default mode's) with a bootstrap 95 % interval. The checked mode as built
(`SLABSCOPE_CHECK=1`) runs in the same way for comparison.

    alloc/bench/check-floor.py [--rounds 21] [--workload larson] [--threads 1]

The edits look for fixed text in alloc/src; when the code it looks for has changed,
the script stops and names the file and the text.
"""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "target", "check-floor")

# The allocation fast path with sampling off: the padded class's magazine, then
# ALLOC_CHECK on the block popped (`p`, `bytes` long, `size` requested).
ALLOC_HIT = (
    "alloc/src/front.rs",
    """            return unsafe { thread::magazine(st, class_offset(size)).pop::<LOWER>() };""",
    """            let padded = (size + 8).max(24);
            if padded > SMALL_MAX {
                return None;
            }
            let off = class_offset(padded);
            let p = unsafe { thread::magazine(st, off).pop::<LOWER>() }?;
            let bytes = crate::size_class::block_size(off >> CLASS_SHIFT);
            let (p_, size_) = (p.as_ptr(), size);
            unsafe { crate::check::block::floor_alloc(p_, size_, bytes) };
            return Some(p);""",
)

# The allocation slow path serves the padded request too, and marks its block.
ALLOC_MISS = (
    "alloc/src/front.rs",
    """    slow_path::alloc_miss(size, align, publish_default)
}""",
    """    let padded = (size + 8).max(24);
    if padded <= SMALL_MAX && align <= MIN_ALIGN {
        let p = slow_path::alloc_miss(padded, align, publish_default);
        if let Some((_, w)) = superslab::lookup(p as usize) {
            let bytes = crate::size_class::block_size(crate::slot::meta_class(w));
            unsafe { crate::check::block::floor_alloc(p, size, bytes) };
        }
        return p;
    }
    slow_path::alloc_miss(size, align, publish_default)
}""",
)

# The owner's free: the block is checked before its push (a failed check takes the
# unchecked slow path), then pushed as before (PUSH_ANCHOR, the text the edit finds).
PUSH_ANCHOR = """    if !m.push(p) {
        return OwnerFree::Full(st, meta_class(w));
    }"""
CHECK_OWNED = """    let bytes = crate::size_class::block_size(off >> crate::size_class::CLASS_SHIFT);
    if !unsafe { crate::check::block::floor_free(p, bytes) } {
        return OwnerFree::NotOwned;
    }
"""
FREE_OWNED = ("alloc/src/thread.rs", PUSH_ANCHOR, CHECK_OWNED + PUSH_ANCHOR)

# The same with the quarantine: the block freed goes into the thread's quarantine (its
# class offset kept in the high bits) and the oldest one into its magazine.
FREE_OWNED_QUARANTINE = (
    "alloc/src/thread.rs",
    PUSH_ANCHOR,
    CHECK_OWNED
    + """    let _ = (m, w);
    let Some(old) = (unsafe { (*st).quarantine.put(a | (off << 48)) }) else {
        return OwnerFree::Pushed;
    };
    let (q, off) = ((old & ((1 << 48) - 1)) as *mut u8, old >> 48);
    if !unsafe { magazine(st, off) }.push(q) {
        crate::slow_path::free_overflow(q, st, off >> crate::size_class::CLASS_SHIFT);
        return OwnerFree::Pushed;
    }""",
)


def hooks(alloc_body, free_body):
    """The two functions the fast paths call, appended to check/block.rs."""
    return (
        "alloc/src/check/block.rs",
        "#[cfg(test)]\nmod tests {",
        f"""/// Floor build: the check of a block just handed out.
#[inline(always)]
pub unsafe fn floor_alloc(p: *mut u8, requested: usize, bytes: usize) {{
    let _ = (p, requested, bytes);
    {alloc_body}
}}

/// Floor build: the check of a block freed by its owner; `false` sends it to the slow
/// path unchanged.
#[inline(always)]
pub unsafe fn floor_free(p: *mut u8, bytes: usize) -> bool {{
    let _ = (p, bytes);
    {free_body}
}}

#[cfg(test)]
mod tests {{""",
    )


STATE_ALLOC = "unsafe { trailer(p, bytes) }.store(live_word(p as usize, bytes - requested), Ordering::Release);"
STATE_FREE = """let t = unsafe { trailer(p, bytes) };
    let w = t.load(Ordering::Acquire);
    if !matches!(decode(p as usize, bytes, w), State::Live(_)) {
        return false;
    }
    STORE"""
CAS = "t.compare_exchange(w, freed_word(p as usize), Ordering::AcqRel, Ordering::Acquire).is_ok()"
PLAIN = "t.store(freed_word(p as usize), Ordering::Release);\n    true"
CHECK_ALLOC = "let _ = unsafe { on_alloc(p, requested, bytes, true) };"
CHECK_FREE = "matches!(unsafe { on_free(p, bytes, true) }, Freed::Now { overflow: None, .. })"

# check/block.rs: 16-byte ranges, and the free's compare-and-swap as a plain store.
RANGES_16 = [
    ("alloc/src/check/block.rs", "pub const PATTERN_MAX: usize = 64;", "pub const PATTERN_MAX: usize = 16;"),
    ("alloc/src/check/block.rs", "pub const CANARY_MAX: usize = 64;", "pub const CANARY_MAX: usize = 16;"),
    ("alloc/src/check/block.rs", "const RANGE_MAX: usize = 64;", "const RANGE_MAX: usize = 16;"),
]
FREE_PLAIN = [
    (
        "alloc/src/check/block.rs",
        """    if t.compare_exchange(w, freed_word(a), Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Another thread freed it between the load and here.
        return Freed::Already;
    }""",
        """    t.store(freed_word(a), Ordering::Release);""",
    )
]
QUARANTINE_1 = [
    ("alloc/src/check/quarantine.rs", "pub const QUARANTINE: usize = 256;", "pub const QUARANTINE: usize = 1;")
]

FAST = [ALLOC_HIT, ALLOC_MISS]

# (name, edits, environment of the run): from the least work to the most.
BUILDS = [
    ("padding", FAST + [FREE_OWNED, hooks("", "true")], ""),
    ("state, plain", FAST + [FREE_OWNED, hooks(STATE_ALLOC, STATE_FREE.replace("STORE", PLAIN))], ""),
    ("state", FAST + [FREE_OWNED, hooks(STATE_ALLOC, STATE_FREE.replace("STORE", CAS))], ""),
    ("16 B, plain", FAST + [FREE_OWNED, hooks(CHECK_ALLOC, CHECK_FREE)] + RANGES_16 + FREE_PLAIN, ""),
    ("16 B", FAST + [FREE_OWNED, hooks(CHECK_ALLOC, CHECK_FREE)] + RANGES_16, ""),
    ("16 B, quarantine", FAST + [FREE_OWNED_QUARANTINE, hooks(CHECK_ALLOC, CHECK_FREE)] + RANGES_16, ""),
    ("64 B", FAST + [FREE_OWNED, hooks(CHECK_ALLOC, CHECK_FREE)], ""),
    ("checked mode as built", [], "SLABSCOPE_CHECK=1"),
    ("as built, 16-byte ranges", RANGES_16, "SLABSCOPE_CHECK=1"),
    ("as built, 16-byte ranges, quarantine of 1", RANGES_16 + QUARANTINE_1, "SLABSCOPE_CHECK=1"),
]


def fail(msg):
    print(f"check-floor: {msg}", file=sys.stderr)
    sys.exit(1)


def copy_tree(dst):
    """A copy of the tree at HEAD (tracked files only)."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", "HEAD"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", dst], input=archive, check=True)


def edit(src, edits):
    for path, old, new in edits:
        f = os.path.join(src, path)
        with open(f) as h:
            text = h.read()
        if text.count(old) != 1:
            fail(f"{path} no longer holds, once, the text this build edits:\n{old}")
        with open(f, "w") as h:
            h.write(text.replace(old, new))


def build(name, edits, target):
    src = os.path.join(WORK, "src")
    copy_tree(src)
    edit(src, edits)
    r = subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "slabscope-bench", "--bin", "bench-slabscope"],
        cwd=src,
        env=dict(os.environ, CARGO_TARGET_DIR=target),
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        fail(f"the build '{name}' does not compile:\n{r.stderr[-3000:]}")
    out = os.path.join(WORK, "bin", name.replace(" ", "_").replace(",", ""))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    shutil.copy(os.path.join(target, "release", "bench-slabscope"), out)
    return out


def ops(binary, env, args):
    """One run's throughput. The caller's SLABSCOPE_* settings are dropped (a sampling
    or check setting would change what every build measures); `env` sets the run's."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SLABSCOPE_")}
    e.update(SLABSCOPE_PUBLISH="0", SLABSCOPE_CHECK="0")
    for kv in env.split():
        k, v = kv.split("=", 1)
        e[k] = v
    r = subprocess.run([binary] + args, env=e, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{binary} {' '.join(args)} ({env or 'checks off'}) failed with status {r.returncode}:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["ops_per_sec"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    # Not growth: its realloc and usable-size paths do not pad, so its frees would take
    # the slow path in every floor build. xmalloc's frees are all remote, which the
    # floor builds leave unchecked: its floors read low.
    ap.add_argument("--workload", default="larson", choices=["larson", "random-mixed", "xmalloc", "cache-scratch"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", default="full", choices=["smoke", "quick", "full"])
    a = ap.parse_args()
    if a.rounds < 1 or a.threads < 1:
        fail("--rounds and --threads must be at least 1")

    target = os.path.join(WORK, "target")
    # The default mode is HEAD unedited, built like the others (not whatever binary the
    # working tree last built).
    print("building the default mode", file=sys.stderr)
    base = build("default", [], target)
    bins = []
    for name, edits, env in BUILDS:
        print(f"building {name}", file=sys.stderr)
        bins.append((name, build(name, edits, target) if edits else base, env))

    args = ["--workload", a.workload, "--threads", str(a.threads), "--mode", a.mode]
    rounds = f"{a.rounds} round{'s' if a.rounds != 1 else ''}"
    print(f"{a.workload} x{a.threads}, {rounds}: time over the default mode's, median (95 % interval)")
    for name, binary, env in bins:
        ratios = []
        for r in range(a.rounds):
            if r % 2 == 0:
                d = ops(base, "", args)
                v = ops(binary, env, args)
            else:
                v = ops(binary, env, args)
                d = ops(base, "", args)
            ratios.append(d / v)
        rng = random.Random(1)
        boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
        lo, hi = boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]
        print(f"  {name:44} {statistics.median(ratios):.3f} ({lo:.3f}-{hi:.3f})", flush=True)


if __name__ == "__main__":
    main()
