//! The presets: providers that need nothing but their key variable
//! (SPEC, Providers). A `[providers.NAME]` table with a preset's name adds to
//! or overrides it.

use crate::chat::catalog::Family;

/// A provider known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    /// For `kind = "openai"`: the base URL. Azure's comes from
    /// `AZURE_OPENAI_ENDPOINT`.
    pub base_url: &'static str,
    /// The variable whose value is the key; the preset is active when it is
    /// set (Azure also needs `AZURE_OPENAI_ENDPOINT`).
    pub key_var: &'static str,
    pub family: Option<Family>,
    pub azure: bool,
}

/// Azure's endpoint variable (openai-python's name).
pub const AZURE_ENDPOINT_VAR: &str = "AZURE_OPENAI_ENDPOINT";
/// Azure's API version variable (openai-python's name); optional.
pub const AZURE_VERSION_VAR: &str = "OPENAI_API_VERSION";

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "openrouter",
        base_url: "https://openrouter.ai/api/v1",
        key_var: "OPENROUTER_API_KEY",
        family: None,
        azure: false,
    },
    Preset {
        name: "groq",
        base_url: "https://api.groq.com/openai/v1",
        key_var: "GROQ_API_KEY",
        family: Some(Family::Groq),
        azure: false,
    },
    Preset {
        name: "deepseek",
        base_url: "https://api.deepseek.com/v1",
        key_var: "DEEPSEEK_API_KEY",
        family: Some(Family::DeepSeek),
        azure: false,
    },
    Preset {
        name: "mistral",
        base_url: "https://api.mistral.ai/v1",
        key_var: "MISTRAL_API_KEY",
        family: Some(Family::Mistral),
        azure: false,
    },
    Preset {
        name: "xai",
        base_url: "https://api.x.ai/v1",
        key_var: "XAI_API_KEY",
        family: Some(Family::XAi),
        azure: false,
    },
    Preset {
        name: "azure",
        base_url: "",
        key_var: "AZURE_OPENAI_API_KEY",
        family: Some(Family::Azure),
        azure: true,
    },
];

/// The preset of that name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
