//! A configuration setting that breaks a rule. Each library crate that owns a section of the
//! configuration file (`[auth]`, `[bus]`) checks it and names the offending key; the server
//! reports where the value came from.

/// A setting that breaks a rule: its dotted key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    pub key: String,
    pub reason: String,
}

/// Refuses the setting `key`.
pub fn refuse(key: &str, reason: impl Into<String>) -> Result<(), SettingError> {
    Err(SettingError {
        key: key.to_owned(),
        reason: reason.into(),
    })
}
