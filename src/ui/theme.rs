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
