//! Markdown → styled, wrapped, sanitised display lines (pulldown-cmark),
//! with fenced code highlighted by syntect (Oniguruma regexes; bat's syntax
//! set from two-face, loaded on first need) in a numbered box, and tables
//! aligned by display width.
//!
//! Invariants: every piece of text goes through `text::sanitize` before it
//! becomes a span, so escape sequences inside code blocks are shown, never
//! sent; lines are wrapped with `text::wrap`, the same measure ratatui draws
//! with. Streaming is incremental: `MarkdownCache` keeps the lines of the
//! finished blocks of a message and re-renders only the open last block, so
//! a long answer costs time linear in its length.

use std::sync::OnceLock;

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::Theme;
use syntect::parsing::{SyntaxReference, SyntaxSet};

use super::theme;
use crate::text::sanitize::sanitize;
use crate::text::wrap::{display_width, wrap_line};

pub use crate::text::code_blocks::CodeBlock;

/// Rendered markdown: lines and the code blocks in order.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub lines: Vec<Line<'static>>,
    pub code_blocks: Vec<CodeBlock>,
}

/// The syntax set and the one theme, loaded together on first need.
struct Highlighting {
    syntaxes: SyntaxSet,
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
fn highlighting() -> &'static Highlighting {
    HIGHLIGHTING.get_or_init(|| Highlighting {
        syntaxes: two_face::syntax::extra_newlines(),
        theme: two_face::theme::extra()
            .get(two_face::theme::EmbeddedThemeName::Base16OceanDark)
            .clone(),
    })
}

/// Load the syntax set and theme ahead of need, off the UI loop (≈ 1.5 ms,
/// ≈ 2.6 MB resident). Nothing is loaded at start-up: the runtime calls this when
/// the first question is sent, so the first code block of an answer finds
/// it ready; a code block rendered earlier (a resumed conversation) loads
/// it on the spot.
pub fn warm_up() {
    let _ = highlighting();
}

/// Whether the syntax set has been loaded (by `warm_up` or a code block).
pub fn highlighting_loaded() -> bool {
    HIGHLIGHTING.get().is_some()
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
fn find_syntax<'a>(set: &'a SyntaxSet, lang: &str) -> Option<&'a SyntaxReference> {
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

/// A styled run inside a logical line.
type Run = (String, Style);

#[derive(Debug, Clone)]
enum Container {
    Quote,
    Item { marker: String, used: bool },
}

#[derive(Debug, Default)]
struct TableBuilder {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<String>>,
    cell: String,
    row: Vec<String>,
    header_rows: usize,
}

struct Writer {
    width: usize,
    out: Vec<Line<'static>>,
    runs: Vec<Run>,
    styles: Vec<Style>,
    containers: Vec<Container>,
    lists: Vec<Option<u64>>,
    code: Option<(String, String)>,
    table: Option<TableBuilder>,
    link: Option<String>,
    need_blank: bool,
    code_blocks: Vec<CodeBlock>,
    first_block_number: usize,
}

/// Render `src` at `width` columns; code blocks are numbered from
/// `first_block_number`.
pub fn render(src: &str, width: usize, first_block_number: usize) -> Rendered {
    let mut w = Writer {
        width: width.max(4),
        out: Vec::new(),
        runs: Vec::new(),
        styles: vec![Style::default()],
        containers: Vec::new(),
        lists: Vec::new(),
        code: None,
        table: None,
        link: None,
        need_blank: false,
        code_blocks: Vec::new(),
        first_block_number,
    };
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for event in Parser::new_ext(src, options) {
        w.event(event);
    }
    // An unclosed fence mid-stream is still code.
    if w.code.is_some() {
        w.end_code();
    }
    w.flush();
    Rendered {
        lines: w.out,
        code_blocks: w.code_blocks,
    }
}

