//! What the unit tests of `app` share: the key DSL (`keys(&mut app,
//! "hi<Enter><C-n>")`), the `Update` values and notices they compare with,
//! the settings they start from, and stream events at the one instant every
//! event carries.
//!
//! The DSL: a plain character is that key (an upper-case letter carries
//! Shift, as terminals report it); `<Name>` is a named key from [`NAMED`]
//! or `<F1>`…`<F12>`, or a single character; `C-`, `A-` and `S-` before a
//! name add Ctrl, Alt and Shift (`<C-o>`, `<A-Enter>`, `<C-S-J>`); `<lt>`
//! is a literal `<`. An unknown name panics, naming itself and the names
//! there are.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::effect::Effect;
use super::msg::{Msg, RequestId};
use super::state::{App, Notice, Settings};
use super::update::{Update, update};
use crate::api::client::StreamEvent;
use crate::chat::pricing::PriceTable;

/// The named keys of the DSL, besides `<F1>`…`<F12>` and single characters.
pub const NAMED: &[(&str, KeyCode)] = &[
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("Backspace", KeyCode::Backspace),
    ("BS", KeyCode::Backspace),
    ("Del", KeyCode::Delete),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("lt", KeyCode::Char('<')),
    ("space", KeyCode::Char(' ')),
];

/// One `<…>` key of the DSL, given without its brackets: `Enter`, `C-o`,
/// `A-Enter`, `C-S-J`, `F2`, `x`.
pub fn named_key(name: &str) -> KeyEvent {
    let mut mods = KeyModifiers::NONE;
    let mut rest = name;
    loop {
        let modifier = match rest.get(..2) {
            Some("C-") => KeyModifiers::CONTROL,
            Some("A-") => KeyModifiers::ALT,
            Some("S-") => KeyModifiers::SHIFT,
            _ => break,
        };
        if rest.len() == 2 {
            break;
        }
        mods |= modifier;
        rest = rest.get(2..).unwrap();
    }
    let code = if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == rest) {
        *code
    } else if let Some(n) = rest.strip_prefix('F').filter(|n| !n.is_empty()) {
        KeyCode::F(n.parse().unwrap_or_else(|_| unknown(name)))
    } else if rest.chars().count() == 1 {
        KeyCode::Char(rest.chars().next().unwrap())
    } else {
        unknown(name)
    };
    KeyEvent::new(code, mods)
}

fn unknown(name: &str) -> ! {
    let named: Vec<&str> = NAMED.iter().map(|(n, _)| *n).collect();
    panic!(
        "key DSL: unknown key <{name}>; a key is one character, <F1>…<F12> or one of <{}>, \
         after any of C- A- S-",
        named.join("> <")
    )
}

/// Parse a key sequence.
pub fn parse_keys(dsl: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let mut chars = dsl.chars();
    while let Some(c) = chars.next() {
        if c == '<' {
            let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
            out.push(named_key(&name));
        } else if c.is_uppercase() {
            out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT));
        } else {
            out.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }
    out
}

/// Press every key of `dsl`; every effect, in order (`SavePrompt`
/// included: the prompt history tests look at it).
pub fn keys_all(app: &mut App, dsl: &str) -> Vec<Effect> {
    parse_keys(dsl)
        .into_iter()
        .flat_map(|k| update(app, Msg::Key(k)).effects)
        .collect()
}

/// Press every key of `dsl`; their effects without `SavePrompt` (prompt
/// history has tests of its own).
pub fn keys(app: &mut App, dsl: &str) -> Vec<Effect> {
    keys_all(app, dsl)
        .into_iter()
        .filter(|e| !matches!(e, Effect::SavePrompt(_)))
        .collect()
}

/// Press exactly one key; the whole `Update` (without `SavePrompt`).
pub fn key(app: &mut App, dsl: &str) -> Update {
    let parsed = parse_keys(dsl);
    assert_eq!(parsed.len(), 1, "one key expected in {dsl:?}");
    let mut out = update(app, Msg::Key(parsed[0]));
    out.effects.retain(|e| !matches!(e, Effect::SavePrompt(_)));
    out
}

/// Nothing changed, nothing to do.
pub fn unchanged() -> Update {
    Update {
        changed: false,
        effects: vec![],
    }
}

