//! Copying: OSC 52 is always emitted (it works over SSH and, wrapped for
//! tmux, inside tmux — which passes it on with `set-clipboard on`), and the
//! system clipboard (arboard) is written too where there is one.
//!
//! Invariant: the copied text has no control characters other than `\n`
//! and `\t` (a pasted ESC would reach whatever terminal it is pasted into),
//! and the OSC 52 payload is base64, so nothing in it can act on our terminal.

use base64::Engine as _;

/// Terminals cap OSC 52 payloads (xterm: 100 000 bytes by default); larger
/// copies go to the system clipboard only.
pub const OSC52_MAX_BYTES: usize = 100_000;

/// Text fit for a clipboard: controls other than newline and tab removed,
/// `\r\n` turned into `\n`.
pub fn clipboard_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || *c == '\t' || !(c.is_control()))
        .collect()
}

/// The OSC 52 sequence that sets the clipboard to `text`; wrapped in a DCS
/// passthrough when running inside tmux. None when it is too large.
pub fn osc52(text: &str, inside_tmux: bool) -> Option<String> {
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    if payload.len() > OSC52_MAX_BYTES {
        return None;
    }
    let sequence = format!("\x1b]52;c;{payload}\x07");
    Some(if inside_tmux {
        // tmux passthrough: ESC doubled inside `ESC P tmux; … ESC \`.
        format!("\x1bPtmux;{}\x1b\\", sequence.replace('\x1b', "\x1b\x1b"))
    } else {
        sequence
    })
}

/// Write the system clipboard; false where there is none (no display, SSH).
pub fn set_system_clipboard(text: &str) -> bool {
    match arboard::Clipboard::new() {
        Ok(mut clipboard) => clipboard.set_text(text.to_string()).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_base64_and_tmux_wrapped() {
        assert_eq!(osc52("hi", false).unwrap(), "\x1b]52;c;aGk=\x07");
        assert_eq!(
            osc52("hi", true).unwrap(),
            "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\"
        );
        assert!(osc52(&"x".repeat(OSC52_MAX_BYTES), false).is_none());
    }

    #[test]
    fn controls_are_removed_but_text_kept() {
        assert_eq!(clipboard_text("a\x1b[31mb\r\n\tc\u{9b}"), "a[31mb\n\tc");
        assert_eq!(clipboard_text("한국어 👍"), "한국어 👍");
    }
}
