//! Debug tracing under the preload: the events are written by `libslabscope_trace.so`,
//! which the preload loads only in a process that asks for tracing (`SLABSCOPE_LOG`, or
//! a `log=` filter through the control channel), so that the others never map it.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Allocates in many classes for `secs` seconds (0: once), printing "ready" first.
fn python(secs: u32) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(format!(
        "import sys, time\n\
         print('ready', flush=True)\n\
         end = time.time() + {secs}\n\
         while True:\n\
         \x20   keep = [bytearray(n) for n in range(1, 40000, 97)]\n\
         \x20   if time.time() >= end: break\n\
         \x20   time.sleep(0.02)\n"
    ));
    cmd
}

fn maps_of(cmd: Command, shm: &Path, log: Option<&str>) -> String {
    let mut cmd = preloaded(cmd, shm);
    cmd.arg("/proc/self/maps").env_remove("SLABSCOPE_TRACE_LIB");
    match log {
        Some(f) => cmd.env("SLABSCOPE_LOG", f),
        None => cmd.env_remove("SLABSCOPE_LOG"),
    };
    String::from_utf8(run_ok(&mut cmd).stdout).unwrap()
}

#[test]
fn only_a_process_that_asks_for_tracing_maps_the_tracing_library() {
    let shm = shm_dir();
    let quiet = maps_of(Command::new("cat"), shm.path(), None);
    assert!(quiet.contains("libslabscope_preload"), "{quiet}");
    assert!(!quiet.contains("libslabscope_trace"), "{quiet}");
    let asked = maps_of(Command::new("cat"), shm.path(), Some("slabscope=debug"));
    assert!(asked.contains("libslabscope_trace.so"), "{asked}");
    assert_no_segments(shm.path());
}

#[test]
fn slabscope_log_writes_the_events_through_the_loaded_library() {
    let shm = shm_dir();
    let log = shm.path().join("trace.log");
    let mut cmd = preloaded(python(0), shm.path());
    cmd.env("SLABSCOPE_LOG", "slabscope::slot=debug")
        .env("SLABSCOPE_LOG_FILE", &log)
        .env_remove("SLABSCOPE_TRACE_LIB");
    let out = run_ok(&mut cmd);
    assert_quiet("python3 with SLABSCOPE_LOG", &out.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    let acquires = text
        .lines()
        .filter(|l| l.contains("DEBUG slabscope::slot: acquire class="))
        .count();
    assert!(acquires >= 10, "too few slot acquires traced:\n{text}");
    assert!(
        !text.contains("slabscope::superslab"),
        "the filter lets only slabscope::slot through:\n{text}"
    );
    std::fs::remove_file(&log).unwrap();
    assert_no_segments(shm.path());
}

#[test]
fn a_tracing_library_that_cannot_be_loaded_is_said_once_and_the_program_runs() {
    let shm = shm_dir();
    let missing = shm.path().join("nowhere").join("libslabscope_trace.so");
    // The preload itself loads, but is no tracing library.
    for (lib, why) in [
        (missing.clone(), "cannot open shared object file"),
        (
            preload_lib(),
            "not a tracing library of this build of slabscope",
        ),
    ] {
        // One process (a `python3` may be a shell script that runs others).
        let mut cmd = preloaded(Command::new("sort"), shm.path());
        cmd.arg("/proc/self/maps")
            .env("SLABSCOPE_LOG", "slabscope=debug")
            .env("SLABSCOPE_TRACE_LIB", &lib);
        let out = run_ok(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said: Vec<_> = stderr.lines().filter(|l| l.contains("slabscope")).collect();
        assert_eq!(said.len(), 1, "{stderr}");
        assert!(
            said[0].contains(&format!(
                "cannot load SLABSCOPE_TRACE_LIB={}",
                lib.display()
            )) && said[0].contains(why)
                && said[0].ends_with("nothing is traced"),
            "{stderr}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("libslabscope_preload"));
    }
    assert_no_segments(shm.path());
}

#[test]
fn a_log_filter_through_the_control_channel_loads_the_library_later() {
    let Some(inspect) = inspector() else { return };
    let shm = shm_dir();
    let log = shm.path().join("trace.log");
    let mut cmd = preloaded(python(60), shm.path());
    cmd.env_remove("SLABSCOPE_LOG")
        .env_remove("SLABSCOPE_TRACE_LIB")
        .env("SLABSCOPE_LOG_FILE", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    assert_eq!(first_line(&mut child).trim(), "ready");
    let pid = child.id();
    let maps = || std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    assert!(
        !maps().contains("libslabscope_trace"),
        "loaded before it was asked for"
    );
    // Drains (trace level) happen all the time; slot and large-block events mostly
    // while the workload warms up, which may be over when the filter arrives.
    let out = run_ok(
        Command::new(inspect)
            .args([
                "ctl",
                "--timeout",
                "20000",
                &pid.to_string(),
                "log=slabscope=trace",
            ])
            .env("SLABSCOPE_SHM_DIR", shm.path()),
    );
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let traced = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(" slabscope::") || Instant::now() >= deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mapped = maps().contains("libslabscope_trace.so");
    child.kill().unwrap();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        traced.contains(" slabscope::"),
        "nothing traced within 30 s:\n{traced}\n{stderr}"
    );
    assert!(mapped, "the tracing library is not mapped");
}
