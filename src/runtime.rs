//! The one loop that owns the terminal: it `select!`s over terminal
//! events, signals, messages from request tasks, a frame deadline and a tick
//! (only while something moves), turns inputs into `Msg`, calls `update`,
//! has the effects performed and draws when a frame is due. Start-up is in
//! `startup`, performing effects in `effects`.
//!
//! Invariants: only this module (and `runtime::terminal`) writes to the
//! terminal; the loop never awaits the network; idle means no wake-ups at
//! all (no timer is armed unless the app asks for one or a frame is due);
//! the app changes only through `update`.

pub mod effects;
pub mod frames;
pub mod signals;
pub mod startup;
pub mod terminal;

use std::io;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use tokio::sync::mpsc;

use crate::app::{App, Effect, Msg, update};
use crate::config::Config;
use crate::ui::{self, Ui};
use effects::{EffectContext, Term};
use frames::FramePacer;
use terminal::TerminalGuard;

/// Turn a terminal event into a message (None: nothing to do).
pub fn msg_from_event(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => Some(Msg::Key(key)),
        Event::Paste(text) => Some(Msg::Paste(text)),
        Event::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        Event::Resize(width, height) => Some(Msg::Resize { width, height }),
        Event::Key(_) | Event::FocusGained | Event::FocusLost => None,
    }
}

/// How the TUI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The user quit.
    Quit,
    /// SIGTERM or SIGHUP: the process should exit with `128 + signal`.
    Signal { code: u8 },
}

/// Run the chat TUI until the user quits, reopening a conversation or the
/// history browser first as `-c` / `--resume` asked. `key` is the current
/// model's provider and its resolved key ([`Config::model_key`]).
pub async fn run_with(
    config: &Config,
    key: Option<(String, Option<crate::secret::ApiKey>)>,
    startup: crate::history::Startup,
) -> io::Result<Ending> {
    crate::ui::theme::set_no_color(std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()));
    let started = startup::start(config, key, &startup)?;
    let (mut app, mut ctx, mut rx) = (started.app, started.ctx, started.rx);
    let mut signals = signals::Signals::new();
    let guard = TerminalGuard::enter(app.mouse_capture)?;
    let result = event_loop(&mut app, &mut ctx, &mut rx, &mut signals, started.effects).await;
    drop(guard);
    // Everything said is committed before kaiwa goes, with the requests
    // still waiting for the tokenizer tables at their rough count.
    let waiting: Vec<Effect> = std::mem::take(&mut app.usage.pending)
        .into_iter()
        .map(|pending| Effect::RecordUsage(pending.finished))
        .collect();
    ctx.persist(&app, &waiting);
    ctx.history.shutdown(Duration::from_secs(3));
    result
}

