//! Fenced code: the numbered box it is drawn in, and its highlighting by
//! syntect (Oniguruma regexes) with bat's syntax set from two-face, loaded
//! on first need and mapped to the 16 terminal colours.
//!
//! Invariants: nothing is loaded before a fence with a language tag is
//! drawn (a session that never sees code never loads it; the load is
//! ≈ 1.5 ms and ≈ 2.6 MB, cheap enough for the frame that needs it); every
//! highlighted piece goes through `text::sanitize` before it
//! becomes a run; code rows wrap at grapheme boundaries with their
//! indentation kept.

use std::sync::OnceLock;

use ratatui::style::Color;
use ratatui::text::Line;
use syntect::easy::HighlightLines;
use syntect::highlighting::Theme;
use syntect::parsing::{SyntaxReference, SyntaxSet};

use super::rows::{Run, emit_wrapped_glyph, push_sanitized, runs_line};
use crate::text::sanitize::sanitize;
use crate::text::wrap::{display_width, truncate_to_width};
use crate::ui::theme;

/// The syntax set and the one theme, loaded together on first need.
pub(super) struct Highlighting {
    pub(super) syntaxes: SyntaxSet,
    theme: Theme,
}

static HIGHLIGHTING: OnceLock<Highlighting> = OnceLock::new();

/// bat's syntax set (two-face; syntect's defaults plus TypeScript, TOML,
/// Dockerfile, Kotlin, Swift, Zig, Nix, Terraform…) and its copy of
/// base16-ocean.dark, the only theme used: its colours are mapped to the 16
/// terminal colours anyway (`ansi_from_rgb`). Only that theme is
/// deserialised, not the whole theme set. Each syntax stays compressed
/// until a code block uses it; its regexes are compiled (Oniguruma) on first
/// use, which is what costs (from ~0.4 MB and 0.4 ms for TOML to ~6 MB and
/// 20 ms for TypeScript: docs/PERFORMANCE.md, `examples/highlight_memory.rs`).
pub(super) fn highlighting() -> &'static Highlighting {
    HIGHLIGHTING.get_or_init(|| Highlighting {
        syntaxes: two_face::syntax::extra_newlines(),
        theme: two_face::theme::extra()
            .get(two_face::theme::EmbeddedThemeName::Base16OceanDark)
            .clone(),
    })
}

/// Load the syntax set and theme ahead of need (≈ 1.5 ms, ≈ 2.6 MB
/// resident); kaiwa itself leaves it to the first code block
/// (`examples/highlight_memory.rs` measures it).
pub fn warm_up() {
    let _ = highlighting();
}

/// Fence tags people write whose syntax `find_syntax_by_token` (extension
/// or name) does not find, or finds wrong: tag (lowercase) → syntax name.
/// `js`, `jsx`, `mjs`, `cjs` find "JavaScript (Babel)" (bat's JavaScript, JSX
/// included) by extension; `javascript` would find the older "JavaScript"
/// grammar by name, so it is mapped to Babel too.
const FENCE_ALIASES: &[(&str, &str)] = &[
    ("ts", "TypeScript"),
    ("typescript", "TypeScript"),
    ("mts", "TypeScript"),
    ("cts", "TypeScript"),
    ("tsx", "TypeScriptReact"),
    ("typescriptreact", "TypeScriptReact"),
    ("javascript", "JavaScript (Babel)"),
    ("jsx", "JavaScript (Babel)"),
    ("javascriptreact", "JavaScript (Babel)"),
    ("hcl", "Terraform"),
    ("terraform", "Terraform"),
    ("tf", "Terraform"),
    ("tfvars", "Terraform"),
    ("dockerfile", "Dockerfile"),
    ("docker", "Dockerfile"),
    ("containerfile", "Dockerfile"),
    ("kotlin", "Kotlin"),
    ("kt", "Kotlin"),
    ("kts", "Kotlin"),
    ("swift", "Swift"),
    ("zig", "Zig"),
    ("nix", "Nix"),
    ("toml", "TOML"),
    ("shell", "Bourne Again Shell (bash)"),
    ("zsh", "Bourne Again Shell (bash)"),
    ("golang", "Go"),
    ("csharp", "C#"),
    ("cs", "C#"),
    ("objc", "Objective-C"),
    ("objective-c", "Objective-C"),
    ("jsonc", "JSON"),
    ("json5", "JSON"),
];

/// The syntax for a fence's language tag (its first word; `rust,ignore`
/// counts as `rust`): an alias above, else syntect's look-up by extension
/// or name. None for an empty or unknown tag: the code renders plain.
pub(super) fn find_syntax<'a>(set: &'a SyntaxSet, lang: &str) -> Option<&'a SyntaxReference> {
    let tag = lang.split(',').next().unwrap_or_default().trim();
    if tag.is_empty() {
        return None;
    }
    let lower = tag.to_ascii_lowercase();
    FENCE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .and_then(|(_, name)| set.find_syntax_by_name(name))
        .or_else(|| set.find_syntax_by_token(tag))
        .or_else(|| set.find_syntax_by_token(&lower))
}

