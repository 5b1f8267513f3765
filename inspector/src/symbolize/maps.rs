//! `/proc/<pid>/maps`: which file is mapped where.

/// One executable file mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
    /// The mapped file.
    pub path: String,
}

/// The executable file mappings in the text of a `/proc/<pid>/maps` file. Lines that do
/// not parse, anonymous and non-executable mappings are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let offset = u64::from_str_radix(f.next()?, 16).ok()?;
            let _dev = f.next()?;
            let _inode = f.next()?;
            let path: Vec<&str> = f.collect();
            let path = path.join(" ");
            if !perms.contains('x') || !path.starts_with('/') {
                return None;
            }
            let (s, e) = range.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(s, 16).ok()?,
                end: u64::from_str_radix(e, 16).ok()?,
                offset,
                path,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_file_mappings_are_kept() {
        let text = "\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 42 /usr/bin/leaky
55d0c0001000-55d0c0100000 r-xp 00001000 08:01 42 /usr/bin/leaky
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 r-xp 00000000 00:00 0 [vdso]
7f1000000000-7f1000100000 r-xp 00028000 08:01 7 /lib/x86_64-linux-gnu/libc.so.6
garbage line
";
        let m = parse_maps(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].start, 0x55d0_c000_1000);
        assert_eq!(m[0].offset, 0x1000);
        assert_eq!(m[0].path, "/usr/bin/leaky");
        assert_eq!(m[1].path, "/lib/x86_64-linux-gnu/libc.so.6");
    }
}
