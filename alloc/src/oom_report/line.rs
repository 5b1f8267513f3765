//! A line of text in a fixed buffer, with a tiny number formatter (decimal, hex, and
//! byte sizes such as `1.5 MiB`), for stderr output from inside `malloc`.
#![forbid(unsafe_code)]

/// One line (longer text is cut).
pub(super) struct Line {
    buf: [u8; 400],
    len: usize,
}

impl Line {
    pub(super) fn new() -> Self {
        Line {
            buf: [0; 400],
            len: 0,
        }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub(super) fn s(&mut self, text: &[u8]) -> &mut Self {
        for &b in text {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        self
    }

    pub(super) fn u(&mut self, v: u64) -> &mut Self {
        let mut d = [0u8; 20];
        let mut i = d.len();
        let mut v = v;
        loop {
            i -= 1;
            d[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.s(&d[i..])
    }

    pub(super) fn hex(&mut self, v: u64) -> &mut Self {
        let mut d = [0u8; 16];
        let mut i = d.len();
        let mut v = v;
        loop {
            i -= 1;
            d[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.s(b"0x").s(&d[i..])
    }

    /// Bytes with a binary unit and one decimal: `512 B`, `1.5 KiB`, `64.0 MiB`.
    pub(super) fn bytes(&mut self, v: u64) -> &mut Self {
        const UNITS: [&[u8]; 5] = [b" KiB", b" MiB", b" GiB", b" TiB", b" PiB"];
        if v < 1024 {
            return self.u(v).s(b" B");
        }
        let mut unit = 0;
        let mut scale = 1024u64;
        while unit + 1 < UNITS.len() && v / scale >= 1024 {
            scale *= 1024;
            unit += 1;
        }
        // Tenths, rounded to nearest.
        let tenths = ((v as u128 * 10 + scale as u128 / 2) / scale as u128) as u64;
        self.u(tenths / 10).s(b".").u(tenths % 10).s(UNITS[unit])
    }

    /// `v` right-aligned in `width` columns (as bytes text).
    pub(super) fn bytes_col(&mut self, v: u64, width: usize) -> &mut Self {
        let mut tmp = Line::new();
        tmp.bytes(v);
        for _ in tmp.len..width {
            self.s(b" ");
        }
        let t = tmp;
        self.s(t.as_bytes())
    }

    /// `v` right-aligned in `width` columns.
    pub(super) fn u_col(&mut self, v: u64, width: usize) -> &mut Self {
        let mut tmp = Line::new();
        tmp.u(v);
        for _ in tmp.len..width {
            self.s(b" ");
        }
        let t = tmp;
        self.s(t.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::Line;

    fn text(f: impl FnOnce(&mut Line)) -> String {
        let mut l = Line::new();
        f(&mut l);
        String::from_utf8(l.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn numbers_format_without_allocating() {
        assert_eq!(
            text(|l| {
                l.u(0);
            }),
            "0"
        );
        assert_eq!(
            text(|l| {
                l.u(u64::MAX);
            }),
            "18446744073709551615"
        );
        assert_eq!(
            text(|l| {
                l.hex(0x7f00_0020_0000);
            }),
            "0x7f0000200000"
        );
        assert_eq!(
            text(|l| {
                l.bytes(1023);
            }),
            "1023 B"
        );
        assert_eq!(
            text(|l| {
                l.bytes(1536);
            }),
            "1.5 KiB"
        );
        assert_eq!(
            text(|l| {
                l.bytes(6 << 20);
            }),
            "6.0 MiB"
        );
        assert_eq!(
            text(|l| {
                l.bytes(3 << 30);
            }),
            "3.0 GiB"
        );
        assert_eq!(
            text(|l| {
                l.bytes(u64::MAX);
            }),
            "16384.0 PiB"
        );
        assert_eq!(
            text(|l| {
                l.bytes_col(2048, 9);
            }),
            "  2.0 KiB"
        );
        assert_eq!(
            text(|l| {
                l.u_col(42, 5);
            }),
            "   42"
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let s = text(|l| {
            for _ in 0..200 {
                l.s(b"abc");
            }
        });
        assert_eq!(s.len(), 400);
    }
}
