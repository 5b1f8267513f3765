//! The subscriber: a reloadable `Targets` filter under a `fmt` layer writing to stderr
//! or to a file, built at the first [`write()`] and used only for slabscope's own events
//! (a scoped dispatch, never the global default). Runs only where the allocator lets it
//! (no allocator lock held, the thread's re-entrancy flag up), so it may allocate.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Mutex, OnceLock};

use tracing::Dispatch;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, Registry};

use crate::batch::{Batch, Filter, Readiness, Sink};

/// This sink, linked in: always ready.
pub static LINKED: Sink = Sink {
    ready: || Readiness::Now,
    write,
};

struct Installed {
    dispatch: Dispatch,
    reload: reload::Handle<Targets, Registry>,
    /// The generation of the filter in use (`Filter::generation`).
    generation: Mutex<u64>,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// Says `parts` on stderr as one line.
fn say(parts: &[&[u8]]) {
    let mut line = Vec::new();
    for p in parts {
        line.extend_from_slice(p);
    }
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

/// Whether `text` parses as a filter of targets and levels.
pub fn filter_parses(text: &[u8]) -> bool {
    String::from_utf8_lossy(text).parse::<Targets>().is_ok()
}

fn parse(f: &Filter<'_>) -> Option<Targets> {
    let text = String::from_utf8_lossy(f.text);
    match text.parse::<Targets>() {
        Ok(t) => Some(t),
        Err(e) => {
            say(&[
                b"slabscope: ignoring ",
                f.source.as_bytes(),
                text.as_bytes(),
                b" (",
                e.to_string().as_bytes(),
                b"); tracing stays off",
            ]);
            None
        }
    }
}

fn writer(log_file: Option<&[u8]>) -> BoxMakeWriter {
    let Some(path) = log_file else {
        return BoxMakeWriter::new(std::io::stderr);
    };
    let path = String::from_utf8_lossy(path).into_owned();
    match OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(f) => BoxMakeWriter::new(Mutex::new(f)),
        Err(e) => {
            say(&[
                b"slabscope: cannot open SLABSCOPE_LOG_FILE=",
                path.as_bytes(),
                b" (",
                e.to_string().as_bytes(),
                b"); tracing to stderr",
            ]);
            BoxMakeWriter::new(std::io::stderr)
        }
    }
}

fn build(filter: Option<&Filter<'_>>, log_file: Option<&[u8]>) -> Option<Installed> {
    let targets = parse(filter?)?;
    let (targets, reload) = reload::Layer::new(targets);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer(log_file));
    let subscriber = tracing_subscriber::registry().with(targets).with(fmt);
    Some(Installed {
        dispatch: Dispatch::new(subscriber),
        reload,
        generation: Mutex::new(filter?.generation),
    })
}

impl Installed {
    /// Takes `f` into use if it is newer than the filter in use and parses.
    fn refilter(&self, f: &Filter<'_>) {
        let Ok(mut in_use) = self.generation.lock() else {
            return;
        };
        if f.generation <= *in_use {
            return;
        }
        *in_use = f.generation;
        if let Some(t) = parse(f) {
            // Fails only if the subscriber is gone, which it never is (static).
            let _ = self.reload.reload(t);
        }
    }
}

/// Writes `batch` through the subscriber, with a line counting its dropped events.
///
/// The first call builds the subscriber from the batch's filter (the filter in force)
/// and log file. A later batch with a filter (it changed since the batch before) takes
/// it into use if it parses; a filter that does not parse is said on stderr and changes
/// nothing.
///
/// Returns `false` when there is no subscriber (the first filter was missing or did not
/// parse): tracing stays off in this process.
pub fn write(batch: &Batch<'_>) -> bool {
    let mut built_now = false;
    let installed = INSTALLED.get_or_init(|| {
        built_now = true;
        build(batch.filter.as_ref(), batch.log_file)
    });
    let Some(inst) = installed else {
        return false;
    };
    tracing::dispatcher::with_default(&inst.dispatch, || {
        // Inside the dispatch: a reload recomputes every callsite's interest from the
        // thread's dispatcher, which outside it is none (every event would stay off).
        if let (false, Some(f)) = (built_now, batch.filter.as_ref()) {
            inst.refilter(f);
        }
        for kind in batch.events {
            crate::event::event(kind);
        }
        if batch.dropped != 0 {
            let dropped = batch.dropped;
            tracing::warn!(target: "slabscope", dropped, "events not traced: no room in an event buffer");
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_that_does_not_parse_gives_no_targets() {
        for f in ["slabscope=debug", "off", "info,slabscope::drain=trace"] {
            assert!(filter_parses(f.as_bytes()), "{f}");
        }
        let bad = Filter {
            text: b"slabscope=loud",
            source: "test ",
            generation: 0,
        };
        assert!(!filter_parses(bad.text));
        assert!(parse(&bad).is_none());
    }

    /// A filter handed over later than a newer one (two threads' batches in either
    /// order) does not replace it.
    #[test]
    fn the_newest_filter_stays_whatever_order_the_batches_come_in() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("trace.log");
        let path = log.to_str().unwrap().as_bytes();
        let event = [slabscope_proto::EventKind::LargeMap {
            addr: 0x7f00_0000_0000,
            bytes: 1 << 20,
            align: 4096,
        }];
        let lines = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let filter = |text: &'static [u8], generation| Filter {
            text,
            source: "test ",
            generation,
        };
        let mut expect = 0;
        for (f, traced) in [
            (Some(filter(b"slabscope=debug", 0)), true),
            (Some(filter(b"off", 4)), false),
            (Some(filter(b"slabscope=debug", 2)), false),
            (None, false),
            (Some(filter(b"slabscope::large=debug", 6)), true),
        ] {
            let batch = Batch {
                events: &event,
                dropped: 0,
                filter: f,
                log_file: Some(path),
            };
            assert!(write(&batch));
            expect += usize::from(traced);
            assert_eq!(lines(), expect, "after the filter {f:?}");
        }
    }
}