async fn event_loop(
    app: &mut App,
    ctx: &mut EffectContext,
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    signals: &mut signals::Signals,
    mut effects: Vec<Effect>,
) -> io::Result<Ending> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal::full_redraw(&mut terminal)?;
    // The app learns the size it is drawn at like any later resize.
    let size = terminal.size()?;
    update(
        app,
        Msg::Resize {
            width: size.width,
            height: size.height,
        },
    );
    let mut events = EventStream::new();
    let mut ui = Ui::default();
    let mut pacer = FramePacer::default();
    let mut batch: Vec<Msg> = Vec::new();
    let mut ending = Ending::Quit;
    // A batch was applied: save, then perform its effects.
    let mut applied = true;
    pacer.mark_dirty();
    loop {
        while applied {
            // Save (history effects in their place), then perform the rest;
            // what saving said goes through `update` at once.
            let said = ctx.persist(app, &effects);
            let mut quit = false;
            for effect in effects.drain(..) {
                quit |= ctx.run(effect, &mut terminal)?;
            }
            if quit {
                return Ok(ending);
            }
            applied = apply(app, said, &mut effects, &mut pacer) && !effects.is_empty();
        }
        let now = Instant::now();
        let frame_due = pacer.deadline(now);
        let wake = app.next_wakeup(now);
        tokio::select! {
            biased;
            () = sleep_until(frame_due) => {
                if app.in_flight.is_some() {
                    // What is drawn is committed first (bounded: the UI never
                    // waits long on the disk).
                    ctx.history.flush(Duration::from_millis(25));
                }
                if let Some(status) = ctx.history.status() {
                    update(app, Msg::HistoryStatus(Some(status)));
                }
                draw(&mut terminal, &mut ui, app)?;
                pacer.drawn(Instant::now());
                if ui.transcript.settling() {
                    // After a resize, messages out of view are wrapped again
                    // a slice per frame; another frame finishes the job.
                    pacer.mark_dirty();
                }
                continue;
            }
            event = events.next() => match event {
                Some(Ok(event)) => batch.extend(msg_from_event(event).and_then(|m| clicked(m, &ui))),
                Some(Err(e)) => return Err(e),
                None => return Ok(Ending::Quit),
            },
            signal = signals.next() => match signal {
                signals::Signal::Terminate { name, code } => {
                    ending = Ending::Signal { code };
                    batch.push(Msg::Terminated(name));
                }
                signals::Signal::Stop => effects::suspend(&mut terminal)?,
                signals::Signal::Continue => effects::resumed(&mut terminal)?,
            },
            Some(msg) = rx.recv() => batch.push(msg),
            () = sleep_until(wake) => batch.push(Msg::Tick(Instant::now())),
        }
        // Drain what else is waiting before drawing (many deltas, one frame).
        while let Ok(msg) = rx.try_recv() {
            batch.push(msg);
        }
        applied = apply(app, batch.drain(..), &mut effects, &mut pacer);
    }
}

/// A left click becomes `Msg::Clicked` with the message drawn under the
/// pointer (only the view knows), or nothing off any message.
pub fn clicked(msg: Msg, ui: &Ui) -> Option<Msg> {
    use ratatui::crossterm::event::{MouseButton, MouseEventKind};
    if let Msg::Mouse(mouse) = &msg
        && mouse.kind == MouseEventKind::Down(MouseButton::Left)
    {
        return ui
            .transcript
            .message_at(mouse.column, mouse.row)
            .map(Msg::Clicked);
    }
    Some(msg)
}

/// Runs `update` on each message; collects the effects, marks the frame
/// dirty on a change. True when there was a message.
fn apply(
    app: &mut App,
    msgs: impl IntoIterator<Item = Msg>,
    effects: &mut Vec<Effect>,
    pacer: &mut FramePacer,
) -> bool {
    let mut any = false;
    for msg in msgs {
        any = true;
        debug_panic_trigger(&msg);
        let out = update(app, msg);
        if out.changed {
            pacer.mark_dirty();
        }
        effects.extend(out.effects);
    }
    any
}

fn draw(terminal: &mut Term, ui: &mut Ui, app: &mut App) -> io::Result<()> {
    let size = terminal.size()?;
    ui::prepare(
        ui,
        app,
        ratatui::layout::Rect::new(0, 0, size.width, size.height),
    );
    // Synchronized update: fast streams don't tear; terminals that don't
    // know it ignore it.
    let _ = execute!(io::stdout(), BeginSynchronizedUpdate);
    let result = terminal.draw(|frame| ui::draw(ui, app, frame));
    let _ = execute!(io::stdout(), EndSynchronizedUpdate);
    result.map(|_| ())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Debug builds only: F11 with `KAIWA_TEST_PANIC=1` panics, so a test can
/// check that the terminal is restored on panic. Release builds lack it.
#[cfg(debug_assertions)]
fn debug_panic_trigger(msg: &Msg) {
    use ratatui::crossterm::event::KeyCode;
    if let Msg::Key(key) = msg
        && key.code == KeyCode::F(11)
        && std::env::var_os("KAIWA_TEST_PANIC").is_some()
    {
        #[allow(clippy::panic, reason = "deliberate, for the terminal-restore test")]
        {
            panic!("test panic requested with F11");
        }
    }
}

#[cfg(not(debug_assertions))]
fn debug_panic_trigger(_msg: &Msg) {}