impl Writer {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, patch: Style) {
        let next = self.style().patch(patch);
        self.styles.push(next);
    }

    fn pop_style(&mut self) {
        if self.styles.len() > 1 {
            self.styles.pop();
        }
    }

    fn text(&mut self, text: &str) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
            return;
        }
        if let Some(table) = &mut self.table {
            table.cell.push_str(text);
            return;
        }
        let style = self.style();
        push_sanitized(&mut self.runs, text, style);
    }

    /// Prefixes for the first and later rows of the current line.
    fn prefixes(&mut self) -> (Vec<Run>, Vec<Run>) {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        for container in &mut self.containers {
            match container {
                Container::Quote => {
                    first.push(("│ ".to_string(), theme::dim()));
                    rest.push(("│ ".to_string(), theme::dim()));
                }
                Container::Item { marker, used } => {
                    let blank = " ".repeat(display_width(marker));
                    if *used {
                        first.push((blank.clone(), Style::default()));
                    } else {
                        first.push((marker.clone(), theme::list_marker()));
                        *used = true;
                    }
                    rest.push((blank, Style::default()));
                }
            }
        }
        (first, rest)
    }

    fn blank_if_needed(&mut self) {
        if self.need_blank && !self.out.is_empty() {
            let quote_bars = self
                .containers
                .iter()
                .filter(|c| matches!(c, Container::Quote))
                .count();
            let line = if quote_bars > 0 {
                Line::styled("│ ".repeat(quote_bars).trim_end().to_string(), theme::dim())
            } else {
                Line::default()
            };
            self.out.push(line);
        }
        self.need_blank = false;
    }

    /// Wrap the pending runs into output rows.
    fn flush(&mut self) {
        if self.runs.is_empty() {
            return;
        }
        let runs = std::mem::take(&mut self.runs);
        let (first, rest) = self.prefixes();
        emit_wrapped(&mut self.out, &runs, &first, &rest, self.width);
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.text(&text),
            Event::Code(code) => {
                if let Some(table) = &mut self.table {
                    table.cell.push_str(&code);
                } else {
                    let style = self.style().patch(theme::inline_code());
                    push_sanitized(&mut self.runs, &code, style);
                }
            }
            // A single newline in a model's answer is meant as one (poems,
            // addresses, plain lists): shown as a break, as chat UIs and
            // GitHub comments do, not joined into the paragraph.
            Event::SoftBreak | Event::HardBreak => {
                if self.code.is_none() && self.table.is_none() {
                    self.flush();
                }
            }
            Event::Rule => {
                self.flush();
                self.blank_if_needed();
                let (first, _) = self.prefixes();
                let used: usize = first.iter().map(|(t, _)| display_width(t)).sum();
                let rule = "─".repeat(self.width.saturating_sub(used).max(1));
                let mut spans: Vec<Span<'static>> =
                    first.into_iter().map(|(t, s)| Span::styled(t, s)).collect();
                spans.push(Span::styled(rule, theme::dim()));
                self.out.push(Line::from(spans));
                self.need_blank = true;
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                let style = self.style().patch(theme::dim());
                push_sanitized(&mut self.runs, html.trim_end_matches('\n'), style);
                if event_kind_is_block(&html) {
                    self.flush();
                }
            }
            Event::TaskListMarker(done) => {
                let mark = if done { "[x] " } else { "[ ] " };
                self.runs.push((mark.to_string(), theme::list_marker()));
            }
            Event::FootnoteReference(name) => self.text(&format!("[^{name}]")),
            Event::InlineMath(m) | Event::DisplayMath(m) => self.text(&m),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                self.flush();
                self.blank_if_needed();
            }
            Tag::Heading { level, .. } => {
                self.flush();
                self.blank_if_needed();
                self.push_style(theme::heading(heading_depth(level)));
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.blank_if_needed();
                self.containers.push(Container::Quote);
                self.push_style(Style::default().add_modifier(Modifier::ITALIC));
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                self.blank_if_needed();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.flush();
                if self.lists.is_empty() {
                    self.blank_if_needed();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                self.blank_if_needed();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => match self.lists.len() {
                        1 => "• ".to_string(),
                        2 => "◦ ".to_string(),
                        _ => "▪ ".to_string(),
                    },
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Emphasis => self.push_style(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => {
                self.push_style(Style::default().add_modifier(Modifier::CROSSED_OUT));
            }
            Tag::Link { dest_url, .. } => {
                self.link = Some(dest_url.to_string());
                self.push_style(theme::link());
            }
            Tag::Image { dest_url, .. } => {
                self.link = Some(dest_url.to_string());
                self.text("[image: ");
            }
            Tag::Table(aligns) => {
                self.flush();
                self.blank_if_needed();
                self.table = Some(TableBuilder {
                    aligns,
                    ..TableBuilder::default()
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.row.clear();
                }
            }
            Tag::TableCell => {
                if let Some(t) = &mut self.table {
                    t.cell.clear();
                }
            }
            Tag::FootnoteDefinition(name) => {
                self.flush();
                self.blank_if_needed();
                self.text(&format!("[^{name}]: "));
            }
            Tag::HtmlBlock
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_)
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::FootnoteDefinition | TagEnd::HtmlBlock => {
                self.flush();
                self.need_blank = true;
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.pop_style();
                self.need_blank = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.pop_style();
                self.need_blank = true;
            }
            TagEnd::CodeBlock => self.end_code(),
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.need_blank = true;
                }
            }
            TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_style(),
            TagEnd::Link => {
                self.pop_style();
                if let Some(url) = self.link.take() {
                    let shown: String = self
                        .runs
                        .iter()
                        .rev()
                        .take(1)
                        .map(|(t, _)| t.clone())
                        .collect();
                    if !url.is_empty() && shown != url {
                        let style = self.style().patch(theme::dim());
                        push_sanitized(&mut self.runs, &format!(" ({url})"), style);
                    }
                }
            }
            TagEnd::Image => {
                if let Some(url) = self.link.take() {
                    self.text(&format!("]({url})"));
                }
            }
            TagEnd::Table => self.end_table(),
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                    t.header_rows = t.rows.len();
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    let row = std::mem::take(&mut t.row);
                    t.rows.push(row);
                }
            }
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table {
                    let cell = std::mem::take(&mut t.cell);
                    t.row.push(cell.trim().to_string());
                }
            }
            TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_)
            | TagEnd::Superscript
            | TagEnd::Subscript => {}
        }
    }

    fn end_code(&mut self) {
        let Some((lang, code)) = self.code.take() else {
            return;
        };
        let number = self.first_block_number + self.code_blocks.len();
        let (first, rest) = self.prefixes();
        let outer: usize = rest.iter().map(|(t, _)| display_width(t)).sum();
        let inner_width = self.width.saturating_sub(outer + 2).max(1);
        let label = if lang.is_empty() {
            format!(" {number} ")
        } else {
            format!(" {} · {number} ", sanitize(&lang).as_str())
        };
        let top_fill = self
            .width
            .saturating_sub(outer + 2 + display_width(&label))
            .max(1);
        let mut top = first;
        top.push((format!("╭─{label}"), theme::code_frame()));
        top.push(("─".repeat(top_fill), theme::code_frame()));
        self.out.push(runs_line(top));
        let highlighted = highlight(&code, &lang);
        for line_runs in highlighted {
            let mut prefix = rest.clone();
            prefix.push(("│ ".to_string(), theme::code_frame()));
            emit_wrapped_glyph(&mut self.out, &line_runs, &prefix, inner_width);
        }
        let mut bottom = rest;
        bottom.push((
            format!(
                "╰{}",
                "─".repeat(self.width.saturating_sub(outer + 1).max(1))
            ),
            theme::code_frame(),
        ));
        self.out.push(runs_line(bottom));
        self.code_blocks.push(CodeBlock { lang, code });
        self.need_blank = true;
    }

    fn end_table(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        let (_, rest) = self.prefixes();
        let outer: usize = rest.iter().map(|(t, _)| display_width(t)).sum();
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let cells: Vec<Vec<String>> = table
            .rows
            .iter()
            .map(|r| {
                (0..columns)
                    .map(|i| sanitize(r.get(i).map_or("", String::as_str)).into_string())
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = (0..columns)
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r.get(i).map_or(0, |c| display_width(c)))
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        // Borders take 3 columns per cell plus 1.
        let budget = self
            .width
            .saturating_sub(outer + 3 * columns + 1)
            .max(columns);
        while widths.iter().sum::<usize>() > budget {
            let Some((i, _)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if let Some(w) = widths.get_mut(i) {
                if *w <= 1 {
                    break;
                }
                *w -= 1;
            }
        }
        let border = |left: &str, mid: &str, right: &str| -> String {
            let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{left}{}{right}", parts.join(mid))
        };
        let push = |out: &mut Vec<Line<'static>>, text: String, style: Style| {
            let mut runs = rest.clone();
            runs.push((text, style));
            out.push(runs_line(runs));
        };
        push(&mut self.out, border("┌", "┬", "┐"), theme::dim());
        for (r, row) in cells.iter().enumerate() {
            let wrapped: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| {
                    wrap_line(cell, *w)
                        .into_iter()
                        .filter_map(|range| cell.get(range).map(str::to_string))
                        .collect()
                })
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for line in 0..height {
                let mut runs = rest.clone();
                for (c, (lines, w)) in wrapped.iter().zip(&widths).enumerate() {
                    let text = lines.get(line).map_or("", String::as_str);
                    let pad = w.saturating_sub(display_width(text));
                    let (left, right) = match table.aligns.get(c) {
                        Some(Alignment::Right) => (pad, 0),
                        Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                        _ => (0, pad),
                    };
                    runs.push(("│ ".to_string(), theme::dim()));
                    let style = if r < table.header_rows {
                        Style::default().add_modifier(Modifier::BOLD)
                    } else {
                        Style::default()
                    };
                    runs.push((
                        format!("{}{text}{} ", " ".repeat(left), " ".repeat(right)),
                        style,
                    ));
                }
                runs.push(("│".to_string(), theme::dim()));
                self.out.push(runs_line(runs));
            }
            if r + 1 == table.header_rows && cells.len() > table.header_rows {
                push(&mut self.out, border("├", "┼", "┤"), theme::dim());
            }
        }
        push(&mut self.out, border("└", "┴", "┘"), theme::dim());
        self.need_blank = true;
    }
}

