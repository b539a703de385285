//! Token estimates for servers that report no usage (llama-cpp-python, old
//! Azure, interrupted streams), with a real tokenizer whose data is compiled
//! into the binary (tiktoken-rs embeds its BPE files; nothing is downloaded).
//!
//! The encoding follows the model family (o200k for gpt-4o/4.1/o-series/
//! gpt-5, cl100k for gpt-3.5/gpt-4); other models (llama, qwen, mistral…)
//! have tokenizers of their own, of vocabularies much like these, and are
//! counted with o200k. Message overhead is the OpenAI cookbook's: 3 per
//! message, 3 to prime the reply. Every figure from here is shown with `~`.
//!
//! The tables cost ~50 MB resident and ~100 ms to build, so nothing builds
//! them at start-up: the chat builds them off the loop the first time an
//! answer ends without the server's usage (`Effect::WarmTokenizer`), and
//! counts that answer when they land.

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use crate::api::types::ChatMessage;

/// Tokens added per message (`<|start|>role<|message|>…<|end|>`).
const TOKENS_PER_MESSAGE: u64 = 3;
/// Every reply is primed with `<|start|>assistant<|message|>`.
const REPLY_PRIMING: u64 = 3;

/// The tokenizer of an OpenAI model, None for every other model. The id
/// may carry a `vendor/` path, a `provider:` prefix or an Ollama `:tag`
/// (`groq:openai/gpt-oss-120b`, `azure:gpt-4o`, `gpt-oss:20b`).
fn tokenizer_of(model: &str) -> Option<Tokenizer> {
    let name = model.rsplit('/').next().unwrap_or(model);
    get_tokenizer(name)
        .or_else(|| get_tokenizer(name.split_once(':')?.1))
        .or_else(|| get_tokenizer(name.rsplit_once(':')?.0))
}

fn bpe_for(model: &str) -> &'static CoreBPE {
    match tokenizer_of(model) {
        Some(Tokenizer::Cl100kBase) => tiktoken_rs::cl100k_base_singleton(),
        Some(Tokenizer::O200kHarmony) => tiktoken_rs::o200k_harmony_singleton(),
        Some(Tokenizer::P50kBase | Tokenizer::P50kEdit) => tiktoken_rs::p50k_base_singleton(),
        Some(Tokenizer::R50kBase | Tokenizer::Gpt2) => tiktoken_rs::r50k_base_singleton(),
        Some(Tokenizer::O200kBase) | None => tiktoken_rs::o200k_base_singleton(),
    }
}

/// Tokens of a plain text (an answer); builds the tables on first use.
pub fn text_tokens(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    bpe_for(model).count_with_special_tokens(text) as u64
}

/// Prompt tokens of a request, cookbook-style; builds the tables on first
/// use.
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

/// Build the tokenizer tables of `model` (≈100 ms, seconds on a loaded
/// machine, ~50 MB), off the UI thread; the caller then knows exact counts
/// are cheap (the app hears it as `Msg::TokenizerReady`).
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

fn rough_prompt_tokens(messages: &[ChatMessage]) -> u64 {
    REPLY_PRIMING
        + messages
            .iter()
            .map(|m| TOKENS_PER_MESSAGE + 1 + rough_tokens(&m.content))
            .sum::<u64>()
}

/// `text_tokens` when the tables are built (`ready`), else a rough count:
/// never blocks on building them.
pub fn text_tokens_now(model: &str, text: &str, ready: bool) -> u64 {
    if ready {
        text_tokens(model, text)
    } else {
        rough_tokens(text)
    }
}

/// `prompt_tokens` when the tables are built (`ready`), else a rough
/// count: never blocks on building them.
pub fn prompt_tokens_now(model: &str, messages: &[ChatMessage], ready: bool) -> u64 {
    if ready {
        prompt_tokens(model, messages)
    } else {
        rough_prompt_tokens(messages)
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
        assert_eq!(text_tokens("openrouter:openai/gpt-4o", "hello world"), 2);
        // Korean costs more than one token per few characters.
        assert!(text_tokens("gpt-4o", "ChatGPT란 무엇입니까?") >= 5);
    }

    #[test]
    fn a_provider_prefix_or_tag_does_not_hide_the_family() {
        for (model, family) in [
            ("azure:gpt-4", Some(Tokenizer::Cl100kBase)),
            ("openai/gpt-3.5-turbo", Some(Tokenizer::Cl100kBase)),
            ("groq:openai/gpt-oss-120b", Some(Tokenizer::O200kHarmony)),
            ("gpt-4o-mini", Some(Tokenizer::O200kBase)),
            ("llama3.2:3b", None),
        ] {
            assert_eq!(tokenizer_of(model), family, "{model}");
        }
    }
}
