//! Export and import: kaiwa JSON/JSONL round trips (a property test: any
//! tree survives unchanged), Markdown export, ChatGPT's data export from a
//! fixture built from the documented format (branches, hidden nodes, null
//! times, non-text parts, split files, the zip), idempotent re-imports and
//! malformed input that reports its failures and imports the rest.
#![allow(
    clippy::unwrap_used,
    reason = "test helper outside #[test] functions: a failure should panic"
)]

mod support;

use std::io::Write as _;
use std::path::PathBuf;

use kaiwa::store::{
    ImportReport, ImportSource, MessageState, NewMessage, Resolved, Store, StoredRole,
};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::peak_resident_kib;

const T0: i64 = 1_764_065_700_000;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chatgpt")
        .join(name)
}

fn bytes(name: &str, data: impl Into<Vec<u8>>) -> ImportSource {
    ImportSource::Bytes {
        name: name.to_string(),
        data: data.into(),
    }
}

fn all_exports(store: &Store) -> Vec<Value> {
    store
        .uids()
        .unwrap()
        .iter()
        .map(|u| store.export_json(u).unwrap())
        .collect()
}

/// One generated message: parent (an index below it, or none), role,
/// state, text, model.
type Spec = (Option<usize>, u8, u8, String, Option<String>);

#[allow(
    clippy::indexing_slicing,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn build(
    store: &mut Store,
    specs: &[Spec],
    head: Option<usize>,
    title: Option<&str>,
    archived: bool,
) -> String {
    let conv = store
        .create_conversation("gpt-4o-mini", "http://localhost:1/v1", T0)
        .unwrap();
    let roles = [
        StoredRole::System,
        StoredRole::User,
        StoredRole::Assistant,
        StoredRole::Tool,
    ];
    let states = [
        MessageState::Done,
        MessageState::Stopped,
        MessageState::Interrupted,
        MessageState::Error,
    ];
    let mut ids: Vec<i64> = Vec::new();
    for (i, (parent, role, state, content, model)) in specs.iter().enumerate() {
        let parent = parent.and_then(|p| (i > 0).then(|| ids[p % i]));
        let m = NewMessage {
            state: states[usize::from(*state) % states.len()],
            model: model.clone(),
            finish_reason: (*state == 0).then(|| "stop".to_string()),
            error: (*state == 3).then(|| "HTTP 500: boom".to_string()),
            skipped: u32::from(*state),
            ..NewMessage::new(
                parent,
                roles[usize::from(*role) % roles.len()],
                content,
                T0 + i64::try_from(i).unwrap(),
            )
        };
        ids.push(store.insert_message(conv.id, &m).unwrap());
    }
    let head = head.and_then(|h| (!ids.is_empty()).then(|| ids[h % ids.len()]));
    store.set_head(conv.id, head, T0 + 100).unwrap();
    store.rename(&conv.uid, title).unwrap();
    if archived {
        store.archive(&conv.uid, true, T0 + 200).unwrap();
    }
    conv.uid
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::option::of(0usize..16),
        0u8..4,
        0u8..4,
        prop_oneof![
            ".{0,24}",
            "\\PC{0,60}",
            Just(String::new()),
            Just("東京 🎉 \"q\" \\ \n\t".to_string())
        ],
        proptest::option::of("[a-z0-9.-]{1,12}"),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any tree, exported and imported into an empty store, exports the same.
    #[test]
    fn export_import_round_trip(
        specs in proptest::collection::vec(spec(), 1..14),
        head in proptest::option::of(0usize..16),
        title in proptest::option::of("\\PC{1,20}"),
        archived in any::<bool>(),
    ) {
        let mut a = Store::open_in_memory().unwrap();
        let uid = build(&mut a, &specs, head, title.as_deref(), archived);
        let first = a.export_json(&uid).unwrap();
        let mut b = Store::open_in_memory().unwrap();
        let report = b.import(bytes("one.json", serde_json::to_vec(&first).unwrap()));
        prop_assert_eq!(report.imported, 1, "{:?}", report);
        prop_assert_eq!(&b.export_json(&uid).unwrap(), &first);
        // And once more: nothing changes.
        let again = b.import(bytes("one.json", serde_json::to_vec(&first).unwrap()));
        prop_assert_eq!((again.imported, again.updated, again.skipped.len()), (0, 0, 1));
        prop_assert_eq!(&b.export_json(&uid).unwrap(), &first);
        // The path is the same conversation as shown.
        let la = a.load(&uid).unwrap();
        let lb = b.load(&uid).unwrap();
        let path = |l: &kaiwa::store::LoadedConversation| l.path().iter().map(|m| m.uid.clone()).collect::<Vec<_>>();
        prop_assert_eq!(path(&la), path(&lb));
    }
}

