//! Token estimates for servers that report no usage (llama-cpp-python, old
//! Azure, interrupted streams), with a real tokenizer whose data is compiled
//! into the binary (tiktoken-rs embeds its BPE files; nothing is downloaded).
//!
//! The encoding follows the model family (o200k for gpt-4o/4.1/o-series/
//! gpt-5, cl100k for gpt-3.5/gpt-4); unknown models use o200k. Message
//! overhead is the OpenAI cookbook's: 3 per message, 3 to prime the reply.
//! Every figure from here is shown with `~`.

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::api::types::ChatMessage;

/// Tokens added per message (`<|start|>role<|message|>…<|end|>`).
const TOKENS_PER_MESSAGE: u64 = 3;
/// Every reply is primed with `<|start|>assistant<|message|>`.
const REPLY_PRIMING: u64 = 3;

fn bpe_for(model: &str) -> &'static CoreBPE {
    let name = model.rsplit('/').next().unwrap_or(model);
    match get_tokenizer(name) {
        Some(Tokenizer::Cl100kBase) => tiktoken_rs::cl100k_base_singleton(),
        Some(Tokenizer::O200kHarmony) => tiktoken_rs::o200k_harmony_singleton(),
        Some(Tokenizer::P50kBase | Tokenizer::P50kEdit) => tiktoken_rs::p50k_base_singleton(),
        Some(Tokenizer::R50kBase | Tokenizer::Gpt2) => tiktoken_rs::r50k_base_singleton(),
        Some(Tokenizer::O200kBase) | None => tiktoken_rs::o200k_base_singleton(),
    }
}

/// Tokens of a plain text (an answer).
pub fn text_tokens(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    bpe_for(model).count_with_special_tokens(text) as u64
}

/// Prompt tokens of a request, cookbook-style.
pub fn prompt_tokens(model: &str, messages: &[ChatMessage]) -> u64 {
    let bpe = bpe_for(model);
    let mut total = REPLY_PRIMING;
    for message in messages {
        total += TOKENS_PER_MESSAGE
            + bpe.count_with_special_tokens(message.role.as_str()) as u64
            + bpe.count_with_special_tokens(&message.content) as u64;
    }
    total
}

/// Build the tokenizer tables ahead of need (≈100 ms, seconds on a loaded
/// machine), off the UI thread; the caller then knows exact counts are
/// cheap (the app hears it as `Msg::TokenizerReady`).
pub fn warm_up(model: &str) {
    let _ = bpe_for(model);
}

/// A rough count that needs no tables: about 4 bytes of Latin text or one
/// CJK character per token. Used only until the tables are built, so the
/// event loop never waits for them (the figure is marked `~` either way);
/// also the thinking block's `~N` (cheap enough for every frame).
pub fn rough_tokens(text: &str) -> u64 {
    let wide = text.chars().filter(|c| u32::from(*c) >= 0x1100).count() as u64;
    let narrow_bytes = text
        .chars()
        .filter(|c| u32::from(*c) < 0x1100)
        .map(char::len_utf8)
        .sum::<usize>() as u64;
    wide + narrow_bytes.div_ceil(4)
}

/// `text_tokens` when the tables are built (`exact`), else a rough count:
/// never blocks on building them.
pub fn text_tokens_now(model: &str, text: &str, exact: bool) -> u64 {
    if exact {
        text_tokens(model, text)
    } else {
        rough_tokens(text)
    }
}

/// `prompt_tokens` when the tables are built (`exact`), else a rough
/// count: never blocks on building them.
pub fn prompt_tokens_now(model: &str, messages: &[ChatMessage], exact: bool) -> u64 {
    if exact {
        prompt_tokens(model, messages)
    } else {
        REPLY_PRIMING
            + messages
                .iter()
                .map(|m| TOKENS_PER_MESSAGE + 1 + rough_tokens(&m.content))
                .sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Role;

    #[test]
    fn cookbook_example_counts_19() {
        // OpenAI cookbook / WIRE-NOTES §4: this pair is 19 tokens for every OpenAI model.
        let messages = [
            ChatMessage::new(Role::System, "You are a helpful assistant."),
            ChatMessage::new(Role::User, "Hello!"),
        ];
        for model in ["gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "gpt-4", "gpt-5"] {
            assert_eq!(prompt_tokens(model, &messages), 19, "{model}");
        }
    }

    #[test]
    fn known_text_counts() {
        assert_eq!(text_tokens("gpt-4o", "hello world"), 2);
        assert_eq!(text_tokens("gpt-3.5-turbo", "hello world"), 2);
        assert_eq!(text_tokens("gpt-4o", ""), 0);
        // Unknown models fall back to o200k rather than failing.
        assert_eq!(text_tokens("llama3", "hello world"), 2);
        // Korean costs more than one token per few characters.
        assert!(text_tokens("gpt-4o", "ChatGPT란 무엇입니까?") >= 5);
    }
}