fn event_kind_is_block(html: &str) -> bool {
    html.ends_with('\n')
}

fn heading_depth(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Sanitise `text` and append it as runs; the sanitiser's stand-ins are dim.
fn push_sanitized(runs: &mut Vec<Run>, text: &str, style: Style) {
    let safe = sanitize(text);
    let s = safe.as_str();
    let mut pos = 0;
    for marker in safe.markers() {
        if let Some(t) = s.get(pos..marker.start).filter(|t| !t.is_empty()) {
            runs.push((t.to_string(), style));
        }
        if let Some(t) = s.get(marker.clone()) {
            runs.push((t.to_string(), style.patch(theme::marker())));
        }
        pos = marker.end;
    }
    if let Some(t) = s.get(pos..).filter(|t| !t.is_empty()) {
        runs.push((t.to_string(), style));
    }
}

fn runs_line(runs: Vec<Run>) -> Line<'static> {
    Line::from(
        runs.into_iter()
            .map(|(t, s)| Span::styled(t, s))
            .collect::<Vec<_>>(),
    )
}

/// Word-wrap one logical line made of runs, with prefixes (the first row
/// gets `first`, later rows `rest`; both have the same width).
fn emit_wrapped(
    out: &mut Vec<Line<'static>>,
    runs: &[Run],
    first: &[Run],
    rest: &[Run],
    width: usize,
) {
    let text: String = runs.iter().map(|(t, _)| t.as_str()).collect();
    let prefix_width: usize = rest.iter().map(|(t, _)| display_width(t)).sum();
    let avail = width.saturating_sub(prefix_width).max(1);
    let mut offset = 0;
    let mut first_row = true;
    for piece in text.split('\n') {
        for row in wrap_line(piece, avail) {
            let prefix = if first_row { first } else { rest };
            push_row(out, runs, offset + row.start..offset + row.end, prefix);
            first_row = false;
        }
        offset += piece.len() + 1;
    }
}