#[test]
fn jsonl_of_everything_round_trips() {
    let mut a = Store::open_in_memory().unwrap();
    for i in 0..5u8 {
        let specs: Vec<Spec> = (0..=i)
            .map(|j| (Some(0), j, 0, format!("m{i}-{j}"), None))
            .collect();
        build(&mut a, &specs, Some(usize::from(i)), None, i == 3);
    }
    let mut jsonl = String::new();
    for v in all_exports(&a) {
        jsonl.push_str(&v.to_string());
        jsonl.push('\n');
    }
    let mut b = Store::open_in_memory().unwrap();
    let report = b.import(bytes("all.jsonl", jsonl.clone()));
    assert_eq!((report.imported, report.failed.len()), (5, 0), "{report:?}");
    assert_eq!(all_exports(&b), all_exports(&a));
    // Importing the same file again changes nothing.
    let again = b.import(bytes("all.jsonl", jsonl));
    assert_eq!(
        (again.imported, again.updated, again.skipped.len()),
        (0, 0, 5)
    );
    assert_eq!(all_exports(&b), all_exports(&a));
}

#[test]
fn a_longer_copy_updates_the_known_conversation() {
    let mut a = Store::open_in_memory().unwrap();
    let uid = build(
        &mut a,
        &[(None, 1, 0, "q".into(), None)],
        Some(0),
        None,
        false,
    );
    let short = a.export_json(&uid).unwrap();
    let conv = a.load(&uid).unwrap().summary.id;
    let q = a.load(&uid).unwrap().messages[0].id;
    let ans = a
        .insert_message(
            conv,
            &NewMessage::new(Some(q), StoredRole::Assistant, "answer", T0 + 50),
        )
        .unwrap();
    a.set_head(conv, Some(ans), T0 + 50).unwrap();
    let long = a.export_json(&uid).unwrap();
    let mut b = Store::open_in_memory().unwrap();
    assert_eq!(b.import(bytes("s.json", short.to_string())).imported, 1);
    let report = b.import(bytes("l.json", long.to_string()));
    assert_eq!(report.updated, 1, "{report:?}");
    assert_eq!(b.export_json(&uid).unwrap(), long);
}

/// Found by `fuzz/fuzz_targets/import.rs`: an item whose message's parent
/// only a later item of the same file brings failed the first time and went
/// in the second, so importing the same file twice changed something. Such
/// an item is tried again once the rest of the file is in.
#[test]
fn an_item_whose_parent_comes_later_in_the_file_goes_in_the_first_time() {
    let mut a = Store::open_in_memory().unwrap();
    let uid = build(
        &mut a,
        &[
            (None, 1, 0, "q".into(), None),
            (Some(0), 2, 0, "a1".into(), None),
            (Some(0), 2, 0, "a2".into(), None),
        ],
        Some(2),
        None,
        false,
    );
    let full = a.export_json(&uid).unwrap();
    let message = |i: usize| full["messages"].get(i).unwrap().clone();
    // The second answer alone (its question is not in it), then the rest.
    let mut late = full.clone();
    late["messages"] = json!([message(2)]);
    let mut early = full.clone();
    early["messages"] = json!([message(0), message(1)]);
    early["head"] = message(1)["uid"].clone();
    let orphan = json!({"format": "kaiwa.conversation", "version": 1,
        "uid": "01ffffffffffffffffffffffff", "messages": [{"uid": "01gggggggggggggggggggggggg",
        "parent_uid": "01hhhhhhhhhhhhhhhhhhhhhhhh", "role": "user", "content": "x"}]});
    let file = format!("{late}\n{{not json\n{orphan}\n{early}\n[]\n");
    let mut b = Store::open_in_memory().unwrap();
    let first = b.import(bytes("x.jsonl", file.clone()));
    assert_eq!((first.imported, first.updated), (1, 1), "{first:?}");
    assert_eq!(b.export_json(&uid).unwrap(), full);
    // The orphan no line rescues fails, reported in its place.
    let items: Vec<&str> = first.failed.iter().map(|f| f.item.as_str()).collect();
    assert_eq!(
        items,
        ["x.jsonl line 2", "x.jsonl line 3", "x.jsonl line 5"],
        "{first:?}"
    );
    assert!(
        first.failed[1].reason.contains("not in the file"),
        "{first:?}"
    );
    let again = b.import(bytes("x.jsonl", file));
    assert_eq!((again.imported, again.updated), (0, 0), "{again:?}");
}

