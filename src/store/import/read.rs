//! Reading an import file: a zip (entry by entry, from the file), a JSON
//! array (one conversation at a time as it is parsed), a JSON object (one
//! conversation, or kaiwa's `{"conversations": [...]}`), or JSONL.
//!
//! Invariants: a zip is never read whole: only its `conversations*.json`
//! entries with safe, relative names are read into memory; a large array
//! never sits in memory as one tree; every item that cannot be read is
//! reported with where it was, and the rest goes on.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::Tally;
use crate::store::{ImportNote, Store};

/// A file to import: a zip, left open to be read entry by entry, or
/// anything else, read whole.
pub(super) enum Opened {
    Zip(File),
    Data(Vec<u8>),
}

/// Opens `path` for import. A zip is read from the file (ChatGPT's exports
/// with images run to gigabytes): only its conversations entries are read
/// into memory. Anything else is read whole.
pub(super) fn open_file(path: &Path) -> std::io::Result<Opened> {
    let mut file = File::open(path)?;
    let zip = is_zip(&sniff(&mut file)?);
    file.seek(SeekFrom::Start(0))?;
    if zip {
        return Ok(Opened::Zip(file));
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(Opened::Data(data))
}

impl Store {
    /// The conversations entries of a zip, read one at a time from `reader`
    /// (a file or bytes in memory); the other entries are never read.
    pub(super) fn import_zip<R: Read + Seek>(&mut self, name: &str, reader: R, report: &mut Tally) {
        let mut archive = match zip::ZipArchive::new(reader) {
            Ok(a) => a,
            Err(e) => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: format!("not a readable zip: {e}"),
                });
                return;
            }
        };
        let mut entries: Vec<(String, usize)> = Vec::new();
        for i in 0..archive.len() {
            let Ok(file) = archive.by_index(i) else {
                continue;
            };
            if file.is_dir() || file.is_symlink() {
                continue;
            }
            // Relative names only: no `..`, no backslashes or drive letters
            // (enclosed_name alone would turn `/abs/x` into `abs/x`).
            let raw = file.name().map(|n| n.to_string()).unwrap_or_default();
            if !safe_entry_name(&raw) {
                continue;
            }
            let Some(path) = file.enclosed_name() else {
                continue;
            };
            let Some(base) = path.file_name().and_then(|b| b.to_str()) else {
                continue;
            };
            if is_conversations_file(base) {
                entries.push((path.to_string_lossy().into_owned(), i));
            }
        }
        if entries.is_empty() {
            report.failed.push(ImportNote {
                item: name.to_string(),
                reason: "the zip holds no conversations.json (or conversations-NNN.json)"
                    .to_string(),
            });
            return;
        }
        entries.sort();
        for (entry, index) in entries {
            let mut bytes = Vec::new();
            let read = archive
                .by_index(index)
                .map_err(|e| e.to_string())
                .and_then(|mut f| f.read_to_end(&mut bytes).map_err(|e| e.to_string()));
            let label = format!("{name}:{entry}");
            match read {
                Ok(_) => {
                    if self.import_bytes(&label, &bytes, report).is_break() {
                        return;
                    }
                }
                Err(e) => report.failed.push(ImportNote {
                    item: label,
                    reason: format!("cannot read the entry: {e}"),
                }),
            }
        }
    }

    /// One JSON or JSONL document; `Break` when the store cannot take more
    /// (locked, full, read-only).
    pub(super) fn import_bytes(
        &mut self,
        name: &str,
        data: &[u8],
        report: &mut Tally,
    ) -> ControlFlow<()> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = data
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len());
        let body = data.get(start..).unwrap_or(&[]);
        let jsonl = name.to_ascii_lowercase().ends_with(".jsonl");
        match body.first() {
            Some(b'[') if !jsonl => {
                let mut index = 0usize;
                let mut flow = ControlFlow::Continue(());
                let mut each = |value: Value| {
                    index += 1;
                    flow = self.import_value(&format!("{name} #{index}"), &value, report);
                    flow.is_continue()
                };
                let mut de = serde_json::Deserializer::from_slice(body);
                if let Err(e) = EachValue(&mut each).deserialize(&mut de) {
                    report.failed.push(ImportNote {
                        item: name.to_string(),
                        reason: format!("not valid JSON after item {index}: {e}"),
                    });
                }
                flow
            }
            Some(b'{') if !jsonl => match serde_json::from_slice::<Value>(body) {
                Ok(value) => match value.get("conversations").and_then(Value::as_array) {
                    Some(list) => {
                        for (i, item) in list.iter().enumerate() {
                            self.import_value(&format!("{name} #{}", i + 1), item, report)?;
                        }
                        ControlFlow::Continue(())
                    }
                    None => self.import_value(name, &value, report),
                },
                Err(_) => self.import_lines(name, body, report),
            },
            Some(_) if jsonl => self.import_lines(name, body, report),
            Some(_) => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: "not a JSON or JSONL file".to_string(),
                });
                ControlFlow::Continue(())
            }
            None => {
                report.failed.push(ImportNote {
                    item: name.to_string(),
                    reason: "the file is empty".to_string(),
                });
                ControlFlow::Continue(())
            }
        }
    }

    fn import_lines(&mut self, name: &str, body: &[u8], report: &mut Tally) -> ControlFlow<()> {
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let label = format!("{name} line {}", i + 1);
            match serde_json::from_slice::<Value>(line) {
                Ok(value) => self.import_value(&label, &value, report)?,
                Err(e) => report.failed.push(ImportNote {
                    item: label,
                    reason: format!("not valid JSON: {e}"),
                }),
            }
        }
        ControlFlow::Continue(())
    }
}

/// A zip starts with a local file header, or (empty) its end record.
pub(super) fn is_zip(start: &[u8]) -> bool {
    start.starts_with(b"PK\x03\x04") || start.starts_with(b"PK\x05\x06")
}

/// The first bytes of a file (fewer when it is shorter).
fn sniff(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut start = Vec::with_capacity(4);
    file.by_ref().take(4).read_to_end(&mut start)?;
    Ok(start)
}

/// A zip entry name that stays inside the archive's folder.
fn safe_entry_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && !name.split('/').any(|part| part == "..")
}

/// `conversations.json` or `conversations-000.json`.
fn is_conversations_file(base: &str) -> bool {
    if base == "conversations.json" {
        return true;
    }
    base.strip_prefix("conversations-")
        .and_then(|rest| rest.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Feeds each element of a JSON array to a closure as it is parsed, so a
/// large export never sits in memory as one tree. The closure returns
/// false to stop.
struct EachValue<'a, F>(&'a mut F);

impl<'de, F: FnMut(Value) -> bool> DeserializeSeed<'de> for EachValue<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> bool> Visitor<'de> for EachValue<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            if !(self.0)(value) {
                break;
            }
        }
        Ok(())
    }
}
