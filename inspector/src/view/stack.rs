//! A sampled allocation site's call stack as lines, for the Leaks view (the selected
//! site) and the Heap errors view (the site of the selected error's block).

use ratatui::style::Style;
use ratatui::text::Line;

use super::palette;
use crate::symbolize::Frame;

/// A site's stack, innermost first: the allocator's own frames and the standard
/// library's allocation plumbing at the top fold into one dim line, so that the frame
/// that allocated is the first one read; allocator frames further down stay, dimmed.
pub fn stack_lines(frames: &[Frame]) -> Vec<Line<'static>> {
    let plumbing = frames
        .iter()
        .take_while(|f| crate::symbolize::is_allocator_frame(&f.function))
        .count();
    let folded = (plumbing > 1).then(|| {
        Line::styled(
            format!("({plumbing} frames in the allocator and allocation plumbing)"),
            palette::dim(),
        )
    });
    let rest = frames[if plumbing > 1 { plumbing } else { 0 }..]
        .iter()
        .map(|f| {
            let style = if crate::symbolize::is_allocator_frame(&f.function) {
                palette::dim()
            } else {
                Style::new()
            };
            Line::styled(f.display(), style)
        });
    folded.into_iter().chain(rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_allocators_frames_at_the_top_fold_into_one_line() {
        let names = [
            "slabscope::front::alloc_sampled",
            "malloc",
            "cache_insert",
            "main",
        ];
        let frames: Vec<Frame> = names
            .iter()
            .map(|n| Frame::unnamed(n.to_string()))
            .collect();
        assert_eq!(
            text(&stack_lines(&frames)),
            [
                "(2 frames in the allocator and allocation plumbing)",
                "cache_insert",
                "main"
            ]
        );
        // One allocator frame is shown as it is; so is a stack without any.
        assert_eq!(
            text(&stack_lines(&frames[1..])),
            ["malloc", "cache_insert", "main"]
        );
        assert_eq!(text(&stack_lines(&frames[2..])), ["cache_insert", "main"]);
        assert!(stack_lines(&[]).is_empty());
    }
}
