//! Styles in one place. Only the 16 basic colours are used, so the screen
//! reads on dark and light terminals alike.

use ratatui::style::{Color, Modifier, Style};

use crate::api::types::Role;

pub fn role_label(role: Role) -> Style {
    let color = match role {
        Role::User => Color::Cyan,
        Role::Assistant => Color::Green,
        Role::System => Color::Magenta,
    };
    Style::default().fg(color).add_modifier(Modifier::BOLD)
}

pub fn border() -> Style {
    Style::default().fg(Color::DarkGray)
}

pub fn marker() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

pub fn error() -> Style {
    Style::default().fg(Color::Red)
}

pub fn dim() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

pub fn status_bar() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub fn selected() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

pub fn list_marker() -> Style {
    Style::default().fg(Color::Yellow)
}

pub fn heading(level: u8) -> Style {
    let style = Style::default().add_modifier(Modifier::BOLD);
    match level {
        1 => style.fg(Color::Cyan).add_modifier(Modifier::UNDERLINED),
        2 => style.fg(Color::Cyan),
        _ => style,
    }
}

pub fn inline_code() -> Style {
    Style::default().fg(Color::Yellow)
}

pub fn link() -> Style {
    Style::default()
        .fg(Color::Blue)
        .add_modifier(Modifier::UNDERLINED)
}

pub fn code_frame() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Code text: the highlight colour when there is one.
pub fn code(color: Option<Color>) -> Style {
    color.map_or_else(Style::default, |c| Style::default().fg(c))
}

/// The status bar while it reports an error.
pub fn status_bar_error() -> Style {
    Style::default()
        .fg(Color::Red)
        .add_modifier(Modifier::REVERSED)
}

/// A stopped answer: the user's choice, not an error.
pub fn stopped() -> Style {
    Style::default().fg(Color::Yellow)
}

/// The `2/3` of an answer with alternatives.
pub fn alternatives() -> Style {
    Style::default()
        .fg(Color::Yellow)
        .add_modifier(Modifier::BOLD)
}

/// The bar beside the rows of the selected message.
pub fn selection_bar() -> Style {
    Style::default().fg(Color::Yellow)
}

/// A search match.
pub fn search_match() -> Style {
    Style::default().fg(Color::Black).bg(Color::Yellow)
}
