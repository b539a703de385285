//! Recognising a prompt longer than the model's context window in a
//! server's error, whatever its shape (SPEC, Context; PROVIDERS-NOTES §4.2),
//! and the window the server names, when it names one.
//!
//! Written by hand: the shapes are a handful of fixed phrases and "N" after
//! them, not worth a regex engine.

use super::types::ServerError;

/// A server said the prompt does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// The window in tokens, when the server said it.
    pub limit: Option<u64>,
}

/// Error codes and types that mean overflow, whatever the type of the
/// code (llama.cpp sends an integer `code` with its `type`).
const CODES: &[&str] = &["context_length_exceeded", "exceed_context_size_error"];

/// Phrases of servers that send no such code (vLLM, OpenRouter, Ollama, LM
/// Studio, llama.cpp before its typed errors, OpenAI's 2026 wording,
/// Anthropic-style gateways), lower case.
const PHRASES: &[&str] = &[
    "maximum context length",
    "context window of this model",
    "exceeds the context window",
    "longer than the context length",
    "input length exceeds the context length",
    "exceeds the available context size",
    "context length of only",
    "tokens to keep",
    "n_keep",
    "exceed context limit",
    "context_length_exceeded",
];

/// Whether `error` is an overflow, and the window it names.
pub fn detect(error: &ServerError) -> Option<Overflow> {
    let coded = [error.code.as_deref(), error.kind.as_deref()]
        .into_iter()
        .flatten()
        .any(|code| CODES.contains(&code));
    let message = error.message.to_lowercase();
    if !coded && !PHRASES.iter().any(|phrase| message.contains(phrase)) {
        return None;
    }
    Some(Overflow {
        limit: error.n_ctx.or_else(|| limit_in(&message)),
    })
}

/// The window named in a message: "maximum context length is N", "of only
/// N", "n_ctx (N)", "n_ctx: N", "… > N" (a sum over the limit).
fn limit_in(message: &str) -> Option<u64> {
    for marker in [
        "maximum context length is ",
        "context length of only ",
        "of only ",
        "n_ctx (",
        "n_ctx: ",
        "n_ctx = ",
        "n_ctx\":",
    ] {
        if let Some(n) = message
            .split_once(marker)
            .and_then(|(_, rest)| leading_number(rest))
        {
            return Some(n);
        }
    }
    // "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000"
    message
        .rsplit_once("> ")
        .and_then(|(_, rest)| leading_number(rest))
}

/// The number at the start of `text` (digits, `,` or `_` between them).
fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '_')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> ServerError {
        ServerError::from_json(&serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn every_servers_shape_is_an_overflow_with_its_window() {
        let cases: &[(&str, Option<u64>)] = &[
            // OpenAI, old and 2026 wording.
            (
                r#"{"error":{"message":"This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                Some(4097),
            ),
            (
                r#"{"error":{"message":"Your input exceeds the context window of this model. Please adjust your input and try again.","type":"invalid_request_error","param":"input","code":"context_length_exceeded"}}"#,
                None,
            ),
            // llama-server: an integer code, the type and n_ctx.
            (
                r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":1342,"n_ctx":512}}"#,
                Some(512),
            ),
            // vLLM, OpenRouter.
            (
                r#"{"object":"error","message":"This model's maximum context length is 16384 tokens. However, you requested 122946 tokens (112946 in the messages, 10000 in the completion).","type":"BadRequestError","code":400}"#,
                Some(16384),
            ),
            (
                r#"{"error":{"message":"This endpoint's maximum context length is 32768 tokens. However, you requested about 42832 tokens. Please reduce the length.","code":400}}"#,
                Some(32768),
            ),
            // Ollama, LM Studio (three phrasings), a gateway.
            (
                r#"{"error":{"message":"the prompt is longer than the context length currently available to the model; shorten the prompt"}}"#,
                None,
            ),
            (
                r#"{"error":"Trying to keep the first 5110 tokens when context the overflows. However, the model is loaded with context length of only 4096 tokens, which is not enough."}"#,
                Some(4096),
            ),
            (
                r#"{"error":"The number of tokens to keep from the initial prompt is greater than the context length."}"#,
                None,
            ),
            (
                r#"{"error":{"message":"Cannot truncate prompt with n_keep (15028) >= n_ctx (7424)"}}"#,
                Some(7424),
            ),
            (
                r#"{"error":{"message":"input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000"}}"#,
                Some(200_000),
            ),
        ];
        for (json, limit) in cases {
            assert_eq!(
                detect(&error(json)),
                Some(Overflow { limit: *limit }),
                "{json}"
            );
        }
    }

    #[test]
    fn other_errors_are_not_overflows() {
        for json in [
            r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
            r#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#,
            r#"{"error":{"code":400,"message":"bad json","type":"invalid_request_error"}}"#,
        ] {
            assert_eq!(detect(&error(json)), None, "{json}");
        }
    }
}
