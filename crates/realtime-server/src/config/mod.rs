//! Configuration: one TOML file with typed sections, every key optional with a documented
//! default, unknown keys refused, and every key overridable from the environment as
//! `TORII_REALTIME__<SECTION>__<KEY>` (see [`env`]). Errors name the file (or variable),
//! the key and the reason.

mod env;
mod error;
mod sections;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::ConfigError;
pub use realtime_store::StorageConfig;
pub use sections::{
    AuthConfig, BusConfig, BusKind, LimitsConfig, LogConfig, LogFormat, ServerConfig,
};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub bus: BusConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
}

/// Where the configuration came from, for logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Environment variables that overrode keys.
    pub env_overrides: Vec<String>,
}

impl Config {
    /// Reads `file` (or only defaults when `None`), applies environment overrides, and
    /// validates the result.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        // Variables that are not valid Unicode cannot be overrides; skip them rather than fail.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::load_with_env(file, vars)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let origin = file.map(|f| f.display().to_string());
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| ConfigError::Syntax {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?
            }
            None => toml::Table::new(),
        };
        let overrides = env::overlay(&mut table, vars)?;
        let config: Config = env::deserialize(table, &overrides, origin.as_deref())?;
        config.validate().map_err(|(key, reason)| {
            ConfigError::invalid(origin.as_deref(), &overrides, &key, reason)
        })?;
        Ok(Loaded {
            config,
            file: file.map(Path::to_path_buf),
            env_overrides: overrides.into_values().map(|o| o.var).collect(),
        })
    }

    /// Checks rules that span keys or that types cannot express.
    fn validate(&self) -> Result<(), (String, String)> {
        self.server.validate()?;
        self.limits.validate()?;
        self.log.validate()?;
        self.auth.validate()?;
        if self.storage.max_connections == 0 {
            return Err((
                "storage.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML with secrets replaced, for `config check --print`.
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        if copy.auth.session_secret.is_some() {
            copy.auth.session_secret = Some("***".into());
        }
        copy.storage.url = copy.storage.redacted_url();
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
