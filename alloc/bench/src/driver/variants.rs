//! Which allocator binaries a run compares, how each is started and how the driver
//! checks that the allocator it names is the one that served the allocations.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::Skipped;

/// How the driver checks that a variant's allocator really served the allocations.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// Nothing to check: the allocator is compiled in as `#[global_allocator]`.
    None,
    /// slabscope publishing: its segment must count the workload's small allocations.
    Segment,
    /// slabscope publishing and sampling: as [`Check::Segment`], and the segment must
    /// publish this sampling interval (bytes).
    SampledSegment(u64),
    /// slabscope with `SLABSCOPE_PUBLISH=0`: no segment, and the allocator's own
    /// counters (printed by the binary) must count the small allocations.
    CountersNoSegment,
    /// Reached through `LD_PRELOAD`: the library must be mapped in the process.
    Mapped(PathBuf),
    /// slabscope through `LD_PRELOAD`: mapped, and its segment counts the allocations.
    MappedAndSegment(PathBuf),
}

/// One allocator configuration the driver runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Name in the table and in `compare.json`.
    pub name: String,
    /// The binary to run.
    pub binary: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Attach a 60 Hz segment reader in another process while it runs.
    pub reader: bool,
    /// How to trust its figures.
    pub check: Check,
}

/// `SLABSCOPE_SAMPLE` of the sampling variant: 512 KiB, jemalloc's default spacing and
/// the interval the leak-hunting docs recommend leaving on in production.
pub const SAMPLE_BYTES: u64 = 524288;

/// An overhead comparison: `with` is `without` plus one feature of the product.
#[derive(Clone, Debug, PartialEq)]
pub struct OverheadPair {
    /// What the feature is (`publishing`, `reader-60hz`, `sampling`).
    pub what: &'static str,
    /// Variant with the feature.
    pub with: String,
    /// Variant without it.
    pub without: String,
}

/// Everything one driver run compares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lineup {
    /// The variants, in lineup order (each round runs them in an order of its own,
    /// `run::round_order`).
    pub variants: Vec<Variant>,
    /// The variant ratios are computed for (`subject / each other`).
    pub subject: Option<String>,
    /// Overhead comparisons.
    pub overhead: Vec<OverheadPair>,
    /// Variants that could not be run, and why.
    pub skipped: Vec<Skipped>,
    /// Extra environment given to the slabscope variants.
    pub slabscope_env: Vec<(String, String)>,
}

impl Lineup {
    /// Gives every slabscope variant the extra environment `env` (after its own).
    pub fn with_slabscope_env(mut self, env: &[(String, String)]) -> Self {
        for v in self
            .variants
            .iter_mut()
            .filter(|v| v.name.contains("slabscope"))
        {
            v.env.extend(env.iter().cloned());
        }
        self.slabscope_env = env.to_vec();
        self
    }
}

fn plain(name: &str, binary: PathBuf) -> Variant {
    Variant {
        name: name.into(),
        binary,
        env: Vec::new(),
        reader: false,
        check: Check::None,
    }
}

fn require(bin_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let p = bin_dir.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found next to the driver: build it with `cargo build --release -p slabscope-bench --bins`",
            p.display()
        ))
    }
}

fn add_slabscope(l: &mut Lineup, slab: PathBuf) {
    l.variants.push(Variant {
        check: Check::Segment,
        ..plain("slabscope", slab.clone())
    });
    l.variants.push(Variant {
        env: vec![("SLABSCOPE_PUBLISH".into(), "0".into())],
        check: Check::CountersNoSegment,
        ..plain("slabscope-nopub", slab.clone())
    });
    l.variants.push(Variant {
        reader: true,
        check: Check::Segment,
        ..plain("slabscope-reader60", slab.clone())
    });
    l.variants.push(Variant {
        env: vec![("SLABSCOPE_SAMPLE".into(), SAMPLE_BYTES.to_string())],
        check: Check::SampledSegment(SAMPLE_BYTES),
        ..plain("slabscope-sample", slab.clone())
    });
    l.variants.push(Variant {
        env: vec![("SLABSCOPE_CONTROL".into(), "0".into())],
        check: Check::Segment,
        ..plain("slabscope-noctl", slab)
    });
    l.subject = Some("slabscope".into());
    l.overhead = vec![
        OverheadPair {
            what: "publishing",
            with: "slabscope".into(),
            without: "slabscope-nopub".into(),
        },
        OverheadPair {
            what: "reader-60hz",
            with: "slabscope-reader60".into(),
            without: "slabscope".into(),
        },
        OverheadPair {
            what: "sampling",
            with: "slabscope-sample".into(),
            without: "slabscope".into(),
        },
        OverheadPair {
            what: "control-polling",
            with: "slabscope".into(),
            without: "slabscope-noctl".into(),
        },
    ];
}

