//! A tiny `--flag N` parser shared by the workloads (no dependency needed).

/// Parses `--name N` pairs from `args` (the program name already removed), calling
/// `set(name, value)` for each; `set` returns `false` for unknown names.
pub fn parse_pairs(
    args: impl Iterator<Item = String>,
    mut set: impl FnMut(&str, u64) -> Result<bool, String>,
) -> Result<(), String> {
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        let Some(name) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument `{a}`"));
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (name.to_string(), None),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("--{name} needs a value")),
        };
        let n: u64 = value
            .parse()
            .map_err(|_| format!("--{name}: `{value}` is not a non-negative integer"))?;
        if !set(&name, n)? {
            return Err(format!("unknown option --{name}"));
        }
    }
    Ok(())
}
