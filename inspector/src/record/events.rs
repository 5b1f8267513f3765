//! A frame's new ring events, stored as events instead of as changed bytes.
//!
//! Most of what changes in a busy segment between two frames is new events (the demo
//! writes thousands a second), and the bytes of a 64-byte record XORed with the record
//! a lap older in the same slot are noise to a compressor. So the recorder reads each
//! event completed since the previous frame and stores its fields relative to the
//! event before (sequence number and time as differences, the thread as a difference,
//! each argument against the same argument of the last event of the same kind), as
//! LEB128 varints. Replaying writes the events back into their slots as the writer did
//! (stamp, time, kind and thread, arguments); the frame's byte delta ([`super::delta`])
//! is taken against that prediction, so anything the events did not cover (an event
//! still being written, a slot's bytes past the 64 this version knows) is still
//! reproduced exactly.
//!
//! Layout: varints `ring offset`, `capacity`, `stride`, `count`, then per event `seq -
//! previous seq` (the first: `seq`), `time - previous time` (zigzag), `kind` (the
//! record's low 32 bits), `tid - previous tid` (zigzag), and five zigzag argument
//! differences.
#![forbid(unsafe_code)]

/// Bytes of an event record this version writes back.
const RECORD: usize = 64;
/// Kinds that keep their own previous arguments (others share the last entry).
const KINDS: usize = 32;

/// Where the ring's records are in a segment copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// Offset of record 0.
    pub offset: usize,
    /// Records (a power of two).
    pub capacity: u32,
    /// Bytes between records (at least 64).
    pub stride: usize,
}

impl Ring {
    fn slot(&self, seq: u64) -> usize {
        self.offset + (seq % u64::from(self.capacity)) as usize * self.stride
    }
}

fn word(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

/// A reader of varints that fails instead of running past the end.
struct Varints<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Varints<'_> {
    fn next(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or("the events end early")?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 64 bits".into())
    }
}

/// The previous values each field is stored against.
struct Previous {
    seq: u64,
    time: u64,
    tid: u64,
    args: [[u64; 5]; KINDS],
}

impl Previous {
    fn new() -> Self {
        Self {
            seq: 0,
            time: 0,
            tid: 0,
            args: [[0; 5]; KINDS],
        }
    }
}

/// Appends to `out` the events with sequence numbers in `from..to` that are complete in
/// `seg` (stamp `(seq + 1) << 1`), the oldest a ring's capacity before `to` at most.
pub fn encode(seg: &[u8], ring: Ring, from: u64, to: u64, out: &mut Vec<u8>) {
    let from = from.max(to.saturating_sub(u64::from(ring.capacity)));
    let mut list = Vec::new();
    let mut prev = Previous::new();
    let mut count = 0u64;
    for seq in from..to {
        let at = ring.slot(seq);
        let Some(stamp) = word(seg, at) else { break };
        if stamp != (seq + 1) << 1 {
            continue; // being written, or a later lap's: left to the byte delta
        }
        let (Some(time), Some(kt)) = (word(seg, at + 8), word(seg, at + 16)) else {
            break;
        };
        let mut args = [0u64; 5];
        for (j, a) in args.iter_mut().enumerate() {
            *a = word(seg, at + 24 + 8 * j).unwrap_or(0);
        }
        let (kind, tid) = (kt & 0xffff_ffff, kt >> 32);
        put_varint(&mut list, seq.wrapping_sub(prev.seq));
        put_varint(&mut list, zigzag(time.wrapping_sub(prev.time)));
        put_varint(&mut list, kind);
        put_varint(&mut list, zigzag(tid.wrapping_sub(prev.tid)));
        let last = &mut prev.args[kind as usize % KINDS];
        for j in 0..5 {
            put_varint(&mut list, zigzag(args[j].wrapping_sub(last[j])));
        }
        *last = args;
        (prev.seq, prev.time, prev.tid) = (seq, time, tid);
        count += 1;
    }
    put_varint(out, ring.offset as u64);
    put_varint(out, u64::from(ring.capacity));
    put_varint(out, ring.stride as u64);
    put_varint(out, count);
    out.extend_from_slice(&list);
}

