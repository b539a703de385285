//! The one gate every string from the network passes before it reaches a terminal cell or a
//! terminal stream (WIRE-NOTES §5.3, SPEC "Screen"). Invariant: a [`SafeText`] (and every string
//! [`sanitize_str`] or [`StreamSanitizer`] returns) contains no C0/C1 control, ESC, DEL, bidi or
//! invisible format character — only '\n' survives as a control — and nothing of the input is lost
//! silently: each removed character is replaced by a visible stand-in (`␛`, `␀`…`␟`, `␡`, `␍`,
//! `⟨U+XXXX⟩`) whose byte range is recorded so the UI can draw it dim. Tabs become spaces to the
//! next 4-column stop, measured per grapheme cluster the way the screen draws them.

use std::fmt::Write as _;
use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use super::wrap::display_width;

/// Tab stops every this many display columns.
const TAB_STOP: usize = 4;

/// The unsettled tail of a line is measured (all but its last grapheme cluster) once it grows past
/// this many bytes, so a long line without tabs keeps only a short tail in memory.
const SETTLE_MIN: usize = 256;

/// Text that is safe to put into a terminal cell: no C0/C1 controls (except '\n'), no ESC, no DEL,
/// no bidi/invisible format characters, tabs expanded. Only this module constructs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SafeText {
    text: String,
    markers: Vec<Range<usize>>,
}

impl SafeText {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// Byte ranges (into `as_str()`) of the visible stand-ins this module inserted (␛, ␀…␟, ␡, ␍,
    /// ⟨U+XXXX⟩), so the UI can draw them dim. Sorted, non-overlapping.
    pub fn markers(&self) -> &[Range<usize>] {
        &self.markers
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }
}

impl AsRef<str> for SafeText {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for SafeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Sanitise a whole string (tab stops measured from the start of each line of `input`).
pub fn sanitize(input: &str) -> SafeText {
    let mut text = String::with_capacity(input.len());
    let mut markers = Vec::new();
    let mut engine = Engine::default();
    engine.push(input, &mut text, &mut markers);
    engine.finish(&mut text, &mut markers);
    SafeText { text, markers }
}

/// Convenience: `sanitize(input).into_string()`.
pub fn sanitize_str(input: &str) -> String {
    sanitize(input).into_string()
}

/// Incremental version for text that arrives in pieces (a stream written to a terminal by
/// `kaiwa ask`): same output as [`sanitize`] on the concatenation, whatever the split points.
/// Keeps a pending '\r' (so "\r" | "\n" across two pushes becomes one "\n") and the current
/// display column (for tabs). After [`finish`](Self::finish) it starts afresh.
#[derive(Debug, Default)]
pub struct StreamSanitizer {
    engine: Engine,
    /// Stand-in ranges are not reported by the stream API; reused to avoid an allocation per push.
    scratch: Vec<Range<usize>>,
}

impl StreamSanitizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sanitise the next piece; returns the text that is now final (a trailing '\r' is held back
    /// until the next piece shows whether a '\n' follows).
    pub fn push(&mut self, piece: &str) -> String {
        let mut out = String::with_capacity(piece.len() + 4);
        self.engine.push(piece, &mut out, &mut self.scratch);
        self.scratch.clear();
        out
    }

    /// End of the stream: flushes a held-back '\r' (as `␍`) and resets the state.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.engine.finish(&mut out, &mut self.scratch);
        self.scratch.clear();
        out
    }
}

/// What one input character becomes.
enum Class {
    /// Printable: copied unchanged.
    Keep,
    /// '\n', U+2028, U+2029: a line break.
    Newline,
    CarriageReturn,
    Tab,
    /// Replaced by one visible character (control pictures).
    Picture(char),
    /// Replaced by `⟨U+XXXX⟩`.
    CodePoint,
}

