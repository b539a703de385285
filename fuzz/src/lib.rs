//! Helpers shared by the fuzz targets: how an input's header becomes a
//! width and split points, and the measures the targets check kaiwa
//! against (what ratatui draws, what may never reach a terminal).

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

/// Split points for an input: the first byte says how many (0–7), then two
/// bytes (little-endian) each; the rest is the payload. Cuts are taken
/// modulo `payload.len() + 1` and sorted, so any bytes give valid cuts.
pub fn cuts_and_payload(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let count = usize::from(count % 8);
    let header = (count * 2).min(rest.len());
    let (raw, payload) = rest.split_at(header);
    let mut cuts: Vec<usize> = raw
        .chunks_exact(2)
        .map(|pair| usize::from(u16::from_le_bytes([pair[0], pair[1]])) % (payload.len() + 1))
        .collect();
    cuts.sort_unstable();
    (cuts, payload)
}

/// The cuts moved down to char boundaries of `text` (deduplicated, sorted).
pub fn char_cuts(text: &str, cuts: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = cuts
        .iter()
        .map(|&cut| {
            let mut cut = cut.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            cut
        })
        .collect();
    out.dedup();
    out
}

/// Columns ratatui's `Buffer::set_stringn` advances when it draws `s`:
/// grapheme clusters without a control character, each `cell_width()` wide
/// (unicode-width, plus one column per halfwidth (han)dakuten).
pub fn drawn_width(s: &str) -> usize {
    s.graphemes(true)
        .filter(|g| !g.contains(char::is_control))
        .map(|g| usize::from(g.cell_width()))
        .sum()
}

/// What the sanitiser promises never reaches a terminal: C0 and C1
/// controls (but `\n`), DEL, bidi controls, invisible format characters,
/// U+2028/U+2029 (they become `\n`) and tag characters
/// (`src/text/sanitize.rs`, `classify`).
pub fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{ad}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Whether `s` is one visible stand-in the sanitiser writes: a control
/// picture (`␀`…`␟`, `␡`) or `⟨U+XXXX⟩` (upper-case hex).
pub fn is_stand_in(s: &str) -> bool {
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return ('\u{2400}'..='\u{241f}').contains(&c) || c == '\u{2421}' || c == '\u{240d}';
    }
    s.strip_prefix("⟨U+")
        .and_then(|rest| rest.strip_suffix('⟩'))
        .is_some_and(|hex| {
            (4..=6).contains(&hex.len())
                && hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        })
}
