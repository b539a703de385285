//! `kaiwa history …`, `kaiwa usage` and `-c` / `--resume` resolution, end
//! to end: the built binary with a cleared environment (HOME and the XDG
//! folders in a temp dir), over a history file seeded through the library.
//! What is checked is what a user or script sees: stdout, stderr, exit
//! codes and the files written.

mod support;

use std::path::PathBuf;
use std::process::Output;

use kaiwa::store::{LedgerRow, NewMessage, Store, StoredRole, UsageSource, now_ms};
use pretty_assertions::assert_eq;
use serde_json::Value;
use support::cli::{Sandbox, code, stderr, stdout};
use support::files::mode;

/// 2025-11-25T10:15:00Z.
const T0: i64 = 1_764_065_700_000;

/// Three conversations in `s`: a Korean one with two answers, a Japanese one
/// titled "Ramen", a second one titled "Ramen", plus ledger rows.
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test cannot go on without its seeded history"
)]
fn seed(s: &Sandbox) -> Vec<String> {
    let mut store = Store::open(&s.db()).unwrap().store;
    let now = now_ms();
    let mut uids = Vec::new();
    for (i, (title, turns)) in [
        (None, &["서울 맛집을 알려줘", "광장시장이 좋아요"][..]),
        (
            Some("Ramen"),
            &["東京でおすすめのラーメンは？", "風雲児です"][..],
        ),
        (Some("Ramen"), &["another ramen talk", "sure"][..]),
    ]
    .into_iter()
    .enumerate()
    {
        // Fixed times: their uids share a 6-character prefix.
        let at = T0 + i64::try_from(i).unwrap() * 1000;
        let conv = store
            .create_conversation("gpt-4o-mini", "http://x/v1", at)
            .unwrap();
        let mut parent = None;
        for (j, text) in turns.iter().enumerate() {
            let role = if j % 2 == 0 {
                StoredRole::User
            } else {
                StoredRole::Assistant
            };
            let m = NewMessage {
                model: Some("gpt-4o-mini".into()),
                ..NewMessage::new(parent, role, text, at)
            };
            parent = Some(store.insert_message(conv.id, &m).unwrap());
        }
        store.set_head(conv.id, parent, at).unwrap();
        store.rename(&conv.uid, title).unwrap();
        uids.push(conv.uid);
    }
    // A second answer for the Korean question (a branch).
    let first = store.load(&uids[0]).unwrap();
    let q = first.messages[0].id;
    store
        .insert_message(
            first.summary.id,
            &NewMessage::new(Some(q), StoredRole::Assistant, "명동도 좋아요", T0 + 1),
        )
        .unwrap();
    for (model, cost, source) in [
        ("gpt-4o-mini", Some(0.0001), UsageSource::Reported),
        ("gpt-4o-mini", Some(0.0002), UsageSource::Estimated),
        ("llama3", None, UsageSource::Reported),
    ] {
        store
            .record_request(&LedgerRow {
                message_id: None,
                started_at_ms: now - 5000,
                duration_ms: None,
                ttft_ms: None,
                base_url: None,
                model: model.into(),
                prompt_tokens: Some(17),
                cached_tokens: Some(0),
                completion_tokens: Some(188),
                reasoning_tokens: None,
                usage_source: source,
                cost_usd: cost,
                price_source: None,
                status: "done".into(),
                usage_json: None,
            })
            .unwrap();
    }
    uids
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "status {:?}\nstderr: {}",
        output.status,
        stderr(output)
    );
    stdout(output)
}

#[test]
fn path_and_an_empty_history() {
    let s = Sandbox::new();
    assert_eq!(
        ok(&s.run(&["history", "path"])),
        format!("{}\n", s.db().display())
    );
    let list = s.run(&["history", "list"]);
    assert_eq!(ok(&list), "");
    assert_eq!(stderr(&list), "no conversations saved yet\n");
    assert!(!s.db().exists(), "listing does not create the file");
    assert_eq!(ok(&s.run(&["history", "list", "--json"])), "[]\n");
    assert_eq!(ok(&s.run(&["history", "search", "x", "--json"])), "[]\n");
    assert_eq!(
        stderr(&s.run(&["usage"])),
        "no requests in the last 30 days\n"
    );
    let off = s.run(&["history", "path", "--no-history"]);
    assert_eq!(code(&off), 2);
    assert!(stderr(&off).contains("--no-history"));
}

