//! Markdown → styled, wrapped, sanitised display lines (pulldown-cmark):
//! the block renderer. Fenced code is drawn in a numbered box and
//! highlighted (`code`), tables are aligned by display width (`table`),
//! runs become wrapped rows in `rows`, and `MarkdownCache` (`stream`)
//! renders a growing answer incrementally.
//!
//! Invariants: every piece of text goes through `text::sanitize` before it
//! becomes a span, so escape sequences inside code blocks are shown, never
//! sent; lines are wrapped with `text::wrap`, the same measure ratatui draws
//! with. Streaming is incremental: `MarkdownCache` keeps the lines of the
//! finished blocks of a message and re-renders only the open last block, so
//! a long answer costs time linear in its length. Quotes and list items
//! are drawn as bars and indents at most `MAX_DRAWN_LEVELS` deep and in at
//! most half the width; deeper text is shown after a depth marker (`›12 `),
//! so no nesting pushes text off the row.

mod code;
mod rows;
mod stream;
mod table;

use pulldown_cmark::{
    BrokenLink, CodeBlockKind, CowStr, Event, HeadingLevel, LinkType, Options, Parser, RefDefs,
    Tag, TagEnd,
};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::theme;
use crate::text::wrap::display_width;
pub use code::warm_up;
use rows::{Run, emit_wrapped, push_sanitized};
pub use stream::MarkdownCache;
use table::TableBuilder;

pub use crate::text::code_blocks::CodeBlock;

/// Rendered markdown: lines and the code blocks in order.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub lines: Vec<Line<'static>>,
    pub code_blocks: Vec<CodeBlock>,
}

#[derive(Debug, Clone)]
enum Container {
    Quote,
    Item { marker: String, used: bool },
}

impl Container {
    /// Columns its bar or indent takes on a row.
    fn width(&self) -> usize {
        match self {
            Self::Quote => 2,
            Self::Item { marker, .. } => display_width(marker),
        }
    }
}

/// How deep quotes and list items are drawn as bars and indents; deeper
/// text gets a depth marker instead (`Writer::drawn`).
const MAX_DRAWN_LEVELS: usize = 8;

/// The most columns the bars and indents of a row may take: half the
/// width, so nested text always keeps the other half.
fn prefix_budget(width: usize) -> usize {
    width / 2
}

/// What `Writer::drawn` decided for the current line: the outermost
/// `outer` containers are drawn, then `marker` (`›N `) when some are not,
/// then the innermost list item's marker when `innermost`.
struct Drawn {
    outer: usize,
    marker: Option<String>,
    innermost: bool,
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
    /// The last blank line `blank_if_needed` put, so that one before a
    /// block that draws nothing is not left (the streaming cache, which
    /// renders such a block alone, would not have it).
    blank_line: Option<usize>,
    code_blocks: Vec<CodeBlock>,
    first_block_number: usize,
}

/// The Markdown extensions kaiwa renders.
const OPTIONS: Options = Options::ENABLE_TABLES
    .union(Options::ENABLE_STRIKETHROUGH)
    .union(Options::ENABLE_TASKLISTS);

/// Render `src` at `width` columns; code blocks are numbered from
/// `first_block_number`.
pub fn render(src: &str, width: usize, first_block_number: usize) -> Rendered {
    render_with(src, width, first_block_number, None)
}

/// `render`, with a reference link `src` does not define (`[a][1]`)
/// resolved by `definitions` when they define it: the link definitions of
/// the whole answer when `src` is a piece of it (`MarkdownCache`).
fn render_with(
    src: &str,
    width: usize,
    first_block_number: usize,
    definitions: Option<&RefDefs<'_>>,
) -> Rendered {
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
        blank_line: None,
        code_blocks: Vec::new(),
        first_block_number,
    };
    let resolve = |link: BrokenLink<'_>| {
        let found = definitions?.get(link.reference.as_ref())?;
        let title = found.title.as_deref().unwrap_or_default();
        Some((
            CowStr::from(found.dest.to_string()),
            CowStr::from(title.to_string()),
        ))
    };
    for event in Parser::new_with_broken_link_callback(src, OPTIONS, Some(resolve)) {
        w.event(first_definition(event, definitions));
    }
    // An unclosed fence mid-stream is still code.
    if w.code.is_some() {
        w.end_code();
    }
    w.flush();
    if w.blank_is_last() {
        w.out.pop();
    }
    Rendered {
        lines: w.out,
        code_blocks: w.code_blocks,
    }
}