/// Rows of code: wrapped at grapheme boundaries, indentation kept.
fn emit_wrapped_glyph(out: &mut Vec<Line<'static>>, runs: &[Run], prefix: &[Run], width: usize) {
    let text: String = runs.iter().map(|(t, _)| t.as_str()).collect();
    if text.is_empty() {
        out.push(runs_line(prefix.to_vec()));
        return;
    }
    let mut start = 0;
    let mut col = 0;
    let mut rows = Vec::new();
    for (i, g) in unicode_segmentation::UnicodeSegmentation::grapheme_indices(text.as_str(), true) {
        let w = display_width(g);
        if col + w > width && col > 0 {
            rows.push(start..i);
            start = i;
            col = 0;
        }
        col += w;
    }
    rows.push(start..text.len());
    for row in rows {
        push_row(out, runs, row, prefix);
    }
}

/// One row: the prefix then the parts of `runs` inside `range` (byte
/// offsets into the concatenated run text).
fn push_row(
    out: &mut Vec<Line<'static>>,
    runs: &[Run],
    range: std::ops::Range<usize>,
    prefix: &[Run],
) {
    let mut spans: Vec<Span<'static>> = prefix
        .iter()
        .map(|(t, s)| Span::styled(t.clone(), *s))
        .collect();
    let mut pos = 0;
    for (text, style) in runs {
        let end = pos + text.len();
        let from = range.start.max(pos);
        let to = range.end.min(end);
        if from < to
            && let Some(part) = text.get(from - pos..to - pos)
        {
            spans.push(Span::styled(part.to_string(), *style));
        }
        pos = end;
        if pos >= range.end {
            break;
        }
    }
    out.push(Line::from(spans));
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

/// Incremental rendering of one message while it streams: the finished
/// blocks (up to the last blank line outside a code fence) are rendered
/// once; only the open tail is rendered again.
#[derive(Debug, Clone, Default)]
pub struct MarkdownCache {
    width: usize,
    /// The source text the stable part was rendered from (so an edit in
    /// place, not only growth, is noticed).
    stable_src: String,
    stable: Rendered,
    /// Reference-link definitions of the whole text, appended to every
    /// piece parsed, so `[x][1]` renders the same streamed or not.
    definitions: String,
}

impl MarkdownCache {
    /// Render `src` at `width`, reusing the finished part from last time
    /// when `src` only grew.
    pub fn render(&mut self, src: &str, width: usize) -> Rendered {
        let definitions = link_definitions(src);
        let reusable = self.width == width
            && src.starts_with(self.stable_src.as_str())
            && definitions == self.definitions;
        if !reusable {
            *self = Self {
                width,
                definitions,
                ..Self::default()
            };
        }
        let stable_len = self.stable_src.len();
        let boundary = stable_boundary(src, stable_len);
        if boundary > stable_len
            && let Some(chunk) = src.get(stable_len..boundary)
        {
            let more = render(
                &self.with_definitions(chunk),
                width,
                1 + self.stable.code_blocks.len(),
            );
            if !self.stable.lines.is_empty() && !more.lines.is_empty() {
                self.stable.lines.push(Line::default());
            }
            self.stable.lines.extend(more.lines);
            self.stable.code_blocks.extend(more.code_blocks);
            self.stable_src.push_str(chunk);
        }
        let tail = src.get(self.stable_src.len()..).unwrap_or("");
        let mut out = self.stable.clone();
        if !tail.trim().is_empty() {
            let rendered = render(
                &self.with_definitions(tail),
                width,
                1 + out.code_blocks.len(),
            );
            if !out.lines.is_empty() && !rendered.lines.is_empty() {
                out.lines.push(Line::default());
            }
            out.lines.extend(rendered.lines);
            out.code_blocks.extend(rendered.code_blocks);
        }
        out
    }

    fn with_definitions(&self, piece: &str) -> String {
        if self.definitions.is_empty() {
            piece.to_string()
        } else {
            format!("{piece}\n\n{}", self.definitions)
        }
    }
}

/// The reference-link definitions (`[1]: https://…`) of a text, one a line.
/// They render as nothing, so adding them to a piece changes only how its
/// `[text][1]` links resolve.
fn link_definitions(src: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in src.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        let indent = line.len() - trimmed.len();
        if in_fence || indent > 3 || !trimmed.starts_with('[') || trimmed.starts_with("[^") {
            continue;
        }
        if let Some(close) = trimmed.find("]:")
            && close > 1
            && !trimmed
                .get(1..close)
                .is_some_and(|label| label.contains(']'))
        {
            out.push_str(trimmed);
            out.push('\n');
        }
    }
    out
}