#[test]
fn list_human_and_json() {
    let s = Sandbox::new();
    let uids = seed(&s);
    let out = ok(&s.run(&["history", "list"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("ID  ") && lines[0].ends_with("TITLE"),
        "{}",
        lines[0]
    );
    // Most recently active first; columns aligned.
    assert!(
        lines[1].starts_with(&uids[2]) && lines[1].ends_with("  Ramen"),
        "{out}"
    );
    assert!(
        lines[3].starts_with(&uids[0]) && lines[3].ends_with("서울 맛집을 알려줘"),
        "{out}"
    );
    assert!(lines[3].contains("  gpt-4o-mini      3  "), "{out}");
    let title_col = lines[0].find("TITLE").unwrap();
    assert_eq!(lines[1].find("Ramen"), Some(title_col));

    let json: Value = serde_json::from_str(&ok(&s.run(&["history", "list", "--json"]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "uid",
            "title",
            "preview",
            "model",
            "created_at",
            "last_active_at",
            "archived",
            "messages"
        ]
    );
    assert_eq!(rows[2]["messages"], 3);
    assert_eq!(rows[2]["title"], Value::Null);
    assert_eq!(rows[2]["preview"], "서울 맛집을 알려줘");
    assert_eq!(
        ok(&s.run(&["history", "list", "--archived", "--json"])),
        "[]\n"
    );
}

#[test]
fn search_human_json_and_hostile() {
    let s = Sandbox::new();
    let uids = seed(&s);
    let out = ok(&s.run(&["history", "search", "ラーメン"]));
    assert!(out.starts_with(&uids[1]), "{out}");
    assert!(
        out.contains("Ramen (1 match)\n    東京でおすすめのラーメンは？\n"),
        "{out}"
    );
    let json: Value =
        serde_json::from_str(&ok(&s.run(&["history", "search", "좋아요", "--json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["uid"], uids[0].as_str());
    assert_eq!(json[0]["matches"], 2, "both answers of the branch");
    assert!(json[0]["snippet"].as_str().unwrap().contains("좋아요"));
    for hostile in ["\"", "NEAR(", "*", "-", "AND", "\"unbalanced"] {
        let out = s.run(&["history", "search", hostile]);
        assert_eq!(code(&out), 0, "{hostile}: {}", stderr(&out));
    }
    let none = s.run(&["history", "search", "nothing-like-this"]);
    assert_eq!(
        (ok(&none), stderr(&none)),
        (String::new(), "nothing found\n".to_string())
    );
}

#[test]
fn export_one_or_all_and_import_back() {
    let s = Sandbox::new();
    let uids = seed(&s);
    // Markdown of one, by unique prefix, to stdout.
    let md = ok(&s.run(&["history", "export", uids[0].as_str()]));
    assert!(
        md.starts_with("---\ntitle: \"서울 맛집을 알려줘\"\n"),
        "{md}"
    );
    assert!(md.contains("## User\n\n서울 맛집을 알려줘\n"), "{md}");
    assert!(md.contains("1 message on other branches"), "{md}");
    // JSON of one, by exact title… which is ambiguous.
    let amb = s.run(&["history", "export", "Ramen", "--format", "json"]);
    assert_eq!(code(&amb), 2);
    let err = stderr(&amb);
    assert!(
        err.contains("2 conversations match \"Ramen\"")
            && err.contains(&uids[1])
            && err.contains(&uids[2]),
        "{err}"
    );
    let missing = s.run(&["history", "export", "zzzzzzzz"]);
    assert_eq!(code(&missing), 2);
    // JSON to a file: private.
    let file = s.path("one.json");
    ok(&s.run(&[
        "history",
        "export",
        &uids[1],
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
    ]));
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        (doc["format"].as_str(), doc["version"].as_u64()),
        (Some("kaiwa.conversation"), Some(1))
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    // All as JSONL, then into a fresh HOME: the same conversations.
    let jsonl = ok(&s.run(&["history", "export", "--all", "--format", "json"]));
    assert_eq!(jsonl.lines().count(), 3);
    let dump = s.path("all.jsonl");
    std::fs::write(&dump, &jsonl).unwrap();
    let t = Sandbox::new();
    let report = t.run(&["history", "import", dump.to_str().unwrap()]);
    assert_eq!(
        ok(&report),
        "imported 3 · updated 0 · skipped 0 · failed 0\n"
    );
    assert_eq!(
        ok(&t.run(&["history", "export", "--all", "--format", "json"])),
        jsonl
    );
    let again = ok(&t.run(&["history", "import", dump.to_str().unwrap()]));
    assert!(
        again.starts_with("imported 0 · updated 0 · skipped 3 · failed 0\n"),
        "{again}"
    );
    // All as Markdown needs a folder; files are private.
    let no_dir = s.run(&["history", "export", "--all"]);
    assert_eq!(code(&no_dir), 2);
    let dir = s.path("md");
    let out = s.run(&["history", "export", "--all", "-o", dir.to_str().unwrap()]);
    ok(&out);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3);
    assert_eq!(names[0], format!("{}-서울-맛집을-알려줘.md", uids[0]));
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(&names[0])), 0o600);
    }
    let usage = s.run(&["history", "export"]);
    assert_eq!(code(&usage), 2, "an ID or --all is required");
}

#[test]
fn import_reports_failures_with_exit_1() {
    let s = Sandbox::new();
    let chatgpt =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chatgpt/conversations.json");
    let out = s.run(&["history", "import", chatgpt.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let report = stdout(&out);
    assert!(
        report.starts_with("imported 3 · updated 0 · skipped 1 · failed 2\n"),
        "{report}"
    );
    assert!(report.contains("failed   conversations.json #4 \"Broken: no mapping\": not a kaiwa or ChatGPT conversation"), "{report}");
    assert!(
        report.contains("skipped  conversations.json #3 \"Only hidden\": no visible messages"),
        "{report}"
    );
    // Imported and searchable in Korean.
    let found = ok(&s.run(&["history", "search", "비빔밥"]));
    assert!(found.contains("비빔밥 추천"), "{found}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&s.db()), 0o600);
        assert_eq!(mode(&s.path("data/kaiwa")), 0o700);
    }
    let missing = s.run(&["history", "import", "/nonexistent.json"]);
    assert_eq!(code(&missing), 2);
}

#[test]
fn usage_per_day_and_model() {
    let s = Sandbox::new();
    seed(&s);
    let out = ok(&s.run(&["usage"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].starts_with("DAY         MODEL") && lines[0].ends_with("COST"),
        "{out}"
    );
    assert!(
        lines[1].contains("gpt-4o-mini")
            && lines[1].contains("~34")
            && lines[1].ends_with("~$0.0003"),
        "{out}"
    );
    assert!(
        lines[2].contains("llama3") && lines[2].ends_with("unpriced"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("total") && lines[3].ends_with("≥~$0.0003"),
        "{out}"
    );
    assert_eq!(lines[4], "this month: $0.0003");
    let json: Value =
        serde_json::from_str(&ok(&s.run(&["usage", "--days", "7", "--json"]))).unwrap();
    assert_eq!(json["days"], 7);
    assert_eq!(json["rows"].as_array().unwrap().len(), 2);
    assert_eq!(json["rows"][0]["model"], "gpt-4o-mini");
    assert_eq!(json["rows"][0]["requests"], 2);
    assert_eq!(json["rows"][0]["prompt_tokens"], 34);
    assert_eq!(json["rows"][0]["estimated"], true);
    assert_eq!(json["rows"][1]["unpriced_requests"], 1);
    assert_eq!(json["total"]["requests"], 3);
    assert!((json["month_spend_usd"].as_f64().unwrap() - 0.0003).abs() < 1e-12);
    assert_eq!(json["budget_monthly_usd"], Value::Null);
    assert_eq!(code(&s.run(&["usage", "--days", "0"])), 2);
}

#[test]
#[allow(clippy::string_slice, reason = "uids are ASCII")]
fn resume_and_continue_errors_exit_2() {
    let s = Sandbox::new();
    let uids = seed(&s);
    let amb = s.run(&["--resume", "Ramen"]);
    assert_eq!(code(&amb), 2);
    let err = stderr(&amb);
    assert!(err.contains("2 conversations match \"Ramen\""), "{err}");
    assert!(err.contains(&uids[1]) && err.contains(&uids[2]), "{err}");
    let prefix = &uids[0][..6];
    let amb = s.run(&["--resume", prefix]);
    assert_eq!(
        code(&amb),
        2,
        "seeded seconds apart: a short prefix is shared"
    );
    let none = s.run(&["--resume", "no such thing"]);
    assert_eq!(code(&none), 2);
    assert!(stderr(&none).contains("no saved conversation matches \"no such thing\""));
    let off = s.run(&["-c", "--no-history"]);
    assert_eq!(code(&off), 2);
    assert!(stderr(&off).contains("--no-history"));
    let both = s.run(&["-c", "--resume", "x"]);
    assert_eq!(code(&both), 2);
    let with_command = s.run(&["-c", "models"]);
    assert_eq!(code(&with_command), 2);
}
