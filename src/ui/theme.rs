//! Styles in one place. Only the 16 basic colours are used, so the screen
//! reads on dark and light terminals alike (the terminal's palette decides
//! the actual shades). With `NO_COLOR` set, every colour is dropped and only
//! bold, dim, reverse and underline remain (https://no-color.org).

use ratatui::style::{Color, Modifier, Style};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::types::Role;

static NO_COLOR: AtomicBool = AtomicBool::new(false);

/// Honour `NO_COLOR` (set when the variable is present and not empty).
pub fn set_no_color(on: bool) {
    NO_COLOR.store(on, Ordering::Relaxed);
}

pub fn no_color() -> bool {
    NO_COLOR.load(Ordering::Relaxed)
}

/// Drop the colours of `style` under `NO_COLOR`.
fn c(style: Style) -> Style {
    strip(style, no_color())
}

fn strip(style: Style, no_color: bool) -> Style {
    if no_color {
        Style {
            fg: None,
            bg: None,
            underline_color: None,
            ..style
        }
    } else {
        style
    }
}

pub fn role_label(role: Role) -> Style {
    c({
        let color = match role {
            Role::User => Color::Cyan,
            Role::Assistant => Color::Green,
            Role::System => Color::Magenta,
        };
        Style::default().fg(color).add_modifier(Modifier::BOLD)
    })
}

pub fn border() -> Style {
    c(Style::default().fg(Color::DarkGray))
}

pub fn marker() -> Style {
    c(Style::default().add_modifier(Modifier::DIM))
}

pub fn error() -> Style {
    c(Style::default().fg(Color::Red))
}

pub fn dim() -> Style {
    c(Style::default().add_modifier(Modifier::DIM))
}

pub fn status_bar() -> Style {
    c(Style::default().add_modifier(Modifier::REVERSED))
}

pub fn selected() -> Style {
    c(Style::default().add_modifier(Modifier::REVERSED))
}

pub fn list_marker() -> Style {
    c(Style::default().fg(Color::Yellow))
}

pub fn heading(level: u8) -> Style {
    c({
        let style = Style::default().add_modifier(Modifier::BOLD);
        match level {
            1 => style.fg(Color::Cyan).add_modifier(Modifier::UNDERLINED),
            2 => style.fg(Color::Cyan),
            _ => style,
        }
    })
}

pub fn inline_code() -> Style {
    c(Style::default().fg(Color::Yellow))
}

pub fn link() -> Style {
    c(Style::default()
        .fg(Color::Blue)
        .add_modifier(Modifier::UNDERLINED))
}

pub fn code_frame() -> Style {
    c(Style::default().fg(Color::DarkGray))
}

/// Code text: the highlight colour when there is one.
pub fn code(color: Option<Color>) -> Style {
    c(color.map_or_else(Style::default, |c| Style::default().fg(c)))
}

/// The status bar while it reports an error.
pub fn status_bar_error() -> Style {
    c(Style::default()
        .fg(Color::Red)
        .add_modifier(Modifier::REVERSED))
}

/// The status bar's context meter from 80 %.
pub fn status_warning() -> Style {
    c(Style::default()
        .fg(Color::Yellow)
        .add_modifier(Modifier::REVERSED))
}

/// A stopped answer: the user's choice, not an error.
pub fn stopped() -> Style {
    c(Style::default().fg(Color::Yellow))
}

/// What just happened (beside the input).
pub fn notice() -> Style {
    c(Style::default().fg(Color::Yellow))
}

/// The `2/3` of an answer with alternatives.
pub fn alternatives() -> Style {
    c(Style::default()
        .fg(Color::Yellow)
        .add_modifier(Modifier::BOLD))
}

/// The bar beside the rows of the selected message.
pub fn selection_bar() -> Style {
    c(Style::default().fg(Color::Yellow))
}

/// A search match.
pub fn search_match() -> Style {
    if no_color() {
        return Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD);
    }
    Style::default().fg(Color::Black).bg(Color::Yellow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_keeps_modifiers_only() {
        // `strip` directly: the process-wide switch is not flipped in tests.
        let label = strip(
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            true,
        );
        assert_eq!(label.fg, None);
        assert!(label.add_modifier.contains(Modifier::BOLD));
        let kept = strip(Style::default().fg(Color::Cyan), false);
        assert_eq!(kept.fg, Some(Color::Cyan));
    }
}
