//! Copying: OSC 52 is always emitted, plain (it works over SSH, and inside
//! tmux, which takes a plain OSC 52 with `set-clipboard on`; a DCS
//! passthrough-wrapped one is dropped by tmux ≥ 3.3 unless
//! `allow-passthrough` is on), and the system clipboard (arboard) is written
//! too where there is one, by one `arboard::Clipboard` kept for the life of
//! the process on a thread of its own (arboard: on Linux the contents may
//! vanish when the last instance is dropped; X11 calls may block).
//!
//! Invariant: the copied text has no control characters other than `\n`
//! and `\t` (a pasted ESC would reach whatever terminal it is pasted into),
//! and the OSC 52 payload is base64, so nothing in it can act on our terminal.

use std::sync::{Mutex, OnceLock, mpsc};

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

/// The OSC 52 sequence that sets the clipboard to `text`; None when it is
/// too large. The same inside tmux: tmux ≥ 3.3 drops a passthrough-wrapped
/// one unless `allow-passthrough` is on, and takes this plain one with its
/// default-ish `set-clipboard on` (SPEC, Copying).
pub fn osc52(text: &str) -> Option<String> {
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    if payload.len() > OSC52_MAX_BYTES {
        return None;
    }
    Some(format!("\x1b]52;c;{payload}\x07"))
}

/// Hands `text` to the system clipboard without waiting: one thread owns
/// the process's only `arboard::Clipboard`, created at the first copy and
/// kept until exit. False when there is no system clipboard (no display,
/// SSH), as far as is known.
pub fn set_system_clipboard(text: String) -> bool {
    static OWNER: OnceLock<Option<Mutex<mpsc::Sender<String>>>> = OnceLock::new();
    let owner = OWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || {
                let Ok(mut clipboard) = arboard::Clipboard::new() else {
                    return;
                };
                while let Ok(text) = rx.recv() {
                    let _ = clipboard.set_text(text);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    owner
        .as_ref()
        .and_then(|tx| tx.lock().ok())
        .is_some_and(|tx| tx.send(text).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_plain_base64() {
        assert_eq!(osc52("hi").unwrap(), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52("한").unwrap(), "\x1b]52;c;7ZWc\x07");
        assert!(osc52(&"x".repeat(OSC52_MAX_BYTES)).is_none());
    }

    #[test]
    fn controls_are_removed_but_text_kept() {
        assert_eq!(clipboard_text("a\x1b[31mb\r\n\tc\u{9b}"), "a[31mb\n\tc");
        assert_eq!(clipboard_text("한국어 👍"), "한국어 👍");
    }
}