#[test]
fn malformed_input_reports_failures_and_imports_the_rest() {
    let mut a = Store::open_in_memory().unwrap();
    let good1 = build(
        &mut a,
        &[(None, 1, 0, "good one".into(), None)],
        Some(0),
        None,
        false,
    );
    let good2 = build(
        &mut a,
        &[(None, 1, 0, "good two".into(), None)],
        Some(0),
        None,
        false,
    );
    let g1 = a.export_json(&good1).unwrap();
    let g2 = a.export_json(&good2).unwrap();
    let mut bad_role = g1.clone();
    bad_role["uid"] = json!("01aaaaaaaaaaaaaaaaaaaaaaaa");
    bad_role["messages"][0]["uid"] = json!("01bbbbbbbbbbbbbbbbbbbbbbbb");
    bad_role["messages"][0]["role"] = json!("wizard");
    let mut newer = g1.clone();
    newer["version"] = json!(99);
    let mut orphan = g1.clone();
    orphan["uid"] = json!("01cccccccccccccccccccccccc");
    orphan["messages"][0]["uid"] = json!("01dddddddddddddddddddddddd");
    orphan["messages"][0]["parent_uid"] = json!("01eeeeeeeeeeeeeeeeeeeeeeee");
    let lines = [
        g1.to_string(),
        "{not json".to_string(),
        bad_role.to_string(),
        newer.to_string(),
        orphan.to_string(),
        json!({"hello": "world"}).to_string(),
        g2.to_string(),
    ];
    let mut b = Store::open_in_memory().unwrap();
    let report = b.import(bytes("mixed.jsonl", lines.join("\n")));
    assert_eq!(report.imported, 2, "{report:?}");
    let reasons: Vec<String> = report
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.item, f.reason))
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert!(
        reasons[0].starts_with("mixed.jsonl line 2: not valid JSON"),
        "{}",
        reasons[0]
    );
    assert!(reasons[1].contains("valid role"), "{}", reasons[1]);
    assert!(reasons[2].contains("version 99"), "{}", reasons[2]);
    assert!(reasons[3].contains("not in the file"), "{}", reasons[3]);
    assert!(
        reasons[4].contains("not a kaiwa or ChatGPT conversation"),
        "{}",
        reasons[4]
    );
    assert_eq!(
        b.uids().unwrap().len(),
        2,
        "a failed conversation leaves nothing behind"
    );

    // An array broken half-way keeps what came before the break.
    let broken = format!("[{g1},{g2},{{\"format\": ");
    let mut c = Store::open_in_memory().unwrap();
    let report = c.import(bytes("broken.json", broken));
    assert_eq!(report.imported, 2, "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].reason.contains("after item 2"),
        "{:?}",
        report.failed
    );

    for (name, data) in [
        ("empty.json", ""),
        ("text.txt", "hello"),
        ("nul.json", "\0\0"),
    ] {
        let report = c.import(bytes(name, data));
        assert_eq!(report.failed.len(), 1, "{name}: {report:?}");
    }
    let missing = c.import(ImportSource::File("/nonexistent/conversations.json".into()));
    assert!(
        missing.failed[0].reason.contains("cannot read"),
        "{missing:?}"
    );
}

