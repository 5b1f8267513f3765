//! Feeds arbitrary bytes to the segment reader: `from_bytes`, then `snapshot` and
//! `poll_events` on whatever validates. Any panic, abort or sanitizer report is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slabscope_proto::{Cursor, SegmentReader};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = SegmentReader::from_bytes(data) else {
        return;
    };
    let _ = reader.version();
    if let Ok(snap) = reader.snapshot() {
        assert!(!snap.classes.is_empty());
    }
    let mut cursor = Cursor::default();
    let mut out = Vec::new();
    reader.poll_events(&mut cursor, 3, &mut out);
    reader.poll_events(&mut cursor, usize::MAX, &mut out);
    for pair in out.windows(2) {
        assert!(pair[0].seq < pair[1].seq);
    }
});
