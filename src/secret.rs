//! The API key as a type of its own. Its job is to carry the key from the
//! config to the HTTP client without ever showing it: `Debug` and `Display`
//! print `***`, and it has no `Serialize`. Invariant: the key's text leaves
//! this type only through [`ApiKey::expose`], which only the HTTP client calls
//! (to build the `Authorization` header).

use std::fmt;

/// An API key. Prints as `***` whatever the formatter.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. The caller gives up the only other copy.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key's text. Only the HTTP client calls this, to build the
    /// `Authorization: Bearer …` header; nothing else may read the key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::ApiKey;

    #[test]
    fn formatting_never_shows_the_key() {
        let key = ApiKey::new("sk-very-secret-123".to_string());
        for shown in [
            format!("{key:?}"),
            format!("{key}"),
            format!("{key:#?}"),
            format!("{:?}", Some(key.clone())),
            format!("{key:>30}"),
        ] {
            assert!(!shown.contains("secret"), "{shown}");
        }
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(format!("{key}"), "***");
        assert_eq!(key.expose(), "sk-very-secret-123");
    }
}
