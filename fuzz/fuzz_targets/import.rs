//! `Store::import` (`kaiwa history import`) on arbitrary bytes: kaiwa's JSON
//! and JSONL, ChatGPT's `conversations.json`, and a zip holding them, into
//! a fresh in-memory store.
//!
//! Input: byte 0 picks the file name (bit 0: `export.jsonl`, else
//! `conversations.json`); the rest is the file.
//!
//! Asserts:
//! - no panic, no stack overflow on deep nesting, no hang;
//! - every failure is reported with a reason; the store stays sound
//!   (`quick_check`) and holds exactly the conversations reported imported;
//! - importing the same bytes again imports and updates nothing;
//! - each imported conversation loads, and its JSON export imports into
//!   another store and exports again unchanged.

#![no_main]

use kaiwa::store::{ImportSource, Store};
use libfuzzer_sys::fuzz_target;

fn import(store: &mut Store, name: &str, data: &[u8]) -> kaiwa::store::ImportReport {
    store.import(ImportSource::Bytes {
        name: name.to_string(),
        data: data.to_vec(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let name = if pick & 1 == 1 {
        "export.jsonl"
    } else {
        "conversations.json"
    };
    let mut store = Store::open_in_memory().expect("an in-memory store");
    let first = import(&mut store, name, file);
    for note in first.failed.iter().chain(&first.skipped) {
        assert!(
            !note.reason.trim().is_empty(),
            "a note without a reason: {note:?}"
        );
    }
    store.quick_check().expect("the store stays sound");
    let uids = store.uids().expect("list the conversations");
    assert_eq!(uids.len(), first.imported, "{first:?}");

    let again = import(&mut store, name, file);
    assert_eq!(
        (again.imported, again.updated),
        (0, 0),
        "a second import changed something: {again:?} after {first:?}"
    );
    assert_eq!(store.uids().expect("list again"), uids);

    for uid in &uids {
        store.load(uid).expect("an imported conversation loads");
        let exported = store.export_json(uid).expect("it exports");
        let text = serde_json::to_vec(&exported).expect("JSON");
        let mut other = Store::open_in_memory().expect("a second store");
        let report = import(&mut other, "one.json", &text);
        assert_eq!(report.imported, 1, "its export does not import: {report:?}");
        let back = other.export_json(uid).expect("it exports again");
        assert_eq!(back, exported, "the export changed on the way back");
    }
});