/// Writes the events of `data` into the ring of `buf`; `Err` if `data` is malformed or
/// names records outside `buf`.
pub fn apply(buf: &mut [u8], data: &[u8]) -> Result<(), String> {
    let mut r = Varints { bytes: data, at: 0 };
    let (offset, capacity, stride, count) = (r.next()?, r.next()?, r.next()?, r.next()?);
    let ring = match (
        usize::try_from(offset),
        u32::try_from(capacity),
        usize::try_from(stride),
    ) {
        (Ok(offset), Ok(capacity), Ok(stride))
            if capacity.is_power_of_two()
                && stride >= RECORD
                && (capacity as usize)
                    .checked_mul(stride)
                    .and_then(|n| offset.checked_add(n))
                    .is_some_and(|end| end <= buf.len()) =>
        {
            Ring {
                offset,
                capacity,
                stride,
            }
        }
        _ => {
            return Err(format!(
                "a ring of {capacity} x {stride} bytes at {offset} does not fit"
            ))
        }
    };
    if count > capacity {
        return Err(format!("{count} events for a ring of {capacity}"));
    }
    let mut prev = Previous::new();
    for _ in 0..count {
        let seq = prev.seq.wrapping_add(r.next()?);
        let time = prev.time.wrapping_add(unzigzag(r.next()?));
        let kind = r.next()?;
        let tid = prev.tid.wrapping_add(unzigzag(r.next()?));
        if kind > 0xffff_ffff || tid > 0xffff_ffff {
            return Err("an event's kind or thread does not fit its word".into());
        }
        let last = &mut prev.args[kind as usize % KINDS];
        let mut args = [0u64; 5];
        for j in 0..5 {
            args[j] = last[j].wrapping_add(unzigzag(r.next()?));
        }
        *last = args;
        let at = ring.slot(seq);
        let record = &mut buf[at..at + RECORD];
        record[..8].copy_from_slice(&(seq.wrapping_add(1) << 1).to_le_bytes());
        record[8..16].copy_from_slice(&time.to_le_bytes());
        record[16..24].copy_from_slice(&(kind | tid << 32).to_le_bytes());
        for (j, a) in args.iter().enumerate() {
            record[24 + 8 * j..32 + 8 * j].copy_from_slice(&a.to_le_bytes());
        }
        (prev.seq, prev.time, prev.tid) = (seq, time, tid);
    }
    if r.at != data.len() {
        return Err("bytes after the last event".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RING: Ring = Ring {
        offset: 128,
        capacity: 8,
        stride: 64,
    };

    fn put(seg: &mut [u8], seq: u64, stamp: u64, fields: [u64; 7]) {
        let at = RING.slot(seq);
        seg[at..at + 8].copy_from_slice(&stamp.to_le_bytes());
        for (j, f) in fields.iter().enumerate() {
            seg[at + 8 + 8 * j..at + 16 + 8 * j].copy_from_slice(&f.to_le_bytes());
        }
    }

    #[test]
    fn complete_events_are_written_back_exactly_and_others_left_alone() {
        let mut seg = vec![0u8; 128 + 8 * 64 + 32];
        for seq in 10..16u64 {
            let f = [
                1_000 + seq * 7,
                2 | 4242 << 32,
                0x7f00_0000 + seq,
                seq % 32,
                3,
                1,
                0,
            ];
            put(&mut seg, seq, (seq + 1) << 1, f);
        }
        // Event 16 is still being written (odd stamp).
        put(&mut seg, 16, (17 << 1) | 1, [9; 7]);
        let mut data = Vec::new();
        encode(&seg, RING, 10, 17, &mut data);
        let mut back = vec![0u8; seg.len()];
        apply(&mut back, &data).unwrap();
        for seq in 10..16u64 {
            let at = RING.slot(seq);
            assert_eq!(back[at..at + 64], seg[at..at + 64], "event {seq}");
        }
        let at = RING.slot(16);
        assert!(
            back[at..at + 64].iter().all(|&b| b == 0),
            "the unfinished event is not invented"
        );
        // Far smaller than the records.
        assert!(data.len() < 6 * 20, "{} bytes for 6 events", data.len());
    }

    #[test]
    fn only_the_last_lap_is_stored() {
        let mut seg = vec![0u8; 128 + 8 * 64];
        for seq in 0..20u64 {
            put(&mut seg, seq, (seq + 1) << 1, [seq; 7]);
        }
        let mut data = Vec::new();
        encode(&seg, RING, 0, 20, &mut data);
        let mut back = vec![0u8; seg.len()];
        apply(&mut back, &data).unwrap();
        assert_eq!(back[128..], seg[128..]);
    }

    #[test]
    fn malformed_events_are_errors() {
        let mut buf = vec![0u8; 1024];
        assert!(apply(&mut buf, &[]).is_err());
        let mut ok = Vec::new();
        encode(&buf, RING, 0, 0, &mut ok);
        assert!(apply(&mut buf, &ok).is_ok());
        // A ring that does not fit the copy.
        let mut big = Vec::new();
        encode(
            &buf,
            Ring {
                capacity: 1 << 20,
                ..RING
            },
            0,
            0,
            &mut big,
        );
        assert!(apply(&mut buf, &big).is_err());
        // Cut short, and trailing bytes.
        let mut seg = vec![0u8; 1024];
        put(&mut seg, 3, 8, [1; 7]);
        let mut one = Vec::new();
        encode(&seg, RING, 3, 4, &mut one);
        assert!(apply(&mut buf, &one[..one.len() - 1]).is_err());
        one.push(0);
        assert!(apply(&mut buf, &one).is_err());
        assert!(
            apply(&mut buf, &[0xff; 12]).is_err(),
            "a varint past 64 bits"
        );
    }
}