/// The normal lineup: slabscope (publishing on, off, with a reader attached,
/// sampling allocation sites every [`SAMPLE_BYTES`], and with the control channel off),
/// mimalloc, jemalloc and glibc, each compiled in. Without `bench-slabscope` the
/// others still run and the lineup says why slabscope is missing.
pub fn normal(bin_dir: &Path) -> Result<Lineup, String> {
    let mut l = Lineup::default();
    match require(bin_dir, "bench-slabscope") {
        Ok(slab) => add_slabscope(&mut l, slab),
        Err(reason) => l.skipped.push(Skipped {
            allocator: "slabscope".into(),
            reason,
        }),
    }
    for name in ["mimalloc", "jemalloc", "system"] {
        l.variants
            .push(plain(name, require(bin_dir, &format!("bench-{name}"))?));
    }
    Ok(l)
}

/// Debian libraries the preload lineup uses: (variant, package, soname prefix).
pub const PRELOAD_LIBS: [(&str, &str, &str); 3] = [
    ("preload-mimalloc", "libmimalloc2.0", "libmimalloc.so"),
    ("preload-jemalloc", "libjemalloc2", "libjemalloc.so"),
    (
        "preload-tcmalloc",
        "libtcmalloc-minimal4",
        "libtcmalloc_minimal.so",
    ),
];

/// The preload lineup: `bench-system` as is (glibc), and under `LD_PRELOAD` of each
/// Debian allocator found and of `libslabscope_preload.so` when it has been built.
pub fn preload(bin_dir: &Path, target_dir: &Path) -> Result<Lineup, String> {
    let mut dirs = vec![bin_dir.to_path_buf(), target_dir.join("release")];
    // The workspace's default target directory, when this build used another one.
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release"));
    dirs.dedup_by(|a, b| {
        std::fs::canonicalize(&*a).ok() == std::fs::canonicalize(&*b).ok() || a == b
    });
    preload_from(bin_dir, &dirs)
}

