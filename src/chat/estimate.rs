//! Token estimates for servers that report no usage (llama-cpp-python, old
//! Azure, interrupted streams), with a real tokenizer whose data is compiled
//! into the binary (tiktoken-rs embeds its BPE files; nothing is downloaded).
//!
//! The encoding follows the model family (o200k for gpt-4o/4.1/o-series/
//! gpt-5, cl100k for gpt-3.5/gpt-4). Other models (llama, qwen, mistral…)
//! have tokenizers of their own that o200k does not match: they get the
//! rough count ([`rough_tokens`]), which is what it is, not a tokenizer's
//! figure dressed up. Message overhead is the OpenAI cookbook's: 3 per
//! message, 3 to prime the reply. Every figure from here is shown with `~`.
//!
//! The tables cost ~50 MB resident and ~100 ms to build, so nothing builds
//! them at start-up: the chat builds them off the loop the first time an
//! answer of a model they fit ends without the server's usage
//! (`Effect::WarmTokenizer`); until they land, estimates are rough.

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

/// Whether a real tokenizer fits `model` (an OpenAI model): only then are
/// the tables worth building.
pub fn fits(model: &str) -> bool {
    tokenizer_of(model).is_some()
}

fn bpe_for(model: &str) -> Option<&'static CoreBPE> {
    Some(match tokenizer_of(model)? {
        Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        Tokenizer::O200kHarmony => tiktoken_rs::o200k_harmony_singleton(),
        Tokenizer::P50kBase | Tokenizer::P50kEdit => tiktoken_rs::p50k_base_singleton(),
        Tokenizer::R50kBase | Tokenizer::Gpt2 => tiktoken_rs::r50k_base_singleton(),
        Tokenizer::O200kBase => tiktoken_rs::o200k_base_singleton(),
    })
}

/// Tokens of a plain text (an answer): the model's tokenizer when one
/// fits (building its tables on first use), else the rough count.
pub fn text_tokens(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match bpe_for(model) {
        Some(bpe) => bpe.count_with_special_tokens(text) as u64,
        None => rough_tokens(text),
    }
}

/// Prompt tokens of a request, cookbook-style (the rough count for a
/// model no tokenizer fits).
pub fn prompt_tokens(model: &str, messages: &[ChatMessage]) -> u64 {
    let Some(bpe) = bpe_for(model) else {
        return rough_prompt_tokens(messages);
    };
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
        // A model no tokenizer fits gets the rough count: 11 bytes, 3.
        assert_eq!(text_tokens("llama3", "hello world"), 3);
        assert_eq!(text_tokens("openrouter:openai/gpt-4o", "hello world"), 2);
        // Korean costs more than one token per few characters.
        assert!(text_tokens("gpt-4o", "ChatGPT란 무엇입니까?") >= 5);
    }

    #[test]
    fn only_openai_models_get_a_tokenizer() {
        for model in [
            "gpt-4o-mini",
            "azure:gpt-4o",
            "openai/gpt-5",
            "o3-mini",
            "gpt-3.5-turbo",
            "groq:openai/gpt-oss-120b",
        ] {
            assert!(fits(model), "{model}");
        }
        for model in [
            "llama3.2:3b",
            "qwen2.5-coder",
            "mistral-large",
            "deepseek-chat",
        ] {
            assert!(!fits(model), "{model}");
        }
        let messages = [ChatMessage::new(Role::User, "안녕하세요")];
        // 3 priming + 3 per message + 1 for the role + 5 wide characters.
        assert_eq!(prompt_tokens("qwen2.5-coder", &messages), 12);
    }
}
