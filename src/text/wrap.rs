//! Display-width measuring and wrapping that agree with what ratatui draws (WIRE-NOTES §6).
//! Invariant: widths are summed per extended grapheme cluster exactly as ratatui-core's buffer
//! measures a cell, and every row [`wrap_line`] returns is a byte range on grapheme boundaries
//! whose display width fits the requested width (a lone 2-column grapheme at width 1 excepted),
//! so measuring and drawing never disagree and wrapping never splits a cluster.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Display width of a string as ratatui measures it: sum over extended grapheme clusters of
/// `UnicodeWidthStr::width(cluster)` (control chars count 0).
///
/// Like ratatui-core 0.1's `CellWidth`, a halfwidth katakana (han)dakuten U+FF9E/U+FF9F adds one
/// column: unicode-width 0.2.2 counts it as 0 (Grapheme_Extend) but terminals draw it in a cell
/// of its own, and ratatui reserves that cell, so `ｶﾞ` is 2 columns here as on screen.
pub fn display_width(s: &str) -> usize {
    s.graphemes(true).map(grapheme_width).sum()
}

/// The first `max` characters of `s`, and whether anything was left out.
/// For text that is stored, logged or measured in characters (a server
/// message, a preview, a title); the screen cuts by width
/// (`truncate_to_width`).
pub fn first_chars(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((end, _)) => (s.get(..end).unwrap_or(s), true),
        None => (s, false),
    }
}

/// `s` cut to at most `width` columns, ending in `…` when it was cut; whole
/// grapheme clusters only, measured as `display_width` measures.
pub fn truncate_to_width(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in s.graphemes(true) {
        let w = display_width(g);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push_str(g);
    }
    out.push('…');
    out
}

/// Width of one grapheme cluster as ratatui draws it; graphemes with a control char are not drawn.
fn grapheme_width(g: &str) -> usize {
    if g.len() == 1 {
        // ASCII fast path: the common case by far.
        return usize::from(!g.as_bytes().iter().any(u8::is_ascii_control));
    }
    if g.chars().any(char::is_control) {
        return 0;
    }
    g.width()
        + g.chars()
            .filter(|c| matches!(c, '\u{ff9e}' | '\u{ff9f}'))
            .count()
}

/// Whitespace that a row may break at (and drop). No-break spaces are content.
fn is_break_space(g: &str) -> bool {
    g.chars()
        .all(|c| c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}'))
}

/// Hangul syllables and jamo.
fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}' | '\u{A960}'..='\u{A97F}' | '\u{D7B0}'..='\u{D7FF}')
}

/// What the wide-text break rule needs to know about the previous grapheme.
#[derive(Clone, Copy)]
struct Prev {
    wide: bool,
    /// Its first char (the base character of the cluster).
    first: char,
}

/// Punctuation that must not start a row (a small part of UAX #14 classes CL, CP, EX, IS, NS):
/// without it, a break allowed after a wide char would put `?` or `。` alone at a row start.
const CLOSING: &str = "!),.:;?]}%、。，．：；！？）］｝」』】〉》〕〗〙〛ー～・…‥’”々ゝゞヽヾ\
                       ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ";

/// Punctuation that must not end a row (UAX #14 class OP, in part).
const OPENING: &str = "([{（［｛「『【〈《〔〖〘〚‘“";

/// Where the current row could end if the next grapheme does not fit.
#[derive(Clone, Copy)]
struct Break {
    /// The row would end here (trailing whitespace excluded).
    end: usize,
    /// The next row would start here.
    next: usize,
}