fn classify(c: char) -> Class {
    match c {
        '\n' | '\u{2028}' | '\u{2029}' => Class::Newline,
        '\r' => Class::CarriageReturn,
        '\t' => Class::Tab,
        // C0 (ESC included: U+241B is ␛) map onto the Control Pictures block at the same offset.
        '\0'..='\u{1f}' => {
            Class::Picture(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{FFFD}'))
        }
        '\u{7f}' => Class::Picture('\u{2421}'),
        // C1; bidi controls (Trojan Source); invisible / zero-width format characters. U+2065 is
        // unassigned but default-ignorable inside the invisible-operator run, so it goes too.
        '\u{80}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200b}'
        | '\u{2060}'..='\u{2065}'
        | '\u{feff}'
        | '\u{ad}'
        | '\u{e0000}'..='\u{e007f}' => Class::CodePoint,
        _ => Class::Keep,
    }
}

/// The state machine shared by [`sanitize`] and [`StreamSanitizer`], so both produce the same
/// output by construction; its output never depends on how the input was split.
#[derive(Debug, Default)]
struct Engine {
    /// Display columns of the current output line that are already measured.
    col: usize,
    /// Output of the current line written after the part counted in `col`. Its width is measured
    /// lazily (at a tab) because its last grapheme cluster may still grow with the next input
    /// (a combining mark, a ZWJ, VS16); earlier cluster boundaries never move.
    seg: String,
    /// `seg` length at which to settle it next (amortised doubling keeps settling linear even for
    /// one enormous cluster).
    settle_at: usize,
    /// A '\r' was the last input character; it is a line break if '\n' comes next, else `␍`.
    pending_cr: bool,
}

impl Engine {
    fn push(&mut self, input: &str, out: &mut String, markers: &mut Vec<Range<usize>>) {
        // Runs of printable characters are copied as slices: that is the common case.
        let mut run_start = 0;
        for (i, c) in input.char_indices() {
            if self.pending_cr {
                self.pending_cr = false;
                if c == '\n' {
                    // '\n' is plain ASCII, so `run_start` is past it after this iteration.
                    run_start = i + 1;
                    self.newline(out);
                    continue;
                }
                self.stand_in(out, markers, |o| o.push('\u{240d}'));
            }
            let class = classify(c);
            if matches!(class, Class::Keep) {
                continue;
            }
            self.text(out, input.get(run_start..i).unwrap_or_default());
            run_start = i + c.len_utf8();
            match class {
                Class::Keep => {}
                Class::Newline => self.newline(out),
                Class::CarriageReturn => self.pending_cr = true,
                Class::Tab => self.tab(out),
                Class::Picture(p) => self.stand_in(out, markers, |o| o.push(p)),
                Class::CodePoint => self.stand_in(out, markers, |o| {
                    // Writing to a String cannot fail.
                    let _ = write!(o, "⟨U+{:04X}⟩", u32::from(c));
                }),
            }
        }
        // A pending '\r' has no run after it: `run_start` already points past it.
        self.text(out, input.get(run_start..).unwrap_or_default());
    }

    fn finish(&mut self, out: &mut String, markers: &mut Vec<Range<usize>>) {
        if self.pending_cr {
            self.stand_in(out, markers, |o| o.push('\u{240d}'));
        }
        *self = Self::default();
    }

    /// Printable text: copied, and remembered for the next tab's column.
    fn text(&mut self, out: &mut String, s: &str) {
        if s.is_empty() {
            return;
        }
        out.push_str(s);
        self.seg.push_str(s);
        if self.seg.len() >= self.settle_at.max(SETTLE_MIN) {
            self.settle();
        }
    }

    /// A visible stand-in written by `write`; recorded in `markers`, and it takes up columns.
    fn stand_in(
        &mut self,
        out: &mut String,
        markers: &mut Vec<Range<usize>>,
        write: impl FnOnce(&mut String),
    ) {
        let start = out.len();
        write(out);
        markers.push(start..out.len());
        let written = out.get(start..).unwrap_or_default();
        self.seg.push_str(written);
    }

    fn newline(&mut self, out: &mut String) {
        out.push('\n');
        self.col = 0;
        self.seg.clear();
    }

    fn tab(&mut self, out: &mut String) {
        let col = self.col + display_width(&self.seg);
        let spaces = TAB_STOP - col % TAB_STOP;
        out.extend(std::iter::repeat_n(' ', spaces));
        self.col = col + spaces;
        // The tab is a grapheme boundary in the input; the column restarts measuring here.
        self.seg.clear();
    }

    /// Move every complete grapheme cluster of `seg` (all but the last) into `col`.
    fn settle(&mut self) {
        let last = self
            .seg
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i);
        self.col += display_width(self.seg.get(..last).unwrap_or_default());
        self.seg.drain(..last);
        self.settle_at = self.seg.len().saturating_mul(2);
    }
}