/// Changed, and these effects to run.
pub fn changed(effects: Vec<Effect>) -> Update {
    Update {
        changed: true,
        effects,
    }
}

/// One fixed instant for every event, so no speed is ever computed.
pub fn t0() -> Instant {
    use std::sync::OnceLock;
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

/// `event` of request `id`, arriving at `at`.
pub fn api_at(app: &mut App, id: RequestId, event: StreamEvent, at: Instant) -> Update {
    update(app, Msg::Api { id, event, at })
}

/// `event` of request `id`, arriving at [`t0`].
pub fn api(app: &mut App, id: RequestId, event: StreamEvent) -> Update {
    api_at(app, id, event, t0())
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "compared with `App::notice`, an Option"
)]
pub fn notice(text: &str, is_error: bool) -> Option<Notice> {
    Some(Notice {
        text: text.into(),
        is_error,
    })
}

/// The system prompt of [`settings`].
pub const SYSTEM: &str = "You answer in Korean.";
/// The model of [`settings`].
pub const MODEL: &str = "gpt-4o-mini";

/// An app with `settings` whose tokenizer tables are built and reported ready: exact figures,
/// as in a running kaiwa once its tables are.
pub fn warm_app(settings: Settings) -> App {
    crate::chat::estimate::warm_up(&settings.model);
    let mut app = App::new(settings, PriceTable::default());
    update(&mut app, Msg::TokenizerReady);
    app
}

/// A kaiwa set up for OpenAI with a key (no first-run panel), [`MODEL`], the
/// [`SYSTEM`] prompt and the mouse on; no other models, no sampling settings.
pub fn settings() -> Settings {
    Settings {
        model: MODEL.into(),
        system: Some(SYSTEM.into()),
        base_url: "https://api.openai.com/v1".into(),
        mouse: true,
        ..Settings::default()
    }
}

mod tests {
    use pretty_assertions::assert_eq;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::{NAMED, parse_keys};

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn every_named_key_parses_alone_and_with_modifiers() {
        for (name, code) in NAMED {
            assert_eq!(
                parse_keys(&format!("<{name}>")),
                [ev(*code, KeyModifiers::NONE)],
                "<{name}>"
            );
            assert_eq!(
                parse_keys(&format!("<C-A-S-{name}>")),
                [ev(
                    *code,
                    KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT
                )],
                "<C-A-S-{name}>"
            );
        }
        for n in 1..=12 {
            assert_eq!(
                parse_keys(&format!("<F{n}>")),
                [ev(KeyCode::F(n), KeyModifiers::NONE)]
            );
        }
    }

    #[test]
    fn characters_modifiers_and_a_literal_lt() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            parse_keys("hI<C-o><A-Enter><S-Enter><C-S-J><x><lt><C-End><Del>"),
            [
                ev(KeyCode::Char('h'), none),
                ev(KeyCode::Char('I'), KeyModifiers::SHIFT),
                ev(KeyCode::Char('o'), KeyModifiers::CONTROL),
                ev(KeyCode::Enter, KeyModifiers::ALT),
                ev(KeyCode::Enter, KeyModifiers::SHIFT),
                ev(
                    KeyCode::Char('J'),
                    KeyModifiers::CONTROL | KeyModifiers::SHIFT
                ),
                ev(KeyCode::Char('x'), none),
                ev(KeyCode::Char('<'), none),
                ev(KeyCode::End, KeyModifiers::CONTROL),
                ev(KeyCode::Delete, none),
            ]
        );
        // A lone `F` and a Korean syllable are characters.
        assert_eq!(
            parse_keys("<F>한"),
            [ev(KeyCode::Char('F'), none), ev(KeyCode::Char('한'), none)]
        );
        assert_eq!(parse_keys(""), []);
    }

    #[test]
    #[should_panic(expected = "key DSL: unknown key <Xyz>; a key is one character")]
    fn an_unknown_name_panics_naming_it() {
        parse_keys("a<Xyz>b");
    }

    #[test]
    #[should_panic(expected = "key DSL: unknown key <C-Fx>")]
    fn an_f_key_without_a_number_panics_naming_it() {
        parse_keys("<C-Fx>");
    }

    #[test]
    #[should_panic(expected = "key DSL: unknown key <C->")]
    fn a_modifier_without_a_key_panics() {
        parse_keys("<C->");
    }
}