/// Wrap ONE logical line (no '\n' inside; if there is one, treat it as a space) to `width`
/// columns. Returns byte ranges into `line`, one per screen row, in order. Rules:
/// - break at whitespace (word wrap); the whitespace at a break is not carried to the start of the
///   next row (it is dropped from the end of the row); leading indentation of the logical line is
///   kept on its first row (the part of it wider than the row is dropped);
/// - CJK (wide) characters may break between any two graphemes (no space needed); also allow a
///   break after a wide char and before a wide char — except before closing punctuation
///   (`?`, `。`, `」`, small kana…) or after opening punctuation (`「`, `(`…), unless the word has
///   to be broken anyway;
/// - a word longer than the width is broken at grapheme boundaries;
/// - never split a grapheme cluster; a wide (2-col) grapheme never straddles the edge; if width
///   is 1 and a grapheme is 2 wide, it gets a row of its own;
/// - every returned range's display width ≤ width (except that lone-wide-grapheme case when
///   width==1); trailing whitespace stays on the last row only when it fits;
/// - an empty line yields one empty range (0..0); width 0 is treated as 1.
pub fn wrap_line(line: &str, width: usize) -> Vec<Range<usize>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut w = LineWrapper {
        width,
        row_start: 0,
        row_width: 0,
        has_content: false,
        in_indent: true,
        space: None,
        prev: None,
        brk: None,
        width_since_brk: 0,
    };
    for (start, g) in line.grapheme_indices(true) {
        let end = start + g.len();
        if is_break_space(g) {
            // '\n' and "\r\n" measure 0 (controls) but stand for a space here.
            let gw = if g.contains('\n') {
                1
            } else {
                grapheme_width(g)
            };
            w.space(start, end, gw);
        } else {
            w.content(start, g, &mut rows);
        }
    }
    let end = match w.space {
        Some((space_start, space_width)) if w.row_width + space_width > width => space_start,
        _ => line.len(),
    };
    rows.push(w.row_start..end);
    rows
}

/// Greedy line-breaking state for one logical line; one pass, no allocation per grapheme.
struct LineWrapper {
    width: usize,
    /// Byte offset where the current row starts.
    row_start: usize,
    /// Display width of the current row up to the last content grapheme (pending spaces not
    /// included).
    row_width: usize,
    /// The row holds something that must stay on it (a non-space, or leading indentation).
    has_content: bool,
    /// Still in the leading whitespace of the logical line.
    in_indent: bool,
    /// A run of spaces after the last content grapheme: (byte start, display width).
    space: Option<(usize, usize)>,
    /// The previous grapheme, if it was content directly before this one.
    prev: Option<Prev>,
    /// The last break opportunity in the current row.
    brk: Option<Break>,
    /// Display width from `brk.next` to the end of the row content.
    width_since_brk: usize,
}

impl LineWrapper {
    fn space(&mut self, start: usize, end: usize, gw: usize) {
        self.prev = None;
        if self.in_indent {
            if self.row_width + gw <= self.width {
                self.row_width += gw;
                self.has_content = true;
                return;
            }
            // Indentation wider than the row: the rest of it behaves like a break space.
            self.in_indent = false;
        }
        if !self.has_content {
            // Spaces never start a continuation row.
            self.row_start = end;
            return;
        }
        match &mut self.space {
            Some((_, run_width)) => *run_width += gw,
            None => self.space = Some((start, gw)),
        }
    }

    fn content(&mut self, start: usize, g: &str, rows: &mut Vec<Range<usize>>) {
        self.in_indent = false;
        let gw = grapheme_width(g);
        let first = g.chars().next().unwrap_or(' ');
        // Hangul words break only at spaces (CSS `word-break: keep-all`, how
        // Korean is typeset); Chinese and Japanese may break between any two
        // characters.
        let this = Prev {
            wide: gw >= 2 && !is_hangul(first),
            first,
        };
        if !self.has_content {
            self.row_start = start;
            self.place(gw, this);
            return;
        }
        if let Some((space_start, space_width)) = self.space.take() {
            // Spaces plus what follows must fit for real: they never start a row on their own.
            if self.row_width + space_width + gw <= self.width {
                self.row_width += space_width;
                self.brk = Some(Break {
                    end: space_start,
                    next: start,
                });
                self.width_since_brk = 0;
            } else {
                rows.push(self.row_start..space_start);
                self.new_row(start);
            }
            self.place(gw, this);
            return;
        }
        // Checked only at a wide boundary, so the punctuation scans stay off the common path.
        let wide_boundary = self.prev.is_some_and(|p| {
            (p.wide || this.wide) && !OPENING.contains(p.first) && !CLOSING.contains(first)
        });
        if wide_boundary {
            self.brk = Some(Break {
                end: start,
                next: start,
            });
            self.width_since_brk = 0;
        }
        if !self.fits(start, gw) {
            if let Some(brk) = self.brk.take() {
                rows.push(self.row_start..brk.end);
                self.row_start = brk.next;
                self.row_width = self.width_since_brk;
            }
            if !self.fits(start, gw) {
                // No break opportunity left (a long word): break inside it.
                rows.push(self.row_start..start);
                self.new_row(start);
            }
        }
        self.place(gw, this);
    }