/// The end of the last blank line after `from` that is outside a code
/// fence and not inside a list or quote continuation (the next line starts
/// at column 0 with ordinary text), or `from` when there is none.
fn stable_boundary(src: &str, from: usize) -> usize {
    let Some(rest) = src.get(from..) else {
        return from;
    };
    let mut in_fence: Option<(char, usize)> = None;
    let mut boundary = from;
    let mut prev_blank = false;
    let mut offset = from;
    for line in rest.split_inclusive('\n') {
        let complete = line.ends_with('\n');
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let fence_char = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        if let Some(c) = fence_char {
            let run = trimmed.chars().take_while(|x| *x == c).count();
            if run >= 3 && indent < 4 && complete {
                match in_fence {
                    None => in_fence = Some((c, run)),
                    Some((fc, fr))
                        if fc == c && run >= fr && trimmed.trim_end().chars().all(|x| x == c) =>
                    {
                        in_fence = None;
                    }
                    Some(_) => {}
                }
            }
        }
        let blank = line.trim().is_empty() && complete;
        // A block may start here if the previous line was blank, we are not
        // inside a fence, and this line is not indented (no continuation).
        if prev_blank
            && in_fence.is_none()
            && indent == 0
            && !blank
            && complete
            && !is_list_item(trimmed)
        {
            boundary = offset;
        }
        prev_blank = blank && in_fence.is_none();
        offset += line.len();
    }
    boundary
}

