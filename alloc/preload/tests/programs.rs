//! Real programs nobody here wrote, run under the preload: their output must be what
//! it is without it, and their segment must show live bytes while they run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A million lines of numbers in a scrambled order, with repeats.
fn million_lines() -> Vec<u8> {
    let mut out = Vec::with_capacity(8 << 20);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(out, "{} w{}", x % 500_000, x % 97).unwrap();
    }
    out
}

/// Runs `program args` with `input` on stdin, once plainly and once under the preload.
/// Under the preload, all of stdin but its end is written, the segment is checked while
/// the program holds its data, then stdin is closed. Returns (plain, preloaded) stdout.
fn both_ways(program: &str, args: &[&str], input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let plain = run_with_input(Command::new(program).args(args), input);
    let shm = shm_dir();
    let mut cmd = preloaded(Command::new(program), shm.path());
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    let live = check_segment(&mut child, shm.path());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} under the preload: {}",
        out.status
    );
    assert_quiet(program, &out.stderr);
    println!("{program}: {live} live bytes in its segment while it ran");
    (plain, out.stdout)
}

fn run_with_input(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", out.status);
    out.stdout
}

#[test]
fn sort_of_a_million_lines_matches_glibc() {
    let input = million_lines();
    let (plain, preloaded) = both_ways("sort", &["-n", "-k1,1", "-k2,2"], &input);
    assert_eq!(plain.iter().filter(|&&b| b == b'\n').count(), 1_000_000);
    assert!(plain == preloaded, "sort output differs under the preload");
}

