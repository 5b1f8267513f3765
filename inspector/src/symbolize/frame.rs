//! [`Frame`]: one function of a call stack, as a programmer reads it.

/// One frame of a symbolized call stack. A return address gives one frame per function
/// inlined at the call, innermost first, then the function it was inlined into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name (Rust and C++); `binary+0xOFFSET` without debug info or a
    /// symbol, `0xADDR` outside every mapping or while the name is still being looked up.
    pub function: String,
    /// Source file, as the debug info names it (usually an absolute path).
    pub file: Option<String>,
    /// Line in `file`.
    pub line: Option<u32>,
    /// Inlined into the next frame (no call instruction of its own).
    pub inlined: bool,
}

impl Frame {
    /// A frame known only by its address (or `binary+0xOFFSET` text).
    pub fn unnamed(function: String) -> Self {
        Self {
            function,
            file: None,
            line: None,
            inlined: false,
        }
    }

    /// `file:line` (`file` alone without a line), when the debug info has the file.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match self.line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        })
    }

    /// `function (file:line)`, or the function alone: a frame on one line.
    pub fn display(&self) -> String {
        let inl = if self.inlined { " [inlined]" } else { "" };
        match self.location() {
            Some(loc) => format!("{}{inl} ({loc})", self.function),
            None => format!("{}{inl}", self.function),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_shows_its_location_when_known() {
        let mut f = Frame::unnamed("cache_insert".into());
        assert_eq!(f.location(), None);
        assert_eq!(f.display(), "cache_insert");
        f.file = Some("/src/leak.c".into());
        assert_eq!(f.location().as_deref(), Some("/src/leak.c"));
        f.line = Some(21);
        f.inlined = true;
        assert_eq!(f.display(), "cache_insert [inlined] (/src/leak.c:21)");
    }
}
