//! Frame deltas: what changed in the segment since the previous frame.
//!
//! A delta payload is the frame's new events ([`super::events`], after their length as
//! a `u32`), then the byte changes against the previous frame with those events
//! written in. The byte changes are a list of runs, each `offset: u32`, `length: u32` (little-endian) and
//! `length` bytes of the new copy XOR the old, over [`CHUNK`]-byte chunks that differ.
//! XOR leaves zeros where a counter's high bytes did not move, which zstd then all but
//! removes. The new copy's length comes with the frame: a longer segment (it grows)
//! counts as zeros past the old end, a shorter one is cut.
#![forbid(unsafe_code)]

/// Granularity of the comparison, in bytes.
pub const CHUNK: usize = 64;

const RUN_HEADER: usize = 8;

/// Appends to `out` a delta payload: `events`, then the runs that turn `predicted`
/// (the previous frame with `events` written in) into `new`.
pub fn encode_frame(events: &[u8], predicted: &[u8], new: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    out.extend_from_slice(events);
    encode(predicted, new, out);
}

/// Turns `buf` (the previous frame) into the new one of `new_len` bytes by the delta
/// payload `payload`.
pub fn apply_frame(buf: &mut Vec<u8>, new_len: usize, payload: &[u8]) -> Result<(), String> {
    let (Some(len), Some(rest)) = (payload.get(..4), payload.get(4..)) else {
        return Err("a delta without its events".into());
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let (Some(events), Some(runs)) = (rest.get(..len), rest.get(len..)) else {
        return Err("a delta's events run past it".into());
    };
    buf.resize(new_len, 0);
    super::events::apply(buf, events)?;
    apply(buf, new_len, runs)
}

/// Appends to `out` the runs that turn `old` into `new`.
fn encode(old: &[u8], new: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    while at < new.len() {
        if chunk_same(old, new, at) {
            at += CHUNK;
            continue;
        }
        let start = at;
        while at < new.len() && !chunk_same(old, new, at) {
            at += CHUNK;
        }
        let end = at.min(new.len());
        out.extend_from_slice(&(start as u32).to_le_bytes());
        out.extend_from_slice(&((end - start) as u32).to_le_bytes());
        out.extend(
            new[start..end]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ old.get(start + i).copied().unwrap_or(0)),
        );
    }
}

/// Whether the chunk at `at` is the same in both copies (`old` read as zeros past its
/// end).
fn chunk_same(old: &[u8], new: &[u8], at: usize) -> bool {
    let end = (at + CHUNK).min(new.len());
    let n = &new[at..end];
    match old.get(at..end) {
        Some(o) => o == n,
        None => n
            .iter()
            .enumerate()
            .all(|(i, &b)| b == old.get(at + i).copied().unwrap_or(0)),
    }
}

/// Turns `buf` (the previous copy) into the new one of `new_len` bytes by the runs
/// `delta`.
fn apply(buf: &mut Vec<u8>, new_len: usize, delta: &[u8]) -> Result<(), String> {
    buf.resize(new_len, 0);
    let mut rest = delta;
    while !rest.is_empty() {
        let (Some(head), tail) = (rest.get(..RUN_HEADER), rest.get(RUN_HEADER..)) else {
            return Err("a delta run is cut short".into());
        };
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (offset, len) = (word(0) as usize, word(4) as usize);
        let tail = tail.unwrap_or_default();
        let (Some(bytes), Some(target)) = (
            tail.get(..len),
            buf.get_mut(offset..offset.saturating_add(len)),
        ) else {
            return Err(format!(
                "a delta run ({len} bytes at {offset}) lies outside the {new_len}-byte segment or the delta"
            ));
        };
        for (t, b) in target.iter_mut().zip(bytes) {
            *t ^= b;
        }
        rest = &tail[len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(old: &[u8], new: &[u8]) -> usize {
        let mut d = Vec::new();
        encode(old, new, &mut d);
        let mut buf = old.to_vec();
        apply(&mut buf, new.len(), &d).unwrap();
        assert_eq!(buf, new);
        d.len()
    }

    #[test]
    fn unchanged_copies_give_an_empty_delta_and_changes_only_their_chunks() {
        let old: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(round_trip(&old, &old), 0);
        let mut new = old.clone();
        new[5] ^= 1;
        new[9_999] = 0;
        // Two one-chunk runs (the last chunk is short).
        assert_eq!(
            round_trip(&old, &new),
            2 * RUN_HEADER + CHUNK + 10_000 % CHUNK
        );
    }

    #[test]
    fn a_segment_that_grows_or_shrinks_is_rebuilt() {
        let old = vec![3u8; 1000];
        let mut grown = old.clone();
        grown.extend_from_slice(&[0u8; 500]);
        // Zeros past the old end cost nothing.
        assert_eq!(round_trip(&old, &grown), 0);
        grown[1200] = 9;
        round_trip(&old, &grown);
        round_trip(&grown, &old[..300]);
        round_trip(&[], &grown);
    }

    #[test]
    fn a_bad_delta_is_an_error_not_a_panic() {
        let mut buf = vec![0u8; 100];
        assert!(apply(&mut buf, 100, &[1, 2, 3]).is_err());
        let mut run = Vec::new();
        run.extend_from_slice(&90u32.to_le_bytes());
        run.extend_from_slice(&20u32.to_le_bytes());
        run.extend_from_slice(&[1u8; 20]);
        assert!(apply(&mut buf, 100, &run).is_err(), "past the end");
        run.truncate(RUN_HEADER + 5);
        run[0] = 0;
        assert!(
            apply(&mut buf, 100, &run).is_err(),
            "run longer than the delta"
        );
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(apply(&mut buf, 100, &huge).is_err());
    }
}