/// Under `ulimit -v` the allocator's own address space (the pagemap, the rounding of
/// large mappings, cached mappings) must leave a program what glibc leaves it: python
/// gets a 900 MiB buffer under a 1 GiB limit, as it does under glibc.
#[test]
fn python_under_a_one_gib_address_space_limit_gets_what_glibc_gives() {
    let script = "b = bytearray(900 << 20); b[-1] = 1; d = {i: str(i) for i in range(100000)}; \
                  print(len(b) >> 20, len(d), sum(map(len, d.values())))";
    let limited = format!("ulimit -v 1048576 && exec python3 -c '{script}'");
    let plain = run_ok(Command::new("sh").args(["-c", &limited]));
    assert_eq!(plain.stdout, b"900 100000 488890\n", "without the preload");
    let shm = shm_dir();
    let out = run_ok(preloaded(Command::new("sh"), shm.path()).args(["-c", &limited]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "900 100000 488890\n",
        "under the preload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_quiet("python3 under ulimit -v", &out.stderr);
}

/// A program that lowers its own `RLIMIT_AS` after it started (test harnesses and
/// sandboxes do) keeps what it had under glibc: the allocator's reservations made
/// before the call stay small (the pagemap is 64 MiB of address space, not 8 GiB).
#[test]
fn python_lowering_its_own_address_space_limit_keeps_allocating() {
    let script = "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); \
                  b = bytearray(200 << 20); d = [str(i) for i in range(300000)]; \
                  print(len(b) >> 20, len(d))";
    let plain = run_ok(Command::new("python3").args(["-c", script]));
    assert_eq!(plain.stdout, b"200 300000\n", "without the preload");
    let shm = shm_dir();
    let out = run_ok(preloaded(Command::new("python3"), shm.path()).args(["-c", script]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 300000\n");
    assert_quiet("python3 after setrlimit", &out.stderr);
}

#[test]
fn perl_hash_of_a_million_lines_matches_glibc() {
    let script = r#"
        while (<STDIN>) { chomp; my ($n, $w) = split / /; $h{$w} += $n; push @{$l{$w}}, $n; }
        for my $w (sort keys %h) { my @s = sort { $a <=> $b } @{$l{$w}};
            print "$w $h{$w} ", scalar(@s), " $s[0] $s[-1] $s[$#s / 2]\n"; }
    "#;
    let input = million_lines();
    let (plain, preloaded) = both_ways("perl", &["-e", script], &input);
    assert_eq!(plain.iter().filter(|&&b| b == b'\n').count(), 97);
    assert!(plain == preloaded, "perl output differs under the preload");
}

#[test]
fn awk_over_a_million_lines_matches_glibc() {
    let script = "{ c[$2]++; s[$2] += $1; b += length($0) } \
                  END { for (k in c) print k, c[k], s[k] | \"sort\"; close(\"sort\"); \
                        for (k in c) n++; print \"total\", n, NR, b }";
    let input = million_lines();
    let (plain, preloaded) = both_ways("awk", &[script], &input);
    let text = String::from_utf8_lossy(&plain);
    assert!(text.contains("total 97 1000000 "), "{text}");
    assert_eq!(text.lines().count(), 98, "{text}");
    assert!(plain == preloaded, "awk output differs under the preload");
}

#[test]
fn python_threads_build_and_free_hundreds_of_megabytes() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/workload.py");
    let work = tempfile::tempdir().unwrap();
    let ready = work.path().join("ready");
    let rounds = "6";
    let plain = run_ok(
        Command::new("python3")
            .arg(&script)
            .arg(rounds)
            .arg(work.path().join("plain-ready"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONMALLOC", "malloc")
            .env("NO_WAIT", "1")
            .stdin(Stdio::null()),
    );
    let shm = shm_dir();
    let mut cmd = preloaded(Command::new("python3"), shm.path());
    let mut child = cmd
        .arg(&script)
        .arg(rounds)
        .arg(&ready)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Every object through malloc, not pymalloc's own mmapped arenas.
        .env("PYTHONMALLOC", "malloc")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("python3 under the preload exited early ({status}):\n{err}");
        }
        assert!(Instant::now() < deadline, "python3 never became ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();
    let live = check_segment(&mut child, shm.path());
    assert!(
        live > 10 << 20,
        "python holds > 10 MiB when ready; segment says {live}"
    );
    std::fs::write(work.path().join("ready.go"), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 under the preload: {}",
        out.status
    );
    assert_quiet("python3", &out.stderr);
    let line = |o: &[u8]| {
        BufReader::new(o)
            .lines()
            .map(Result::unwrap)
            .find(|l| l.starts_with("checksum "))
            .unwrap_or_else(|| panic!("no checksum in {}", String::from_utf8_lossy(o)))
    };
    assert_eq!(line(&out.stdout), line(&plain.stdout));
    assert!(
        !segment_path_in(shm.path(), pid).exists(),
        "python3 left its segment behind at normal exit"
    );
}

fn git(repo: &Path, shm: &Path, args: &[&str]) -> Vec<u8> {
    let mut cmd = preloaded(Command::new("git"), shm);
    cmd.current_dir(repo)
        .args([
            "-c",
            "user.name=Slab Scope",
            "-c",
            "user.email=slab@scope.invalid",
        ])
        .args(["-c", "init.defaultBranch=main", "-c", "gc.auto=0"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .stdin(Stdio::null());
    let out = run_ok(&mut cmd);
    assert_quiet(&format!("git {}", args.join(" ")), &out.stderr);
    out.stdout
}

#[test]
fn git_init_add_commit_log_gc_on_a_scratch_repository() {
    let shm = shm_dir();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path();
    git(repo, shm.path(), &["init", "-q", "."]);
    for i in 0..400 {
        let dir = repo.join(format!("d{}", i % 20));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i % 50 + 1),
        )
        .unwrap();
    }
    git(repo, shm.path(), &["add", "."]);
    git(repo, shm.path(), &["commit", "-q", "-m", "first"]);
    for i in 0..400 {
        if i % 3 == 0 {
            let f = repo.join(format!("d{}/f{i}.txt", i % 20));
            std::fs::write(f, format!("changed {i}\n")).unwrap();
        }
    }
    git(repo, shm.path(), &["commit", "-q", "-a", "-m", "second"]);
    let log = git(repo, shm.path(), &["log", "--format=%s", "--stat"]);
    let log = String::from_utf8(log).unwrap();
    assert!(log.starts_with("second\n"), "{log}");
    assert!(log.contains("134 files changed"), "{log}");
    assert!(log.contains("400 files changed"), "{log}");
    git(repo, shm.path(), &["gc", "-q"]);
    let fsck = git(repo, shm.path(), &["fsck", "--full", "--strict"]);
    assert!(fsck.is_empty(), "{}", String::from_utf8_lossy(&fsck));
    let count = String::from_utf8(git(repo, shm.path(), &["count-objects", "-v"])).unwrap();
    // 400 + 134 blobs, 21 + 21 trees, 2 commits.
    assert!(count.contains("in-pack: 578\n"), "{count}");

    // A long-lived git: cat-file --batch holds its object cache while stdin is open.
    let mut cmd = preloaded(Command::new("git"), shm.path());
    let mut child = cmd
        .current_dir(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let wanted = "HEAD:d7/f7.txt\nHEAD~1:d7/f7.txt\nHEAD:d3/f3.txt\n";
    stdin.write_all(wanted.as_bytes()).unwrap();
    stdin.flush().unwrap();
    check_segment(&mut child, shm.path());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_quiet("git cat-file", &out.stderr);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&"file 7\n".repeat(8)), "{text}");
    assert!(text.contains("changed 3\n"), "{text}");
    assert_no_segments(shm.path());
}

/// The C++ compiler under the preload (`c++`, its `cc1plus` and the assembler, every
/// one preloaded; `cc1plus` links the C++ runtime statically, so its `operator new`
/// is its own and calls the library's `malloc`): it compiles a C++ source of this
/// repository to the same object file as on glibc, and leaves no segment.
#[test]
fn cxx_compiler_emits_the_same_object_as_on_glibc() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/cxx_new.cpp");
    let out = tempfile::tempdir().unwrap();
    let compile = |cmd: &mut Command, obj: &str| {
        let obj = out.path().join(obj);
        let res = run_ok(cmd.args(["-O2", "-c", "-o"]).arg(&obj).arg(src));
        assert_quiet("c++", &res.stderr);
        std::fs::read(obj).unwrap()
    };
    let plain = compile(&mut Command::new("c++"), "plain.o");
    let shm = shm_dir();
    let preloaded_obj = compile(
        &mut preloaded(Command::new("c++"), shm.path()),
        "preloaded.o",
    );
    assert!(plain.len() > 10_000, "{} bytes of object", plain.len());
    assert!(plain == preloaded_obj, "the objects differ");
    assert_no_segments(shm.path());
}

/// `apt-cache`, a C++ program on the shared C++ runtime, whose `new` and `delete` bind to
/// the library's (`LD_DEBUG=bindings` shows `_Znwm` of `libapt-pkg` bound to it): it
/// reads the package cache and answers as on glibc. Debian's package tool is on every
/// machine CI runs on; elsewhere the test says it has nothing to run and fails under
/// `CI=true`.
#[test]
fn apt_cache_answers_as_on_glibc() {
    if Command::new("apt-cache").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "apt-cache is missing on a CI machine"
        );
        println!("skipped: no apt-cache on this machine");
        return;
    }
    let shm = shm_dir();
    for args in [&["stats"][..], &["policy", "libc6", "dash", "apt"]] {
        let plain = run_ok(Command::new("apt-cache").args(args));
        let out = run_ok(preloaded(Command::new("apt-cache"), shm.path()).args(args));
        assert_quiet("apt-cache", &out.stderr);
        assert!(!plain.stdout.is_empty(), "apt-cache {args:?} said nothing");
        assert!(
            out.stdout == plain.stdout,
            "apt-cache {args:?} answers differently under the preload:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_no_segments(shm.path());
}
