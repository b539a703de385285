//! The inline-reasoning splitter (`chat::think`) on an answer's arbitrary
//! text, streamed as deltas cut where the input's header says.
//!
//! Asserts: the eager splitter (the TUI: shows text, then retracts it) and
//! the held one (`kaiwa ask` into a pipe) both end with the split
//! `split_all` gives for the whole text, and no text is made up: reasoning
//! and answer together are no longer than the text.

#![no_main]

use kaiwa::chat::think::{Applied, ThinkSplitter, split_all};
use kaiwa_fuzz::{char_cuts, cuts_and_payload};
use libfuzzer_sys::fuzz_target;

fn feed(mut splitter: ThinkSplitter, text: &str, cuts: &[usize]) -> Applied {
    let mut out = Applied::default();
    let mut from = 0;
    for &cut in cuts {
        out.apply(splitter.push(&text[from..cut]));
        from = cut;
    }
    out.apply(splitter.push(&text[from..]));
    out.apply(splitter.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let (cuts, bytes) = cuts_and_payload(data);
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();
    let cuts = char_cuts(text, &cuts);
    let (reasoning, answer) = split_all(text);
    assert!(reasoning.len() + answer.len() <= text.len());
    for splitter in [ThinkSplitter::eager(), ThinkSplitter::held()] {
        let got = feed(splitter, text, &cuts);
        assert_eq!(
            (got.reasoning.as_str(), got.answer.as_str()),
            (reasoning.as_str(), answer.as_str()),
            "cut at {cuts:?}"
        );
    }
});
