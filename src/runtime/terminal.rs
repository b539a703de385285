//! `TerminalGuard`: enters everything kaiwa turns on (raw mode, alternate
//! screen, bracketed paste, mouse reporting, keyboard enhancement) and
//! undoes all of it on drop, on error and — through the panic hook — on
//! panic, before the panic message is printed.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, KeyboardEnhancementFlags,
    PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

/// Whether the terminal is currently in kaiwa's mode (so restore runs once).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);
/// The user's choice (F12), kept across `restore`/`reenter`.
static WANT_MOUSE: AtomicBool = AtomicBool::new(false);

/// Button presses and the wheel only (1000), in SGR encoding (1006): no
/// motion events, unlike crossterm's `EnableMouseCapture` (1003).
const MOUSE_ON: &str = "\x1b[?1000h\x1b[?1006h";
const MOUSE_OFF: &str = "\x1b[?1006l\x1b[?1000l";

/// Holds the terminal in kaiwa's mode until dropped.
#[derive(Debug)]
pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter(mouse: bool) -> io::Result<Self> {
        install_panic_hook();
        take_terminal(mouse)?;
        Ok(Self)
    }
}

/// Raw mode, the alternate screen, bracketed paste, the keyboard protocol
/// and mouse reporting as asked.
fn take_terminal(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
    // Pushed without asking first: querying support can block for seconds
    // on terminals that never answer, and terminals that don't know the
    // sequence ignore it. Shift+Enter works where it is known.
    let _ = execute!(
        out,
        PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
    );
    set_mouse(mouse)
}

/// Enter kaiwa's mode again after `restore` (the editor ran, or kaiwa was
/// suspended); nothing when it is still in it.
pub fn reenter() -> io::Result<()> {
    if ACTIVE.load(Ordering::SeqCst) {
        return Ok(());
    }
    take_terminal(WANT_MOUSE.load(Ordering::SeqCst))
}

/// Turn mouse reporting on or off.
pub fn set_mouse(on: bool) -> io::Result<()> {
    let mut out = io::stdout();
    out.write_all(if on { MOUSE_ON } else { MOUSE_OFF }.as_bytes())?;
    out.flush()?;
    MOUSE.store(on, Ordering::SeqCst);
    WANT_MOUSE.store(on, Ordering::SeqCst);
    Ok(())
}

/// Undo everything; safe to call twice and from the panic hook (never panics).
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if MOUSE.swap(false, Ordering::SeqCst) {
        let _ = out.write_all(MOUSE_OFF.as_bytes());
    }
    let _ = execute!(out, PopKeyboardEnhancementFlags);
    let _ = execute!(
        out,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Clear the screen and make the next frame repaint every cell. Not
/// `Terminal::clear`, which asks the terminal for the cursor position and
/// fails after 2 s on terminals that never answer.
pub fn full_redraw<W: Write>(
    terminal: &mut ratatui::Terminal<ratatui::backend::CrosstermBackend<W>>,
) -> io::Result<()> {
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}