#[allow(
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helper outside #[test] functions: a failure should panic"
)]
fn check_chatgpt(store: &Store, report: &ImportReport) {
    assert_eq!(report.imported, 3, "{report:#?}");
    assert_eq!(report.updated, 0);
    let skipped: Vec<_> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(skipped, ["no visible messages"]);
    let failed: Vec<_> = report.failed.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(
        failed,
        [
            "not a kaiwa or ChatGPT conversation",
            "it has no conversation id"
        ]
    );

    // Korean: branches kept, hidden nodes dropped, children re-parented,
    // current_node (a hidden node) → its nearest visible ancestor.
    let Resolved::Found(s) = store.resolve("비빔밥 추천").unwrap() else {
        panic!()
    };
    let c = store.load(&s.uid).unwrap();
    assert_eq!(c.source, "chatgpt");
    assert_eq!(
        c.source_id.as_deref(),
        Some("6552f1c0-1111-4000-8000-000000000001")
    );
    let by_text = |t: &str| {
        c.messages
            .iter()
            .find(|m| m.content.contains(t))
            .unwrap_or_else(|| panic!("{t}"))
    };
    let contents: Vec<&str> = c.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents.len(), 6, "{contents:#?}");
    let u1 = by_text("서울에서");
    let a1 = by_text("명동에");
    let a2 = by_text("광장시장");
    let u2 = by_text("이 사진의");
    let tool = by_text("bibimbap");
    let a3 = by_text("비빔밥입니다");
    assert_eq!(u1.parent, None, "hidden system and context nodes are gone");
    assert_eq!(
        (a1.parent, a2.parent),
        (Some(u1.id), Some(u1.id)),
        "regenerated answers are siblings"
    );
    assert_eq!(u2.content, "[image]\n이 사진의 음식은 뭐예요?");
    assert_eq!(
        (tool.role, tool.parent),
        (StoredRole::Tool, Some(u2.id)),
        "thoughts and the code call are hidden"
    );
    assert_eq!(tool.content, "```\nbibimbap\n```");
    assert_eq!(a3.parent, Some(tool.id));
    assert_eq!(
        a3.created_at_ms, u2.created_at_ms,
        "a null time takes its parent's"
    );
    assert_eq!(u1.created_at_ms, 1_700_000_000_500);
    assert_eq!(
        (a1.model.as_deref(), a2.model.as_deref()),
        (Some("gpt-4"), Some("gpt-4o"))
    );
    let path: Vec<&str> = c.path().iter().map(|m| m.content.as_str()).collect();
    assert_eq!(path, [u1.content.as_str(), a2.content.as_str()]);
    assert_eq!(c.summary.created_at_ms, 1_700_000_000_250);
    assert_eq!(c.summary.last_active_at_ms, 1_700_000_100_000);

    // Japanese: no title, no times at all, model from default_model_slug, archived.
    let hits = store.search("ラーメン", 10).unwrap();
    assert_eq!(hits.len(), 1);
    let j = &hits[0].conversation;
    assert_eq!(
        (j.title.as_deref(), j.display_title()),
        (None, "東京でおすすめのラーメンは？")
    );
    assert!(j.archived);
    let jc = store.load(&j.uid).unwrap();
    assert_eq!(jc.messages[1].model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(
        jc.messages[1].content,
        "新宿の「風雲児」が人気です。\n並ぶ価値あり。"
    );

    // Chinese: a system prompt the user wrote is kept, odd parts tolerated,
    // an in-progress answer is interrupted, an orphan is its own root.
    let hits = store.search("北京烤鸭", 10).unwrap();
    let z = store.load(&hits[0].conversation.uid).unwrap();
    let roles: Vec<StoredRole> = z.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            StoredRole::System,
            StoredRole::User,
            StoredRole::Assistant,
            StoredRole::User
        ]
    );
    assert_eq!(z.messages[1].content, "我喜欢吃北京烤鸭\n[audio]");
    assert_eq!(z.messages[2].state, MessageState::Interrupted);
    assert_eq!(z.messages[3].parent, None);
    assert_eq!(z.path().len(), 3);

    // Searchable in Korean, 2-character words included.
    assert_eq!(
        store.search("비빔밥", 10).unwrap()[0].conversation.uid,
        s.uid
    );
    assert_eq!(store.search("육회", 10).unwrap()[0].conversation.uid, s.uid);
}

#[test]
fn chatgpt_conversations_json() {
    let mut store = Store::open_in_memory().unwrap();
    let report = store.import(ImportSource::File(fixture("conversations.json")));
    check_chatgpt(&store, &report);
    let before = all_exports(&store);
    let again = store.import(ImportSource::File(fixture("conversations.json")));
    assert_eq!(
        (
            again.imported,
            again.updated,
            again.skipped.len(),
            again.failed.len()
        ),
        (0, 0, 4, 2)
    );
    assert_eq!(
        all_exports(&store),
        before,
        "importing twice changes nothing"
    );
    // The wrapper form `{"conversations": [...]}` reads the same.
    let list: Value =
        serde_json::from_slice(&std::fs::read(fixture("conversations.json")).unwrap()).unwrap();
    let mut wrapped = Store::open_in_memory().unwrap();
    let report = wrapped.import(bytes(
        "export.json",
        json!({"conversations": list}).to_string(),
    ));
    check_chatgpt(&wrapped, &report);
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn chatgpt_zip_with_split_files() {
    let read = |n: &str| std::fs::read(fixture(n)).unwrap();
    let evil = br#"[{"id": "evil", "title": "evil", "mapping": {"a": {"id": "a", "parent": null, "children": [],
        "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["evil"]}}}}}]"#;
    let data = zip_of(&[
        ("chat.html", b"<html></html>".to_vec()),
        ("conversations-001.json", read("conversations-001.json")),
        ("conversations-000.json", read("conversations-000.json")),
        ("../conversations.json", evil.to_vec()),
        ("/abs/conversations.json", evil.to_vec()),
        ("file-abc.png", vec![0x89, b'P', b'N', b'G']),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, &data).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let report = store.import(ImportSource::File(path.clone()));
    check_chatgpt(&store, &report);
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.item.starts_with("export.zip:conversations-00")),
        "{report:?}"
    );
    assert!(
        store.search("evil", 5).unwrap().is_empty(),
        "unsafe entry names are ignored"
    );
    let again = store.import(ImportSource::File(path));
    assert_eq!((again.imported, again.updated), (0, 0));

    let no_json = zip_of(&[("chat.html", b"<html></html>".to_vec())]);
    let report = store.import(bytes("empty.zip", no_json));
    assert!(
        report.failed[0].reason.contains("no conversations.json"),
        "{report:?}"
    );
    let report = store.import(bytes("bad.zip", b"PK\x03\x04 not really".to_vec()));
    assert_eq!(report.failed.len(), 1, "{report:?}");
}