#[cfg(test)]
#[allow(
    clippy::string_slice,
    reason = "tests slice at boundaries they computed"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Characters that must never reach the terminal.
    fn forbidden(c: char) -> bool {
        (c.is_control() && c != '\n')
            || matches!(
                c,
                '\u{061c}'
                    | '\u{200e}'
                    | '\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
                    | '\u{200b}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{feff}'
                    | '\u{ad}'
                    | '\u{e0000}'..='\u{e007f}'
                    | '\u{2028}'
                    | '\u{2029}'
            )
    }

    fn assert_clean(s: &str) {
        if let Some(c) = s.chars().find(|&c| forbidden(c)) {
            panic!("forbidden char U+{:04X} in {s:?}", u32::from(c));
        }
    }

    /// A marker range covers exactly one stand-in.
    fn is_stand_in(s: &str) -> bool {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => ('\u{2400}'..='\u{241f}').contains(&c) || c == '\u{2421}',
            _ => {
                s.starts_with("⟨U+")
                    && s.ends_with('⟩')
                    && s.len() > "⟨U+⟩".len()
                    && s["⟨U+".len()..s.len() - '⟩'.len_utf8()]
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
            }
        }
    }

    const HOSTILE: &[(&str, &str, &str)] = &[
        // (what, input, expected output)
        (
            "OSC 52 clipboard write",
            "\x1b]52;c;aGk=\x07",
            "␛]52;c;aGk=␇",
        ),
        ("OSC 52 clipboard read", "\x1b]52;c;?\x1b\\", "␛]52;c;?␛\\"),
        ("OSC 0 title", "\x1b]0;pwned\x07ok", "␛]0;pwned␇ok"),
        (
            "OSC 2 title with ST",
            "\x1b]2;title\x1b\\x",
            "␛]2;title␛\\x",
        ),
        (
            "OSC 8 hyperlink",
            "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
            "␛]8;;https://evil.example/␛\\click␛]8;;␛\\",
        ),
        ("CSI clear screen", "\x1b[2J", "␛[2J"),
        ("CSI up + erase line", "\x1b[1A\x1b[KOK", "␛[1A␛[KOK"),
        ("SGR colour", "\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
        ("alt screen", "\x1b[?1049h", "␛[?1049h"),
        ("title report", "\x1b[21t", "␛[21t"),
        ("RIS reset", "\x1bc", "␛c"),
        ("DCS", "\x1bP>|iTerm2 3.6.4\x1b\\", "␛P>|iTerm2 3.6.4␛\\"),
        (
            "APC kitty graphics",
            "\x1b_Gf=100;AAAA\x1b\\",
            "␛_Gf=100;AAAA␛\\",
        ),
        ("8-bit CSI", "\u{9b}31mZ", "⟨U+009B⟩31mZ"),
        ("8-bit OSC + ST", "\u{9d}0;t\u{9c}", "⟨U+009D⟩0;t⟨U+009C⟩"),
        ("NEL", "a\u{85}b", "a⟨U+0085⟩b"),
        ("BEL", "a\x07b", "a␇b"),
        ("BS overwrite", "ab\x08\x08xy", "ab␈␈xy"),
        ("NUL", "a\0b", "a␀b"),
        ("US", "\x1f", "␟"),
        ("DEL", "a\x7fb", "a␡b"),
        ("lone CR overwrite", "rm -rf /\rls", "rm -rf /␍ls"),
        ("trailing CR", "ab\r", "ab␍"),
        ("CRLF", "a\r\nb\r\n", "a\nb\n"),
        ("CR CR LF", "a\r\r\nb", "a␍\nb"),
        ("bidi RLO", "a\u{202e}bc", "a⟨U+202E⟩bc"),
        (
            "bidi isolates",
            "a\u{2066}b\u{2069}c",
            "a⟨U+2066⟩b⟨U+2069⟩c",
        ),
        (
            "bidi marks",
            "\u{200e}\u{200f}\u{61c}",
            "⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩",
        ),
        ("zero-width space", "a\u{200b}b", "a⟨U+200B⟩b"),
        ("word joiner", "a\u{2060}b", "a⟨U+2060⟩b"),
        ("BOM", "\u{feff}x", "⟨U+FEFF⟩x"),
        ("soft hyphen", "co\u{ad}op", "co⟨U+00AD⟩op"),
        (
            "tag character",
            "x\u{e0041}\u{e007f}",
            "x⟨U+E0041⟩⟨U+E007F⟩",
        ),
        ("line separator", "a\u{2028}b\u{2029}c", "a\nb\nc"),
        ("tab at column 0", "\tx", "    x"),
        ("tab at column 1", "a\tb", "a   b"),
        ("tab at column 3", "abc\td", "abc d"),
        ("tab at column 4", "abcd\te", "abcd    e"),
        ("two tabs", "\t\tx", "        x"),
        ("tab after CJK", "가\t", "가  "),
        ("tab after 3 wide", "日本語\tx", "日本語  x"),
        ("tab after ZWJ emoji", "👩‍🔬\t|", "👩‍🔬  |"),
        ("tab after combining mark", "e\u{301}\t|", "e\u{301}   |"),
        ("tab column resets at newline", "abc\n\tx", "abc\n    x"),
        (
            "tab column resets at U+2028",
            "abc\u{2028}\tx",
            "abc\n    x",
        ),
        ("tab after ESC marker", "\x1b\tx", "␛   x"),
        ("tab after CR marker", "ab\r\tx", "ab␍ x"),
        (
            "tab after code point marker",
            "\u{202e}\tx",
            "⟨U+202E⟩    x",
        ),
    ];

    #[test]
    fn hostile_inputs_become_visible_inert_text() {
        for &(what, input, expected) in HOSTILE {
            let out = sanitize(input);
            assert_eq!(out.as_str(), expected, "{what}: {input:?}");
            assert_clean(out.as_str());
            for m in out.markers() {
                assert!(
                    is_stand_in(&out.as_str()[m.clone()]),
                    "{what}: marker {m:?}"
                );
            }
            // Payload still present: every printable character of the input is in the output.
            for c in input
                .chars()
                .filter(|&c| !forbidden(c) && c != '\t' && c != '\n')
            {
                assert!(out.as_str().contains(c), "{what}: lost {c:?}");
            }
        }
    }

    #[test]
    fn stream_matches_whole_on_every_split_of_the_table() {
        for &(what, input, expected) in HOSTILE {
            let bounds: Vec<usize> = input.char_indices().map(|(i, _)| i).collect();
            for &cut in &bounds {
                let mut s = StreamSanitizer::new();
                let mut got = s.push(&input[..cut]);
                got += &s.push(&input[cut..]);
                got += &s.finish();
                assert_eq!(got, expected, "{what}: split at {cut}");
            }
            // One char per push.
            let mut s = StreamSanitizer::new();
            let mut got = String::new();
            for c in input.chars() {
                got += &s.push(c.encode_utf8(&mut [0; 4]));
            }
            got += &s.finish();
            assert_eq!(got, expected, "{what}: char by char");
        }
    }

    #[test]
    fn cr_lf_across_pushes_is_one_newline() {
        let mut s = StreamSanitizer::new();
        assert_eq!(s.push("a\r"), "a");
        assert_eq!(s.push(""), "");
        assert_eq!(s.push("\nb\r"), "\nb");
        assert_eq!(s.push("c"), "␍c");
        assert_eq!(s.push("\r"), "");
        assert_eq!(s.finish(), "␍");
        // Fresh after finish: the column restarts.
        assert_eq!(s.push("\tx"), "    x");
    }

    #[test]
    fn tab_column_survives_pushes() {
        let mut s = StreamSanitizer::new();
        assert_eq!(s.push("ab"), "ab");
        assert_eq!(s.push("\t"), "  ");
        assert_eq!(s.push("가"), "가");
        assert_eq!(s.push("\tx"), "  x");
        // A cluster that grows across pushes: ❤ (1 column) + VS16 = ❤️ (2 columns).
        let mut s = StreamSanitizer::new();
        let got = s.push("\u{2764}") + &s.push("\u{fe0f}\t|") + &s.finish();
        assert_eq!(got, sanitize_str("\u{2764}\u{fe0f}\t|"));
        assert_eq!(got, "\u{2764}\u{fe0f}  |");
    }

    #[test]
    fn long_lines_settle_without_changing_columns() {
        // Long enough to settle several times, with clusters straddling the settle points.
        let line: String = "👩‍🔬e\u{301}가x".repeat(200);
        let width = display_width(&line);
        let input = format!("{line}\t|");
        let pad = TAB_STOP - width % TAB_STOP;
        let expected = format!("{line}{}|", " ".repeat(pad));
        assert_eq!(sanitize_str(&input), expected);
        let mut s = StreamSanitizer::new();
        let mut got = String::new();
        for c in input.chars() {
            got += &s.push(c.encode_utf8(&mut [0; 4]));
        }
        got += &s.finish();
        assert_eq!(got, expected);
        // One huge cluster (a base with thousands of combining marks) stays one cluster.
        let zalgo = format!("a{}\t|", "\u{301}".repeat(5000));
        assert_eq!(
            sanitize_str(&zalgo),
            format!("a{}   |", "\u{301}".repeat(5000))
        );
    }

    #[test]
    fn cjk_emoji_and_kana_pass_byte_identical() {
        for s in [
            "ChatGPT란 무엇입니까?",
            "日本語のテキスト",
            "👩‍🔬❤️🇯🇵👍🏽",
            "ｶﾞｷﾞｸﾞ",
            "中文文本，标点。",
            "e\u{301} a\u{200d}b \u{200c}",
            "🏳️‍🌈 🧑🏿‍🤝‍🧑🏻",
            "multi\nline\n",
            "",
        ] {
            let out = sanitize(s);
            assert_eq!(out.as_str(), s);
            assert!(out.markers().is_empty());
            assert_eq!(out.is_empty(), s.is_empty());
        }
    }

    #[test]
    fn markers_point_at_stand_ins() {
        let out = sanitize("a\x1b[31mb\u{202e}c\rd\r\n\x7f\u{9b}");
        assert_eq!(out.as_str(), "a␛[31mb⟨U+202E⟩c␍d\n␡⟨U+009B⟩");
        let marked: Vec<&str> = out
            .markers()
            .iter()
            .map(|m| &out.as_str()[m.clone()])
            .collect();
        assert_eq!(marked, ["␛", "⟨U+202E⟩", "␍", "␡", "⟨U+009B⟩"]);
        assert_eq!(out.markers()[0], 1..4);
        let text = out.clone().into_string();
        assert_eq!(text, out.as_str());
        assert_eq!(out.to_string(), text);
    }

    #[test]
    fn every_c0_and_c1_has_a_stand_in() {
        for code in (0u32..0x20).chain(0x7f..0xa0) {
            let c = char::from_u32(code).unwrap();
            let out = sanitize(&c.to_string());
            assert_clean(out.as_str());
            match c {
                '\n' => assert_eq!(out.as_str(), "\n"),
                '\t' => assert_eq!(out.as_str(), "    "),
                _ => {
                    assert_eq!(out.markers(), vec![0..out.as_str().len()], "U+{code:04X}");
                    assert!(is_stand_in(out.as_str()), "U+{code:04X}");
                }
            }
        }
    }

    /// Strings dense in the characters the sanitiser and grapheme rules care about.
    fn tricky_string() -> impl Strategy<Value = String> {
        const TRICKY: &[char] = &[
            '\n',
            '\r',
            '\t',
            '\x1b',
            '\x07',
            '\x7f',
            '\u{9b}',
            '\u{202e}',
            '\u{200b}',
            '\u{200d}',
            '\u{fe0f}',
            '\u{301}',
            '\u{2028}',
            '\u{e0041}',
            '\u{1f1ef}',
            '\u{1f1f5}',
            '\u{1f469}',
            '\u{1f52c}',
            '\u{1f3fd}',
            '\u{2764}',
            '\u{1100}',
            '\u{1161}',
            '\u{11a8}',
            '\u{ff76}',
            '\u{ff9e}',
            '가',
            '日',
            'a',
            ' ',
        ];
        // `select` rather than a many-armed `prop_oneof!`, which is slow to generate.
        let any = prop_oneof![3 => prop::sample::select(TRICKY), 1 => any::<char>()];
        // Up to 400 characters: long enough to cross the settle threshold now and then.
        prop::collection::vec(any, 0..400).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn stream_equals_whole_for_any_split(
            s in tricky_string(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let whole = sanitize(&s);
            assert_clean(whole.as_str());
            for m in whole.markers() {
                prop_assert!(is_stand_in(&whole.as_str()[m.clone()]));
            }
            let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
            let mut cuts: Vec<usize> = cuts.iter().map(|ix| *ix.get(&bounds)).collect();
            cuts.sort_unstable();
            let mut stream = StreamSanitizer::new();
            let mut got = String::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([s.len()]) {
                got += &stream.push(&s[from..cut]);
                from = cut;
            }
            got += &stream.finish();
            prop_assert_eq!(got, whole.as_str());
        }

        #[test]
        fn tab_column_of_a_long_line_is_its_display_width(
            s in tricky_string().prop_map(|s| s.replace(['\n', '\r', '\t', '\u{2028}'], "")),
            cut in any::<prop::sample::Index>(),
        ) {
            // Long lines settle their measured prefix several times before the tab.
            let line = s.repeat(4);
            let clean = sanitize_str(&line);
            let pad = TAB_STOP - display_width(&clean) % TAB_STOP;
            let expected = format!("{clean}{}|", " ".repeat(pad));
            let input = format!("{line}\t|");
            prop_assert_eq!(sanitize_str(&input), expected.as_str());
            let bounds: Vec<usize> = input.char_indices().map(|(i, _)| i).collect();
            let cut = *cut.get(&bounds);
            let mut stream = StreamSanitizer::new();
            let got = stream.push(&input[..cut]) + &stream.push(&input[cut..]) + &stream.finish();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn sanitizing_is_idempotent(s in tricky_string()) {
            let once = sanitize_str(&s);
            let twice = sanitize_str(&once);
            prop_assert_eq!(twice, once);
        }
    }
}
