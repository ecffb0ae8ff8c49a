//! Configuration errors: each names where the value came from, the key, and the reason.

use super::env::Overrides;

/// Why the configuration could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {file}: {reason}")]
    Read { file: String, reason: String },
    #[error("config file {file} is not valid TOML: {reason}")]
    Syntax { file: String, reason: String },
    #[error("{origin}: key `{key}`: {reason}")]
    Invalid {
        /// The file, the environment variable, or "defaults".
        origin: String,
        key: String,
        reason: String,
    },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
}

impl ConfigError {
    /// An invalid value at `key`, attributed to the environment variable that set it, or to
    /// the file.
    pub(crate) fn invalid(
        file: Option<&str>,
        overrides: &Overrides,
        key: &str,
        reason: String,
    ) -> Self {
        let origin = overrides
            .iter()
            .filter(|(k, _)| {
                key == k.as_str()
                    || key.starts_with(&format!("{k}."))
                    || key.starts_with(&format!("{k}["))
            })
            .map(|(_, o)| format!("environment variable {}", o.var))
            .next()
            .or_else(|| file.map(|f| format!("config file {f}")))
            .unwrap_or_else(|| "built-in defaults".into());
        ConfigError::Invalid {
            origin,
            key: key.to_owned(),
            reason,
        }
    }

    /// The key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}