    /// Whether a grapheme `add` columns wide starting at byte `start` fits on the current row.
    /// Zero-width graphemes always fit, and so does anything on an empty row (a 2-column grapheme
    /// at width 1 gets a row of its own).
    fn fits(&self, start: usize, add: usize) -> bool {
        add == 0 || self.row_start == start || self.row_width + add <= self.width
    }

    fn new_row(&mut self, start: usize) {
        self.row_start = start;
        self.row_width = 0;
        self.brk = None;
        self.width_since_brk = 0;
    }

    fn place(&mut self, gw: usize, this: Prev) {
        self.row_width += gw;
        self.width_since_brk += gw;
        self.has_content = true;
        self.prev = Some(this);
    }
}

/// Wrap a multi-line text: split on '\n', wrap each line; returns byte ranges into `text` for
/// every row. A trailing '\n' yields a final empty row.
pub fn wrap_text(text: &str, width: usize) -> Vec<Range<usize>> {
    let mut rows = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        rows.extend(
            wrap_line(line, width)
                .into_iter()
                .map(|r| r.start + offset..r.end + offset),
        );
        offset += line.len() + 1;
    }
    rows
}

#[cfg(test)]
#[allow(
    clippy::string_slice,
    reason = "tests slice at boundaries they computed"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_chars_counts_characters_not_bytes() {
        assert_eq!(first_chars("한국어 text", 3), ("한국어", true));
        assert_eq!(first_chars("abc", 3), ("abc", false));
        assert_eq!(first_chars("", 0), ("", false));
        assert_eq!(first_chars("ab", 0), ("", true));
    }

    fn rows(line: &str, width: usize) -> Vec<&str> {
        wrap_line(line, width)
            .into_iter()
            .map(|r| &line[r])
            .collect()
    }

    /// The invariants every wrap must satisfy: rows in order on grapheme boundaries, each within
    /// the width (or a single grapheme), and only break spaces left out between them.
    fn check(line: &str, width: usize) -> Vec<Range<usize>> {
        let ranges = wrap_line(line, width);
        assert!(!ranges.is_empty());
        let bounds: Vec<usize> = line
            .grapheme_indices(true)
            .map(|(i, _)| i)
            .chain([line.len()])
            .collect();
        let mut covered = 0;
        for r in &ranges {
            assert!(r.start <= r.end, "{r:?}");
            assert!(covered <= r.start, "rows out of order: {ranges:?}");
            assert!(
                bounds.contains(&r.start) && bounds.contains(&r.end),
                "split grapheme {r:?}"
            );
            let gap = &line[covered..r.start];
            assert!(
                gap.graphemes(true).all(is_break_space),
                "lost {gap:?} in {line:?}"
            );
            let row = &line[r.clone()];
            let w = display_width(row);
            let visible = row
                .graphemes(true)
                .filter(|g| grapheme_width(g) > 0)
                .count();
            assert!(
                w <= width.max(1) || visible == 1,
                "row {row:?} is {w} wide > {width}"
            );
            covered = r.end;
        }
        let tail = &line[covered..];
        assert!(
            tail.graphemes(true).all(is_break_space),
            "lost tail {tail:?}"
        );
        ranges
    }

    #[test]
    fn display_width_matches_ratatui() {
        assert_eq!(display_width(""), 0);
        assert_eq!(display_width("hello"), 5);
        assert_eq!(display_width("日本語"), 6);
        assert_eq!(display_width("ChatGPT란"), 9);
        assert_eq!(display_width("👩‍🔬"), 2);
        assert_eq!(display_width("❤️"), 2);
        assert_eq!(display_width("🇯🇵"), 2);
        assert_eq!(display_width("👍🏽"), 2);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(display_width("a\x1b[31mb"), 6);
        assert_eq!(display_width("\n\r\n\t"), 0);
        assert_eq!(display_width("␛⟨U+202E⟩"), 9);
    }

    #[test]
    fn halfwidth_katakana_voiced_marks() {
        // The real unicode-width 0.2.2 figure: the dakuten is Grapheme_Extend, width 0 ...
        assert_eq!(UnicodeWidthStr::width("ｶﾞ"), 1);
        assert_eq!("ｶﾞｷﾞｸﾞ".graphemes(true).count(), 3);
        // ... but ratatui (and the terminal) give it a cell: 2 per cluster.
        assert_eq!(display_width("ｶﾞ"), 2);
        assert_eq!(display_width("ｶﾞｷﾞｸﾞ"), 6);
        assert_eq!(display_width("ﾊﾟ"), 2);
        assert_eq!(rows("ｶﾞｷﾞｸﾞ", 4), ["ｶﾞｷﾞ", "ｸﾞ"]);
        assert_eq!(rows("ｶﾞｷﾞｸﾞ", 3), ["ｶﾞ", "ｷﾞ", "ｸﾞ"]);
        check("ｶﾞｷﾞｸﾞ", 1);
    }

    #[test]
    fn english_word_wrap() {
        let line = "The quick brown fox jumps over the lazy dog";
        assert_eq!(
            rows(line, 10),
            ["The quick", "brown fox", "jumps over", "the lazy", "dog"]
        );
        assert_eq!(
            rows(line, 15),
            ["The quick brown", "fox jumps over", "the lazy dog"]
        );
        assert_eq!(rows(line, 80), [line]);
        assert_eq!(rows("hello   world", 5), ["hello", "world"]);
        assert_eq!(rows("hello   world", 8), ["hello", "world"]);
        assert_eq!(rows("a b", 1), ["a", "b"]);
        check(line, 10);
        check(line, 3);
    }

    #[test]
    fn trailing_spaces_kept_only_if_they_fit() {
        assert_eq!(rows("abc  ", 10), ["abc  "]);
        assert_eq!(rows("abc  ", 4), ["abc"]);
        assert_eq!(rows("   ", 10), ["   "]);
    }

    #[test]
    fn indentation_is_kept_on_the_first_row() {
        assert_eq!(rows("    let x = 1;", 80), ["    let x = 1;"]);
        assert_eq!(
            rows("    indented text that wraps", 12),
            ["    indented", "text that", "wraps"]
        );
        // A word longer than the rest of the row stays with its indentation.
        assert_eq!(rows("  abcdefgh", 6), ["  abcd", "efgh"]);
        // Indentation wider than the row: what fits is kept, the rest dropped.
        assert_eq!(rows("        ab", 4), ["    ", "ab"]);
        check("        ab", 4);
    }

    #[test]
    fn newline_inside_a_line_is_a_space() {
        assert_eq!(rows("hello\nworld", 8), ["hello", "world"]);
        assert_eq!(rows("ab\ncd", 80), ["ab\ncd"]);
    }

    #[test]
    fn empty_line_and_zero_width() {
        assert_eq!(wrap_line("", 10), vec![0..0]);
        assert_eq!(wrap_line("", 0), vec![0..0]);
        assert_eq!(rows("abc", 0), ["a", "b", "c"]);
    }

    const KOREAN: &str = "ChatGPT란 무엇입니까? 그것은 OpenAI가 개발한 대규모 언어 모델입니다.";

    #[test]
    fn korean_sentence() {
        assert_eq!(
            rows(KOREAN, 10),
            [
                "ChatGPT란",
                // Hangul breaks only at spaces (keep-all); a word wider than
                // the row is the one exception and is cut where it must be.
                "무엇입니까",
                "? 그것은",
                "OpenAI가",
                "개발한",
                "대규모",
                "언어",
                "모델입니다",
                "."
            ]
        );
        assert_eq!(
            rows(KOREAN, 20),
            [
                "ChatGPT란",
                "무엇입니까? 그것은",
                "OpenAI가 개발한",
                "대규모 언어",
                "모델입니다."
            ]
        );
        for width in [10, 15, 20] {
            let ranges = check(KOREAN, width);
            // Concatenation plus the dropped spaces is the input.
            let mut rebuilt = String::new();
            let mut at = 0;
            for r in &ranges {
                rebuilt += &KOREAN[at..r.start];
                rebuilt += &KOREAN[r.clone()];
                at = r.end;
            }
            rebuilt += &KOREAN[at..];
            assert_eq!(rebuilt, KOREAN);
            for r in &ranges {
                assert!(display_width(&KOREAN[r.clone()]) <= width);
                assert!(!KOREAN[r.clone()].starts_with(' '));
            }
        }
    }

    #[test]
    fn japanese_without_spaces_breaks_anywhere() {
        let line = "日本語のテキストはスペースなしで折り返されます";
        assert_eq!(
            rows(line, 10),
            [
                "日本語のテ",
                "キストはス",
                "ペースなし",
                "で折り返さ",
                "れます"
            ]
        );
        assert_eq!(
            rows(line, 9),
            [
                "日本語の",
                "テキスト",
                "はスペー",
                "スなしで",
                "折り返さ",
                "れます"
            ]
        );
        check(line, 9);
        // Closing punctuation never starts a row, opening never ends one.
        assert_eq!(rows("日本語。日本語", 6), ["日本", "語。日", "本語"]);
        assert_eq!(rows("ああ「日本」", 6), ["ああ", "「日", "本」"]);
        // Mixed: a break is allowed before and after wide text.
        assert_eq!(rows("abc日本", 4), ["abc", "日本"]);
        assert_eq!(rows("日本abc", 4), ["日本", "abc"]);
        assert_eq!(rows("日本abcdef", 5), ["日本", "abcde", "f"]);
    }

    #[test]
    fn emoji_clusters_are_never_split() {
        let line = "👩‍🔬❤️🇯🇵👍🏽🧑🏿‍🤝‍🧑🏻🏳️‍🌈";
        let clusters: Vec<&str> = line.graphemes(true).collect();
        assert_eq!(clusters.len(), 6);
        for width in 1..=12 {
            let ranges = check(line, width);
            for r in ranges {
                let row = &line[r];
                assert!(
                    row.graphemes(true).all(|g| clusters.contains(&g)),
                    "{row:?}"
                );
            }
        }
        assert_eq!(rows(line, 4), ["👩‍🔬❤️", "🇯🇵👍🏽", "🧑🏿‍🤝‍🧑🏻🏳️‍🌈"]);
        assert_eq!(rows(line, 3), clusters);
        assert_eq!(rows("ab👍🏽", 3), ["ab", "👍🏽"]);
    }

    #[test]
    fn width_one_with_wide_chars_terminates() {
        assert_eq!(rows("가나a다", 1), ["가", "나", "a", "다"]);
        assert_eq!(rows("👍🏽 x", 1), ["👍🏽", "x"]);
        check("가 나 다라마 바", 1);
    }

    #[test]
    fn very_long_word() {
        let word = "x".repeat(10_000);
        let ranges = wrap_line(&word, 80);
        assert_eq!(ranges.len(), 125);
        assert!(ranges.iter().all(|r| r.len() == 80));
        check(&word, 80);
        let wide = "가".repeat(10_000);
        let ranges = check(&wide, 79);
        // 39 two-column syllables per 79-column row.
        assert_eq!(ranges.len(), 10_000_usize.div_ceil(39));
        assert!(ranges.iter().all(|r| display_width(&wide[r.clone()]) <= 78));
        // A long word after a short one starts on its own row.
        assert_eq!(rows("ab cdefghij", 4), ["ab", "cdef", "ghij"]);
    }

    #[test]
    fn wrap_text_offsets() {
        let text = "hello world\n\n  日本語\n";
        let ranges = wrap_text(text, 6);
        let got: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(got, ["hello", "world", "", "  日本", "語", ""]);
        assert_eq!(ranges.last(), Some(&(text.len()..text.len())));
        assert_eq!(wrap_text("", 5), vec![0..0]);
        assert_eq!(wrap_text("a\nb", 5), [0..1, 2..3]);
    }

    /// Strings dense in spaces, wide text and multi-char clusters.
    fn tricky_line() -> impl Strategy<Value = String> {
        // Repeats weight the choice; `select` is much faster than a many-armed `prop_oneof!`.
        const TRICKY: &[&str] = &[
            " ",
            " ",
            " ",
            " ",
            "  ",
            "\u{3000}",
            "\u{a0}",
            "a",
            "a",
            "a",
            "a",
            "word",
            "word",
            "가",
            "가",
            "日本",
            "日本",
            "。",
            "「",
            "?",
            "e\u{301}",
            "👩‍🔬",
            "🇯🇵",
            "❤️",
            "ｶﾞ",
            "\u{200d}",
            "\t",
            "\n",
            "\x1b",
        ];
        let any = prop_oneof![
            4 => prop::sample::select(TRICKY).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(any, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 1024,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn wrapping_covers_everything_within_width(s in tricky_line(), width in 1usize..80) {
            check(&s, width);
        }

        #[test]
        fn wrap_text_rows_are_in_order_within_lines(s in tricky_line(), width in 1usize..80) {
            let ranges = wrap_text(&s, width);
            prop_assert_eq!(ranges.len() >= s.split('\n').count(), true);
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
            for r in &ranges {
                prop_assert!(!s[r.clone()].contains('\n'));
            }
        }
    }
}