/// Draws fenced block number `number` into `out`: a frame labelled with its
/// language and number, the highlighted code wrapped inside it. `first`
/// and `rest` are the prefixes of the quotes and list items around it.
pub(super) fn draw_box(
    out: &mut Vec<Line<'static>>,
    lang: &str,
    code: &str,
    number: usize,
    (first, rest): (Vec<Run>, Vec<Run>),
    width: usize,
) {
    let outer: usize = rest.iter().map(|(t, _)| display_width(t)).sum();
    let inner_width = width.saturating_sub(outer + 2).max(1);
    // `╭─`, the label, at least one `─`: the label gets what is left.
    let label = box_label(lang, number, width.saturating_sub(outer + 3));
    let top_fill = width
        .saturating_sub(outer + 2 + display_width(&label))
        .max(1);
    let mut top = first;
    top.push((format!("╭─{label}"), theme::code_frame()));
    top.push(("─".repeat(top_fill), theme::code_frame()));
    out.push(runs_line(top));
    let highlighted = highlight(code, lang);
    for line_runs in highlighted {
        let mut prefix = rest.clone();
        prefix.push(("│ ".to_string(), theme::code_frame()));
        emit_wrapped_glyph(out, &line_runs, &prefix, inner_width);
    }
    let mut bottom = rest;
    bottom.push((
        format!("╰{}", "─".repeat(width.saturating_sub(outer + 1).max(1))),
        theme::code_frame(),
    ));
    out.push(runs_line(bottom));
}

/// ` rust · 3 ` in at most `room` columns: the language is cut (`ru…`)
/// before the number (what `c` copies the block by) is.
fn box_label(lang: &str, number: usize, room: usize) -> String {
    let plain = format!(" {number} ");
    if lang.is_empty() {
        return if display_width(&plain) <= room {
            plain
        } else {
            String::new()
        };
    }
    let tail = format!(" · {number} ");
    let lang = sanitize(lang);
    let full = format!(" {}{tail}", lang.as_str());
    if display_width(&full) <= room {
        return full;
    }
    let lang_room = room.saturating_sub(1 + display_width(&tail));
    if lang_room >= 2 {
        return format!(" {}{tail}", truncate_to_width(lang.as_str(), lang_room));
    }
    if display_width(&plain) <= room {
        plain
    } else {
        String::new()
    }
}

/// Highlight code line by line; each line's runs are sanitised.
fn highlight(code: &str, lang: &str) -> Vec<Vec<Run>> {
    let code = code.strip_suffix('\n').unwrap_or(code);
    // A fence without a tag (or indented code) does not load the syntaxes.
    let mut highlighter = (!lang.trim().is_empty()).then(highlighting).and_then(|h| {
        let syntax = find_syntax(&h.syntaxes, lang)?;
        Some((HighlightLines::new(syntax, &h.theme), &h.syntaxes))
    });
    let mut lines = Vec::new();
    for line in code.split('\n') {
        let mut runs = Vec::new();
        let with_newline = format!("{line}\n");
        let pieces = highlighter
            .as_mut()
            .and_then(|(h, set)| h.highlight_line(&with_newline, set).ok());
        match pieces {
            Some(pieces) => {
                for (style, text) in pieces {
                    let text = text.strip_suffix('\n').unwrap_or(text);
                    if !text.is_empty() {
                        push_sanitized(
                            &mut runs,
                            text,
                            theme::code(ansi_from_rgb(style.foreground)),
                        );
                    }
                }
            }
            None => push_sanitized(&mut runs, line, theme::code(None)),
        }
        lines.push(runs);
    }
    lines
}

/// Map a theme colour to one of the 16 terminal colours, so highlighting
/// follows the user's palette on dark and light terminals alike. Greys map
/// to the default colour. The theme's colours are pastel: its keywords
/// (`#b48ead`, spread 38) and functions (`#8fa1b3`, 36) must stay colours,
/// while its text (`#c0c5ce`, 14) and comments (`#65737e`, 25) are greys.
fn ansi_from_rgb(c: syntect::highlighting::Color) -> Option<Color> {
    let (r, g, b) = (i32::from(c.r), i32::from(c.g), i32::from(c.b));
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if max - min < 30 {
        return None;
    }
    let palette = [
        (Color::Red, (220, 80, 80)),
        (Color::Green, (120, 200, 100)),
        (Color::Yellow, (220, 190, 90)),
        (Color::Blue, (90, 140, 220)),
        (Color::Magenta, (190, 120, 200)),
        (Color::Cyan, (100, 190, 200)),
    ];
    palette
        .iter()
        .min_by_key(|(_, (pr, pg, pb))| (r - pr).pow(2) + (g - pg).pow(2) + (b - pb).pow(2))
        .map(|(color, _)| *color)
}