fn is_list_item(line: &str) -> bool {
    let bullet = line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ");
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let numbered = digits > 0
        && line
            .get(digits..)
            .is_some_and(|r| r.starts_with(". ") || r.starts_with(") "));
    bullet || numbered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn headings_lists_and_emphasis() {
        let r = render(
            "# Title\n\nSome *em* and **strong** `code`.\n\n- a\n- b\n  - nested\n1. one\n2. two\n",
            40,
            1,
        );
        let t = text_of(&r.lines);
        assert_eq!(
            t,
            [
                "Title",
                "",
                "Some em and strong code.",
                "",
                "• a",
                "• b",
                "  ◦ nested",
                "",
                "1. one",
                "2. two"
            ]
        );
    }

    #[test]
    fn code_block_is_boxed_numbered_and_sanitised() {
        let r = render(
            "```rust\nfn main() {\n\tprint!(\"\x1b[2J\");\n}\n```\n",
            40,
            1,
        );
        let t = text_of(&r.lines);
        assert!(t[0].starts_with("╭─ rust · 1 ─"), "{t:?}");
        assert_eq!(t[1], "│ fn main() {");
        assert_eq!(t[2], "│     print!(\"␛[2J\");");
        assert!(t[4].starts_with("╰─"));
        assert_eq!(
            r.code_blocks,
            [CodeBlock {
                lang: "rust".into(),
                code: "fn main() {\n\tprint!(\"\x1b[2J\");\n}\n".into()
            }]
        );
        for line in &r.lines {
            for span in &line.spans {
                assert!(
                    !span.content.chars().any(char::is_control),
                    "{:?}",
                    span.content
                );
            }
        }
    }

    #[test]
    fn unclosed_fence_renders_as_code() {
        let r = render("Here:\n\n```python\nprint('hi')\n", 40, 1);
        let t = text_of(&r.lines);
        assert_eq!(
            t[2],
            "╭─ python · 1 ────────────────────────────────"
                .chars()
                .take(40)
                .collect::<String>()
                .trim_end()
        );
        assert_eq!(t[3], "│ print('hi')");
    }

    #[test]
    fn cjk_table_aligned_by_display_width() {
        let r = render(
            "| 이름 | 値 |\n|---|--:|\n| 가나다 | 1 |\n| a | 22 |\n",
            40,
            1,
        );
        let t = text_of(&r.lines);
        assert_eq!(
            t,
            [
                "┌────────┬────┐",
                "│ 이름   │ 値 │",
                "├────────┼────┤",
                "│ 가나다 │  1 │",
                "│ a      │ 22 │",
                "└────────┴────┘"
            ]
        );
    }

    #[test]
    fn links_show_url_and_quotes_bar() {
        let r = render("See [docs](https://x.org).\n\n> quoted\n> text\n", 60, 1);
        let t = text_of(&r.lines);
        assert_eq!(t, ["See docs (https://x.org).", "", "│ quoted", "│ text"]);
    }

    #[test]
    fn long_lines_wrap_with_list_indent() {
        let r = render("- alpha beta gamma delta epsilon\n", 14, 1);
        assert_eq!(
            text_of(&r.lines),
            ["• alpha beta", "  gamma delta", "  epsilon"]
        );
    }

    #[test]
    fn an_edit_in_place_is_not_mistaken_for_growth() {
        let mut cache = MarkdownCache::default();
        let first = "First paragraph.\n\nSecond.";
        cache.render(first, 30);
        let edited = "Changed paragraph, longer than before.\n\nSecond.";
        let t = text_of(&cache.render(edited, 40).lines);
        assert_eq!(t[0], "Changed paragraph, longer than before.");
        let t = text_of(&cache.render(edited, 40).lines);
        assert!(!t.iter().any(|l| l.contains("First")), "{t:?}");
    }

    #[test]
    fn reference_links_resolve_while_streaming() {
        let src = "See [the docs][1].\n\nMore.\n\n[1]: https://x.org\n";
        let mut cache = MarkdownCache::default();
        let mut last = Vec::new();
        for end in (0..=src.len()).filter(|i| src.is_char_boundary(*i)) {
            last = text_of(&cache.render(src.get(..end).unwrap(), 40).lines);
        }
        assert_eq!(last, text_of(&render(src, 40, 1).lines));
        assert_eq!(last[0], "See the docs (https://x.org).");
    }

    #[test]
    fn incremental_equals_whole() {
        let src = "# Head\n\nPara one is here.\n\n```rust\nlet x = 1;\n\nlet y = 2;\n```\n\nAfter code.\n\n- list\n\n- loose\n\nEnd.";
        let whole = text_of(&render(src, 30, 1).lines);
        let mut cache = MarkdownCache::default();
        let mut last = Vec::new();
        for end in (0..=src.len()).filter(|i| src.is_char_boundary(*i)) {
            last = text_of(&cache.render(src.get(..end).unwrap(), 30).lines);
        }
        assert_eq!(last, whole);
        assert_eq!(cache.render(src, 30).code_blocks.len(), 1);
    }
    /// The foreground colours of the code lines (inside the box) of a
    /// rendered fence.
    fn code_colours(lang: &str, code: &str) -> std::collections::BTreeSet<String> {
        let r = render(&format!("```{lang}\n{code}\n```\n"), 80, 1);
        let inner = r.lines.len().saturating_sub(1);
        r.lines
            .get(1..inner)
            .unwrap_or_default()
            .iter()
            .flat_map(|l| l.spans.iter().skip(1))
            .filter(|s| !s.content.trim().is_empty())
            .filter_map(|s| s.style.fg.map(|c| c.to_string()))
            .collect()
    }

    /// Each fence tag finds the syntax it names and a short snippet in it
    /// comes out in at least two colours: really highlighted, not plain.
    macro_rules! highlighted {
        ($($test:ident: $lang:literal => $syntax:literal, $code:literal;)*) => {$(
            #[test]
            fn $test() {
                let found = find_syntax(&highlighting().syntaxes, $lang).map(|s| s.name.as_str());
                assert_eq!(found, Some($syntax), "fence tag {}", $lang);
                let colours = code_colours($lang, $code);
                assert!(colours.len() >= 2, "{}: {colours:?}", $lang);
            }
        )*};
    }

    highlighted! {
        highlights_typescript: "typescript" => "TypeScript",
            "interface A { x: number }\nconst a: A = { x: 1 };";
        highlights_ts: "ts" => "TypeScript",
            "export function f(a: string): number { return 1; }";
        highlights_tsx: "tsx" => "TypeScriptReact",
            "const A = (p: P) => <div className=\"a\">{p.x}</div>;";
        highlights_jsx: "jsx" => "JavaScript (Babel)",
            "export default function A() { return <div className=\"a\">hi</div>; }";
        highlights_js: "js" => "JavaScript (Babel)",
            "const f = async (a) => { await g(a); }; // go";
        highlights_javascript: "javascript" => "JavaScript (Babel)",
            "import { x } from \"y\";\nclass A { m() { return x ?? 1; } }";
        highlights_toml: "toml" => "TOML",
            "[package]\nname = \"kaiwa\"\nversion = 1";
        highlights_dockerfile: "dockerfile" => "Dockerfile",
            "FROM rust:1.89 AS build\nRUN cargo build --release\nCMD [\"kaiwa\"]";
        highlights_docker: "docker" => "Dockerfile",
            "FROM alpine:3\nRUN echo \"hi\" # greet";
        highlights_kotlin: "kotlin" => "Kotlin",
            "fun main() {\n    val x: Int = 42\n    println(\"x=$x\")\n}";
        highlights_kt: "kt" => "Kotlin",
            "class A(val x: Int)";
        highlights_swift: "swift" => "Swift",
            "func greet(name: String) -> String {\n    return \"Hi \\(name)\"\n}";
        highlights_zig: "zig" => "Zig",
            "pub fn main() void {\n    const x: u8 = 42;\n}";
        highlights_nix: "nix" => "Nix",
            "{ pkgs ? import <nixpkgs> {} }:\npkgs.mkShell { buildInputs = [ pkgs.hello ]; }";
        highlights_hcl: "hcl" => "Terraform",
            "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \"logs\"\n  count  = 2\n}";
        highlights_terraform: "terraform" => "Terraform",
            "variable \"region\" {\n  default = \"eu-west-1\"\n}";
        highlights_tf: "tf" => "Terraform",
            "output \"id\" {\n  value = aws_instance.a.id\n}";
        highlights_capitalised_and_rustdoc_tags: "Rust,ignore" => "Rust",
            "fn main() { let x = \"s\"; }";
    }

    #[test]
    fn an_unknown_tag_renders_the_code_plain() {
        let code = "let x = \"y\"; // not a language";
        let r = render(&format!("```nosuchlang\n{code}\n```\n"), 60, 1);
        let t = text_of(&r.lines);
        assert!(t[0].starts_with("╭─ nosuchlang · 1 ─"), "{t:?}");
        assert_eq!(t[1], format!("│ {code}"));
        assert!(code_colours("nosuchlang", code).is_empty());
        assert!(code_colours("", code).is_empty());
    }
}
