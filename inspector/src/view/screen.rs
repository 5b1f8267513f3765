//! The whole screen: tab bar, banner, the current view, status bar, help overlay.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;

use super::banner::{self, Banner};
use super::help::Help;
use super::tabs::{StatusBar, TabBar};
use super::{classes, events, gpu, heap_errors, leaks, magazines, oom, overview, superslabs};
use crate::state::{State, ViewId};

impl Widget for &State {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let banner_h = banner::height(self, area.width);
        let [tabs, banner_area, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(banner_h),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        TabBar(self).render(tabs, buf);
        Banner(self).render(banner_area, buf);
        match self.view {
            ViewId::Overview => overview::Overview(self).render(body, buf),
            ViewId::Classes => classes::Classes(self).render(body, buf),
            ViewId::SuperSlabs => superslabs::SuperSlabs(self).render(body, buf),
            ViewId::Magazines => magazines::Magazines(self).render(body, buf),
            ViewId::Events => events::Events(self).render(body, buf),
            ViewId::Gpu => gpu::Gpu(self).render(body, buf),
            ViewId::Oom => oom::Oom(self).render(body, buf),
            ViewId::Leaks => leaks::Leaks(self).render(body, buf),
            ViewId::HeapErrors => heap_errors::HeapErrors(self).render(body, buf),
        }
        StatusBar(self).render(status, buf);
        if self.help {
            Help.render(area, buf);
        }
    }
}