/// A reference link or image (`[a][1]`, `[1]`) goes where the whole
/// answer's first definition of its label says, even when the piece being
/// rendered holds a later definition of the same label.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "every other event passes through unchanged, whatever pulldown-cmark adds"
)]
fn first_definition<'a>(event: Event<'a>, definitions: Option<&RefDefs<'_>>) -> Event<'a> {
    let found = |id: &str| {
        definitions
            .and_then(|defs| defs.get(id).map(|def| def.dest.to_string()))
            .map(CowStr::from)
    };
    match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if is_reference(link_type) => Event::Start(Tag::Link {
            dest_url: found(&id).unwrap_or(dest_url),
            link_type,
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) if is_reference(link_type) => Event::Start(Tag::Image {
            dest_url: found(&id).unwrap_or(dest_url),
            link_type,
            title,
            id,
        }),
        other => other,
    }
}

fn is_reference(link_type: LinkType) -> bool {
    match link_type {
        LinkType::Reference
        | LinkType::ReferenceUnknown
        | LinkType::Collapsed
        | LinkType::CollapsedUnknown
        | LinkType::Shortcut
        | LinkType::ShortcutUnknown => true,
        LinkType::Inline | LinkType::Autolink | LinkType::Email | LinkType::WikiLink { .. } => {
            false
        }
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
            table.push_text(text);
            return;
        }
        let style = self.style();
        push_sanitized(&mut self.runs, text, style);
    }

    /// Prefixes for the first and later rows of the current line: the
    /// bars and indents of the containers around it (see `Drawn`). Every
    /// list item around it has shown its marker once this row is drawn.
    fn prefixes(&mut self) -> (Vec<Run>, Vec<Run>) {
        let drawn = self.drawn();
        let mut first = Vec::new();
        let mut rest = Vec::new();
        let depth = self.containers.len();
        for (level, container) in self.containers.iter_mut().enumerate() {
            let shown = level < drawn.outer || (drawn.innermost && level + 1 == depth);
            if level == drawn.outer
                && let Some(marker) = &drawn.marker
            {
                first.push((marker.clone(), theme::dim()));
                rest.push((marker.clone(), theme::dim()));
            }
            match container {
                Container::Quote if shown => {
                    first.push(("│ ".to_string(), theme::dim()));
                    rest.push(("│ ".to_string(), theme::dim()));
                }
                Container::Quote => {}
                Container::Item { marker, used } => {
                    if shown {
                        let blank = " ".repeat(display_width(marker));
                        if *used {
                            first.push((blank.clone(), Style::default()));
                        } else {
                            first.push((marker.clone(), theme::list_marker()));
                        }
                        rest.push((blank, Style::default()));
                    }
                    *used = true;
                }
            }
        }
        (first, rest)
    }

    /// Which of the containers around the current line are drawn: all of
    /// them while they are at most `MAX_DRAWN_LEVELS` deep and take at most
    /// `prefix_budget` columns; else the outermost ones that fit, then a
    /// dim depth marker `›N ` (N: how deep the text is, counting quotes and
    /// list items), then the innermost list item's marker, so the text of
    /// an answer nested 200 levels deep still has half the row.
    fn drawn(&self) -> Drawn {
        let depth = self.containers.len();
        let budget = prefix_budget(self.width);
        let full: usize = self.containers.iter().map(Container::width).sum();
        if depth <= MAX_DRAWN_LEVELS && full <= budget {
            return Drawn {
                outer: depth,
                marker: None,
                innermost: false,
            };
        }
        let marker = format!("›{depth} ");
        let marker_width = display_width(&marker);
        let inner_width = match self.containers.last() {
            Some(c @ Container::Item { .. }) => c.width(),
            _ => 0,
        };
        let innermost = inner_width > 0 && marker_width + inner_width <= budget;
        let room = budget.saturating_sub(marker_width + if innermost { inner_width } else { 0 });
        let mut outer = 0;
        let mut used = 0;
        for container in self
            .containers
            .iter()
            .take(MAX_DRAWN_LEVELS.min(depth.saturating_sub(1)))
        {
            used += container.width();
            if used > room {
                break;
            }
            outer += 1;
        }
        Drawn {
            outer,
            marker: Some(marker),
            innermost,
        }
    }

    fn blank_if_needed(&mut self) {
        if self.need_blank && self.blank_is_last() {
            // The block after the last blank line drew nothing: this one
            // takes its place.
            self.out.pop();
        }
        if self.need_blank && !self.out.is_empty() {
            // The quote bars go on through the blank line; the rest of the
            // prefix (indents, the depth marker) does not.
            let drawn = self.drawn();
            let bars: String = self
                .containers
                .iter()
                .enumerate()
                .filter(|(level, c)| matches!(c, Container::Quote) && *level < drawn.outer)
                .map(|_| "│ ")
                .collect();
            let line = if bars.is_empty() {
                Line::default()
            } else {
                Line::styled(bars.trim_end().to_string(), theme::dim())
            };
            self.out.push(line);
            self.blank_line = Some(self.out.len() - 1);
        }
        self.need_blank = false;
    }

    /// Whether the last line is a blank line put before a block that then
    /// drew nothing (`#` alone, an empty list item).
    fn blank_is_last(&self) -> bool {
        self.blank_line.is_some_and(|at| at + 1 == self.out.len())
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
                    table.push_text(&code);
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
                self.open_block();
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

    /// Ends the pending line and puts the blank line a new block needs.
    fn open_block(&mut self) {
        self.flush();
        self.blank_if_needed();
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // An HTML block is a block like the others: a blank line before
            // it (the streaming cache joins finished blocks with one).
            Tag::Paragraph | Tag::HtmlBlock => self.open_block(),
            Tag::Heading { level, .. } => {
                self.open_block();
                self.push_style(theme::heading(heading_depth(level)));
            }
            Tag::BlockQuote(_) => {
                self.open_block();
                self.containers.push(Container::Quote);
                self.push_style(Style::default().add_modifier(Modifier::ITALIC));
            }
            Tag::CodeBlock(kind) => {
                self.open_block();
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
            Tag::Item => self.start_item(),
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
                self.open_block();
                self.table = Some(TableBuilder::new(aligns));
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.start_row();
                }
            }
            Tag::TableCell => {
                if let Some(t) = &mut self.table {
                    t.start_cell();
                }
            }
            Tag::FootnoteDefinition(name) => {
                self.open_block();
                self.text(&format!("[^{name}]: "));
            }
            Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_)
            | Tag::Superscript
            | Tag::Subscript => {}
        }
    }

    /// A list item: its marker (the number, or a bullet by depth) is shown
    /// on its first row, blanks of the same width on the rows after.
    fn start_item(&mut self) {
        self.open_block();
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
            TagEnd::Link => self.end_link(),
            TagEnd::Image => {
                if let Some(url) = self.link.take() {
                    self.text(&format!("]({url})"));
                }
            }
            TagEnd::Table => self.end_table(),
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.end_head();
                }
            }
            TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    t.end_row();
                }
            }
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table {
                    t.end_cell();
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

    /// A link shows its address after its text, unless the text is the
    /// address.
    fn end_link(&mut self) {
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

    fn end_code(&mut self) {
        let Some((lang, code)) = self.code.take() else {
            return;
        };
        let number = self.first_block_number + self.code_blocks.len();
        let prefixes = self.prefixes();
        code::draw_box(&mut self.out, &lang, &code, number, prefixes, self.width);
        self.code_blocks.push(CodeBlock { lang, code });
        self.need_blank = true;
    }

    fn end_table(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        let (_, rest) = self.prefixes();
        if table.draw(&mut self.out, &rest, self.width) {
            self.need_blank = true;
        }
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

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::code::{find_syntax, highlighting};
    use super::*;

    /// `src` streamed into one cache a character at a time, as deltas
    /// arrive: the render of the whole, last.
    fn streamed(src: &str, width: usize) -> Rendered {
        let mut cache = MarkdownCache::default();
        let mut last = Rendered::default();
        for end in (0..=src.len()).filter(|i| src.is_char_boundary(*i)) {
            last = cache.render(src.get(..end).unwrap_or_default(), width);
        }
        last
    }

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
        let last = text_of(&streamed(src, 40).lines);
        assert_eq!(last, text_of(&render(src, 40, 1).lines));
        assert_eq!(last[0], "See the docs (https://x.org).");
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: the streaming cache took
    /// every `[x]:` line for a link definition and appended it to each piece
    /// it rendered, so `[1]:` (no address: plain text) was shown twice; and
    /// a definition inside a quote was not seen, so a later `[a][1]` did
    /// not resolve while it did in the whole text.
    #[test]
    fn only_real_link_definitions_stream_as_they_render_whole() {
        for src in [
            "[1]:",
            "[1]:\n\nMore.",
            "Text.\n\n[1]: <\n\nMore [a][1].",
            "> [1]: https://x.org\n\nMore.\n\nSee [a][1].",
            "- [1]: https://x.org\n\nMore.\n\nSee [a][1] and [1].",
            "[\u{df}]: https://x.org\n\nMore.\n\nSee [a][SS].",
        ] {
            let whole = render(src, 40, 1).lines;
            let last = streamed(src, 40).lines;
            assert_eq!(text_of(&last), text_of(&whole), "{src:?}");
            assert_eq!(last, whole, "{src:?}");
        }
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: a bare list marker (`-`,
    /// `1.`: an empty item) after a blank line was taken for the start of a
    /// new top-level block, so the cache rendered it alone and lost the
    /// blank line the whole text has before the list.
    #[test]
    fn an_empty_list_item_streams_as_it_renders_whole() {
        for src in [
            "e\n\n-\n",
            "a\n\nb\n\n1.\n",
            "x\n\n*\n\ny",
            "x\n\n+ \n\n2)\n",
        ] {
            let whole = render(src, 40, 1).lines;
            let last = streamed(src, 40).lines;
            assert_eq!(last, whole, "{src:?}");
        }
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: "```a`" (a backtick in a
    /// backtick fence's info string: a paragraph, not a fence) was taken for
    /// an opening fence, so the fence really opened by the next "```" was
    /// taken as closed and the cache split the code block in two.
    #[test]
    fn a_backtick_in_the_info_string_opens_no_fence_while_streaming() {
        let src = "```a`\n```\n\n|\n\nmore";
        let whole = render(src, 40, 1);
        let last = streamed(src, 40);
        assert_eq!(last.lines, whole.lines);
        assert_eq!(last.code_blocks, whole.code_blocks);
        assert_eq!(whole.code_blocks.len(), 1);
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: the line scan that finds
    /// where the finished part of a streaming answer ends read some lines
    /// otherwise than CommonMark (a form feed before a fence is no
    /// indentation but text; an HTML comment or `<pre>` runs over blank
    /// lines), and the cache cut a block in two. Now pulldown-cmark must
    /// agree that a block starts there.
    #[test]
    fn blocks_commonmark_keeps_whole_are_never_cut_while_streaming() {
        for src in [
            "Para.\n\n\u{c}```rust\nlet x\n\nlet y\n```\n\nAfter.\n\nEnd.",
            "<!--\n\nhidden\n\n-->\n\nAfter.\n\nEnd.",
            "<pre>\n\nkept\n\n</pre>\n\nEnd.",
        ] {
            let whole = render(src, 40, 1).lines;
            let last = streamed(src, 40).lines;
            assert_eq!(text_of(&last), text_of(&whole), "{src:?}");
            assert_eq!(last, whole, "{src:?}");
        }
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: a label defined twice
    /// links to its first definition in the whole text, but a streamed
    /// piece holding the second one linked there.
    #[test]
    fn the_first_of_two_link_definitions_wins_while_streaming() {
        let src = "[1]:x\n\n.\n\n[1]:p\n[1]";
        let whole = render(src, 20, 1).lines;
        let last = streamed(src, 20).lines;
        assert_eq!(text_of(&last), text_of(&whole));
        assert_eq!(text_of(&whole), [".", "", "1 (x)"]);
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: a block that draws
    /// nothing (`#` alone, an empty heading) still put the blank line
    /// before it, so the whole answer ended in a blank line, or had two in
    /// a row, that the streamed one (where such a block is a piece of its
    /// own and adds nothing) did not have.
    #[test]
    fn a_block_that_draws_nothing_adds_no_blank_line() {
        for src in [
            "x\n\n#\n",
            "x\n\n#\n\ny",
            "> a\n>\n> #\n\nb",
            "x\n\n##\n\n#\n\n- y",
        ] {
            let whole = render(src, 20, 1).lines;
            let last = streamed(src, 20).lines;
            assert_eq!(last, whole, "{src:?}");
        }
        assert_eq!(text_of(&render("x\n\n#\n", 20, 1).lines), ["x"]);
        assert_eq!(text_of(&render("x\n\n#\n\ny", 20, 1).lines), ["x", "", "y"]);
        assert_eq!(
            text_of(&render("> a\n>\n> #\n\nb", 20, 1).lines),
            ["│ a", "", "b"]
        );
    }

    #[test]
    fn incremental_equals_whole() {
        let src = "# Head\n\nPara one is here.\n\n```rust\nlet x = 1;\n\nlet y = 2;\n```\n\nAfter code.\n\n- list\n\n- loose\n\nEnd.";
        let whole = text_of(&render(src, 30, 1).lines);
        let last = text_of(&streamed(src, 30).lines);
        assert_eq!(last, whole);
        assert_eq!(streamed(src, 30).code_blocks.len(), 1);
    }
    /// Found by `fuzz/fuzz_targets/markdown.rs`: an HTML block after
    /// another block had no blank line before it when rendered whole, but
    /// got one when streamed (the cache joins finished blocks with one).
    #[test]
    fn an_html_block_streams_as_it_renders_whole() {
        for src in [
            "---\n\n<div>\n",
            "Para.\n\n<!-- note -->\n\nMore.",
            "- item\n\n<br>\n",
        ] {
            let whole = render(src, 24, 1).lines;
            let last = streamed(src, 24).lines;
            assert_eq!(last, whole, "{src:?}");
        }
        assert_eq!(
            text_of(&render("---\n\n<div>\n", 8, 1).lines),
            ["────────", "", "<div>"]
        );
    }

    /// Found by `fuzz/fuzz_targets/markdown.rs`: a code box's top border
    /// (`╭─ rust · 1 ─`) was wider than a narrow screen, and a long fence
    /// tag made it as wide as the tag. The tag is cut to fit; the number
    /// (what `c` copies by) stays.
    #[test]
    fn a_code_box_label_fits_the_width() {
        let long = "a".repeat(60);
        for (src, width) in [
            ("```rust\nx\n```\n".to_string(), 12),
            ("```rust\nx\n```\n".to_string(), 4),
            (format!("```{long}\nx\n```\n"), 20),
            (format!("> - ```{long}\n>   x\n>   ```\n"), 30),
        ] {
            let lines = text_of(&render(&src, width, 7).lines);
            for line in &lines {
                assert!(display_width(line) <= width, "{line:?} at {width}");
            }
            assert!(lines.iter().any(|l| l.contains('╭')), "{lines:?}");
        }
        let top = &text_of(&render("```rust\nx\n```\n", 12, 1).lines)[0];
        assert_eq!(top, "╭─ ru… · 1 ─");
        let top = &text_of(&render(&format!("```{long}\nx\n```\n"), 20, 3).lines)[0];
        assert_eq!(top, "╭─ aaaaaaaaaa… · 3 ─");
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

    /// Renders `src` at 20, 40 and 120 columns: `word` is on a row, the
    /// depth marker says how deep, and no row is wider than the width.
    fn assert_deep_text_shown(src: &str, word: &str, depth: usize) {
        for width in [20, 40, 120] {
            let lines = render(src, width, 1).lines;
            let text = text_of(&lines);
            for (line, t) in lines.iter().zip(&text) {
                assert!(line.width() <= width, "{} > {width}: {t:?}", line.width());
            }
            assert!(
                text.iter().any(|t| t.ends_with(word)),
                "{word:?} missing at {width}: {text:#?}"
            );
            let marker = format!("›{depth} ");
            assert!(
                text.iter()
                    .any(|t| t.contains(&marker) && t.ends_with(word)),
                "no {marker:?} before {word:?} at {width}: {text:#?}"
            );
        }
    }

    #[test]
    fn two_hundred_nested_quotes_keep_their_last_word() {
        let src = format!("{}deepword", "> ".repeat(200));
        assert_deep_text_shown(&src, "deepword", 200);
        let t = text_of(&render(&src, 120, 1).lines);
        assert_eq!(
            t,
            ["│ │ │ │ │ │ │ │ ›200 deepword"],
            "8 bars, then the depth"
        );
    }

    #[test]
    fn two_hundred_nested_lists_keep_their_last_word() {
        // One item inside the other on one line, and by indentation.
        let one_line = format!("{}deepword", "- ".repeat(200));
        assert_deep_text_shown(&one_line, "deepword", 200);
        let mut indented = String::new();
        for i in 0..200 {
            let indent = "  ".repeat(i);
            if i == 199 {
                writeln!(indented, "{indent}- deepword").unwrap();
            } else {
                writeln!(indented, "{indent}- level {i}").unwrap();
            }
        }
        assert_deep_text_shown(&indented, "deepword", 200);
        let t = text_of(&render(&indented, 40, 1).lines);
        assert_eq!(t.len(), 200, "one row per item: {t:#?}");
        assert_eq!(t[0], "• level 0");
        assert_eq!(t[1], "  ◦ level 1");
        let mut numbered = String::new();
        for i in 0..200 {
            writeln!(numbered, "{}1. n{i}", "   ".repeat(i)).unwrap();
        }
        writeln!(numbered, "{}1. deepword", "   ".repeat(200)).unwrap();
        assert_deep_text_shown(&numbered, "deepword", 201);
    }

    #[test]
    fn quotes_and_lists_alternating_a_hundred_times_keep_their_last_word() {
        let src = format!("{}deepword", "> - ".repeat(100));
        assert_deep_text_shown(&src, "deepword", 200);
        let src = format!("{}deepword", "- > ".repeat(100));
        assert_deep_text_shown(&src, "deepword", 200);
        // Paragraphs at every level, a blank line between them.
        let mut src = String::new();
        let mut prefix = String::new();
        for i in 0..100 {
            write!(src, "{prefix}> para {i}\n{prefix}>\n").unwrap();
            prefix.push_str("> ");
            write!(src, "{prefix}- item {i}\n{prefix}\n").unwrap();
            prefix.push_str("  ");
        }
        writeln!(src, "{prefix}deepword").unwrap();
        assert_deep_text_shown(&src, "deepword", 200);
    }

    #[test]
    fn nesting_up_to_eight_levels_is_drawn_in_full() {
        let src = format!("{}eight", "> ".repeat(8));
        assert_eq!(
            text_of(&render(&src, 40, 1).lines),
            ["│ │ │ │ │ │ │ │ eight"]
        );
        let src = format!("{}nine", "> ".repeat(9));
        assert_eq!(
            text_of(&render(&src, 40, 1).lines),
            ["│ │ │ │ │ │ │ │ ›9 nine"]
        );
        // Too wide for a narrow row: fewer bars, the depth said.
        let src = format!("{}six", "> ".repeat(6));
        assert_eq!(text_of(&render(&src, 12, 1).lines), ["│ ›6 six"]);
        let src = format!("{}six", "- ".repeat(6));
        assert_eq!(text_of(&render(&src, 40, 1).lines), ["• ◦ ▪ ▪ ▪ ▪ six"]);
    }

    #[test]
    fn deep_text_wraps_beside_the_depth_marker() {
        let src = format!("{}alpha beta gamma delta epsilon zeta", "> ".repeat(50));
        let t = text_of(&render(&src, 20, 1).lines);
        assert_eq!(
            t,
            [
                "│ │ │ ›50 alpha beta",
                "│ │ │ ›50 gamma",
                "│ │ │ ›50 delta",
                "│ │ │ ›50 epsilon",
                "│ │ │ ›50 zeta"
            ]
        );
    }

    #[test]
    fn deep_nesting_streams_to_the_whole_render() {
        let mut src = String::new();
        let mut prefix = String::new();
        for i in 0..12 {
            write!(src, "{prefix}> q{i}\n{prefix}>\n").unwrap();
            prefix.push_str("> ");
            write!(src, "{prefix}- i{i}\n{prefix}\n").unwrap();
            prefix.push_str("  ");
        }
        write!(src, "{prefix}deepword\n\nAfter.\n\n{}x", "> ".repeat(40)).unwrap();
        for width in [20, 40] {
            let whole = text_of(&render(&src, width, 1).lines);
            // Deltas of 1 to 17 bytes: a debug build renders the open
            // block again for each, and a deep block is one block.
            let mut cache = MarkdownCache::default();
            let mut end = 0;
            let mut step = 0;
            while end < src.len() {
                step = step % 17 + 1;
                end = (end + step).min(src.len());
                while !src.is_char_boundary(end) {
                    end += 1;
                }
                cache.render(src.get(..end).unwrap(), width);
            }
            let last = text_of(&cache.render(&src, width).lines);
            assert_eq!(last, whole, "width {width}");
        }
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
