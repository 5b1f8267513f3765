//! Building the subscriber: a reloadable `Targets` filter (from the control channel's filter
//! if one was sent, else `SLABSCOPE_LOG`) under a `fmt` layer writing to stderr or to
//! `SLABSCOPE_LOG_FILE`. Runs only inside a flush (the re-entrancy flag is up, no
//! allocator lock is held), so it may allocate.
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Mutex, OnceLock};

use tracing::Dispatch;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, Registry};

use crate::{options, pal, settings};

/// The subscriber, once built, and the handle that swaps its filter.
pub(super) struct Installed {
    pub(super) dispatch: Dispatch,
    reload: reload::Handle<Targets, Registry>,
    /// Control-channel filter generation the filter reflects.
    generation: Mutex<u64>,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// The subscriber, built on first use; `None` when the filter does not parse (said once
/// on stderr).
pub(super) fn get() -> Option<&'static Installed> {
    INSTALLED.get_or_init(build).as_ref()
}

/// The filter text in force: the control channel's, else `SLABSCOPE_LOG`, else `off`.
fn filter_text() -> (String, u64, &'static str) {
    let generation = settings::log_filter_generation();
    if let Some(f) = settings::log_filter() {
        return (
            f.as_str().to_owned(),
            f.generation,
            "the control channel's log=",
        );
    }
    let env = options::get().log.unwrap_or(b"off");
    (
        String::from_utf8_lossy(env).into_owned(),
        generation,
        "SLABSCOPE_LOG=",
    )
}

fn parse(text: &str, source: &str) -> Option<Targets> {
    match text.parse::<Targets>() {
        Ok(f) => Some(f),
        Err(e) => {
            let msg = format!("{e}");
            pal::write_stderr(&[
                b"slabscope: ignoring ",
                source.as_bytes(),
                text.as_bytes(),
                b" (",
                msg.as_bytes(),
                b"); tracing stays off",
            ]);
            None
        }
    }
}

fn writer() -> BoxMakeWriter {
    let Some(path) = options::get().log_file else {
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
            let msg = format!("{e}");
            pal::write_stderr(&[
                b"slabscope: cannot open SLABSCOPE_LOG_FILE=",
                path.as_bytes(),
                b" (",
                msg.as_bytes(),
                b"); tracing to stderr",
            ]);
            BoxMakeWriter::new(std::io::stderr)
        }
    }
}

fn build() -> Option<Installed> {
    let (text, generation, source) = filter_text();
    let filter = parse(&text, source)?;
    let (filter, reload) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer());
    let subscriber = tracing_subscriber::registry().with(filter).with(fmt);
    Some(Installed {
        dispatch: Dispatch::new(subscriber),
        reload,
        generation: Mutex::new(generation),
    })
}

impl Installed {
    /// Takes a new control-channel filter into use if one arrived since the last look.
    pub(super) fn refresh(&self) {
        let now = settings::log_filter_generation();
        let Ok(mut seen) = self.generation.lock() else {
            return;
        };
        if *seen == now {
            return;
        }
        *seen = now;
        drop(seen);
        let (text, _, source) = filter_text();
        if let Some(f) = parse(&text, source) {
            // Fails only if the subscriber is gone, which it never is (static).
            let _ = self.reload.reload(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_the_grammar_accepts_parse_as_targets() {
        for f in [
            "slabscope=debug",
            "debug",
            "slabscope",
            "off",
            "a=0",
            "info,slabscope::drain=trace",
            "slabscope::drain=TRACE",
            "slabscope::large=5",
        ] {
            assert!(crate::grammar::filter_ok(f.as_bytes()), "{f}");
            assert!(f.parse::<Targets>().is_ok(), "{f}");
        }
    }
}