/// ChatGPT's exports with images run to gigabytes: the zip is read from the
/// file, and a large member that is not a conversations file is never read
/// (the import only seeks past it).
#[test]
fn a_zip_with_a_large_image_member_imports_from_the_file() {
    const BIG: usize = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chatgpt-export.zip");
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap(),
    ));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    w.start_file("images/x.png", stored).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..BIG / zeros.len() {
        w.write_all(&zeros).unwrap();
    }
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("conversations.json", deflated).unwrap();
    w.write_all(&std::fs::read(fixture("conversations.json")).unwrap())
        .unwrap();
    w.finish()
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > BIG as u64);

    let mut store = Store::open_in_memory().unwrap();
    let peak_before = peak_resident_kib();
    let report = store.import(ImportSource::File(path.clone()));
    let peak_after = peak_resident_kib();
    check_chatgpt(&store, &report);
    if let (Some(before), Some(after)) = (peak_before, peak_after) {
        // Reading the file whole would raise the peak by its 64 MiB.
        assert!(
            after - before < 32 * 1024,
            "the import raised peak memory by {} KiB",
            after - before
        );
    }
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.item.starts_with("chatgpt-export.zip:conversations.json")),
        "{report:?}"
    );
    let again = store.import(ImportSource::File(path));
    assert_eq!((again.imported, again.updated), (0, 0));
}

#[test]
fn markdown_shows_the_current_path_with_front_matter() {
    let mut store = Store::open_in_memory().unwrap();
    let conv = store.create_conversation("gpt-4o-mini", "u", T0).unwrap();
    let s = store
        .insert_message(
            conv.id,
            &NewMessage::new(None, StoredRole::System, "be kind", T0),
        )
        .unwrap();
    let q = store
        .insert_message(
            conv.id,
            &NewMessage::new(Some(s), StoredRole::User, "What is \"it\"?", T0),
        )
        .unwrap();
    let old = NewMessage {
        model: Some("gpt-4o".into()),
        ..NewMessage::new(Some(q), StoredRole::Assistant, "old answer", T0)
    };
    store.insert_message(conv.id, &old).unwrap();
    let new = NewMessage {
        model: Some("gpt-4o-mini".into()),
        state: MessageState::Stopped,
        ..NewMessage::new(Some(q), StoredRole::Assistant, "new answer", T0 + 60_000)
    };
    let a = store.insert_message(conv.id, &new).unwrap();
    store.set_head(conv.id, Some(a), T0).unwrap();
    store
        .rename(&conv.uid, Some("A \"quoted\": title"))
        .unwrap();
    let md = store.export_markdown(&conv.uid).unwrap();
    let expected = format!(
        "---\ntitle: \"A \\\"quoted\\\": title\"\nuid: {}\ncreated: 2025-11-25T10:15:00Z\n\
         updated: 2025-11-25T10:16:00Z\nmodels: [\"gpt-4o-mini\"]\nmessages: 3\n\
         other_branch_messages: 1\n---\n\n# A \"quoted\": title\n\n## System\n\nbe kind\n\n\
         ## User\n\nWhat is \"it\"?\n\n## Assistant (gpt-4o-mini, 2025-11-25 10:16 UTC)\n\n\
         new answer\n\n*(stopped)*\n\n---\n\n*1 message on other branches not shown (export as \
         JSON for the whole tree).*\n",
        conv.uid
    );
    assert_eq!(md, expected);
}