/// The preload lineup with `libslabscope_preload.so` looked for in `dirs` only.
fn preload_from(bin_dir: &Path, dirs: &[PathBuf]) -> Result<Lineup, String> {
    let system = require(bin_dir, "bench-system")?;
    let mut l = Lineup::default();
    let ldconfig = ldconfig_listing();
    let slab = dirs
        .iter()
        .map(|d| d.join("libslabscope_preload.so"))
        .find(|p| p.is_file());
    match slab {
        Some(lib) => {
            l.variants.push(Variant {
                env: vec![("LD_PRELOAD".into(), lib.display().to_string())],
                check: Check::MappedAndSegment(lib),
                ..plain("preload-slabscope", system.clone())
            });
            l.subject = Some("preload-slabscope".into());
        }
        None => l.skipped.push(Skipped {
            allocator: "preload-slabscope".into(),
            reason: format!(
                "libslabscope_preload.so not found in {}: build it with \
                 `cargo build --release -p slabscope-preload`",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
    for (name, package, soname) in PRELOAD_LIBS {
        match find_library(&ldconfig, soname) {
            Some(lib) => l.variants.push(Variant {
                env: vec![("LD_PRELOAD".into(), lib.display().to_string())],
                check: Check::Mapped(lib),
                ..plain(name, system.clone())
            }),
            None => l.skipped.push(Skipped {
                allocator: name.into(),
                reason: format!(
                    "{soname}* not found (Debian package {package}): run alloc/bench/setup-preload.sh"
                ),
            }),
        }
    }
    l.variants.push(plain("system", system));
    Ok(l)
}

fn ldconfig_listing() -> String {
    ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|cmd| Command::new(cmd).arg("-p").output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Finds a shared library whose file name starts with `soname` in `ldconfig -p`
/// output, else in the usual library directories; returns its real path.
pub fn find_library(ldconfig: &str, soname: &str) -> Option<PathBuf> {
    let from_cache = ldconfig.lines().filter_map(|l| {
        let (name, path) = l.trim().split_once(" => ")?;
        name.starts_with(soname).then(|| PathBuf::from(path.trim()))
    });
    let from_dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .into_iter()
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flat_map(|rd| rd.filter_map(Result::ok).map(|e| e.path()))
    .filter(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(soname) && n.len() > soname.len())
    });
    from_cache
        .chain(from_dirs)
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_lineup_needs_its_binaries() {
        let dir = tempfile::tempdir().unwrap();
        let err = normal(dir.path()).unwrap_err();
        assert!(err.contains("bench-mimalloc"), "{err}");
        for b in ["bench-mimalloc", "bench-jemalloc", "bench-system"] {
            std::fs::write(dir.path().join(b), "").unwrap();
        }
        let without = normal(dir.path()).unwrap();
        assert_eq!(without.variants.len(), 3);
        assert_eq!(without.subject, None);
        assert!(without.skipped[0].reason.contains("bench-slabscope"));
        std::fs::write(dir.path().join("bench-slabscope"), "").unwrap();
        let l = normal(dir.path()).unwrap();
        let names: Vec<_> = l.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "slabscope",
                "slabscope-nopub",
                "slabscope-reader60",
                "slabscope-sample",
                "slabscope-noctl",
                "mimalloc",
                "jemalloc",
                "system"
            ]
        );
        assert_eq!(l.subject.as_deref(), Some("slabscope"));
        assert_eq!(l.overhead.len(), 4);
        let sampled = l.variants.iter().find(|v| v.name == "slabscope-sample");
        assert_eq!(
            sampled.map(|v| (&v.env[..], &v.check)),
            Some((
                &[("SLABSCOPE_SAMPLE".to_string(), "524288".to_string())][..],
                &Check::SampledSegment(SAMPLE_BYTES)
            ))
        );
        let tuned = l.with_slabscope_env(&[("SLABSCOPE_MAGAZINE".into(), "64".into())]);
        let env = |name: &str| {
            tuned
                .variants
                .iter()
                .find(|v| v.name == name)
                .unwrap()
                .env
                .clone()
        };
        assert_eq!(env("slabscope-nopub").len(), 2);
        assert_eq!(env("slabscope")[0].0, "SLABSCOPE_MAGAZINE");
        assert!(env("mimalloc").is_empty());
    }

    #[test]
    fn preload_lineup_says_why_slabscope_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bench-system"), "").unwrap();
        // Only the temporary directory is searched: a library built in the workspace's
        // own target directory must not make this test depend on the machine.
        let l = preload_from(dir.path(), &[dir.path().to_path_buf()]).unwrap();
        assert!(l.variants.iter().any(|v| v.name == "system"));
        let s = l
            .skipped
            .iter()
            .find(|s| s.allocator == "preload-slabscope")
            .unwrap();
        assert!(s
            .reason
            .contains("cargo build --release -p slabscope-preload"));
        assert_eq!(l.subject, None);
    }

    #[test]
    fn finds_libraries_in_ldconfig_output() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libfoo.so.2");
        std::fs::write(&lib, "").unwrap();
        let listing = format!(
            "2 libs found in cache\n\tlibfoo.so.2 (libc6,x86-64) => {}\n",
            lib.display()
        );
        assert_eq!(
            find_library(&listing, "libfoo.so"),
            Some(std::fs::canonicalize(&lib).unwrap())
        );
        assert_eq!(find_library(&listing, "libnothere-xyz.so"), None);
    }
}
