//! The code blocks of a markdown text, in document order — the numbering the
//! transcript shows in each block's frame and `c` copies by.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// A fenced or indented code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub lang: String,
    /// The code exactly as written.
    pub code: String,
}

/// Every code block of `src` (an unclosed fence at the end counts).
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "only code-block events matter"
)]
pub fn code_blocks(src: &str) -> Vec<CodeBlock> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut blocks = Vec::new();
    let mut current: Option<CodeBlock> = None;
    for event in Parser::new_ext(src, options) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                current = Some(CodeBlock {
                    lang,
                    code: String::new(),
                });
            }
            Event::Text(text) => {
                if let Some(block) = &mut current {
                    block.code.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
            _ => {}
        }
    }
    blocks.extend(current);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_in_order_with_languages() {
        let src = "a\n\n```rust\nfn x() {}\n```\n\ntext\n\n    indented\n\n```py\nprint(1)\n";
        let blocks = code_blocks(src);
        assert_eq!(
            blocks,
            [
                CodeBlock {
                    lang: "rust".into(),
                    code: "fn x() {}\n".into()
                },
                CodeBlock {
                    lang: String::new(),
                    code: "indented\n".into()
                },
                CodeBlock {
                    lang: "py".into(),
                    code: "print(1)\n".into()
                },
            ]
        );
    }
}
