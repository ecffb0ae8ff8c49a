//! Configuration: one TOML file with typed sections, every key optional with a documented
//! default, unknown keys refused, and every key overridable from the environment as
//! `TORII_REALTIME__<SECTION>__<KEY>` (see [`env`]). Errors name the file (or variable),
//! the key and the reason.

mod env;
mod error;
mod limits;
mod moderation;
mod retention;
mod sections;
pub mod urls;
mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use realtime_core::dm::DmRule;
use realtime_core::notes::NoteRule;
use serde::{Deserialize, Serialize};
use torii_plugin::announce::AnnouncementRule;
use torii_plugin::rules::{
    ChannelRule, FeedRule, GroupRule, PlayersRule, PositionRule, ToriiConfig, WorldRules,
};

pub use error::ConfigError;
pub use limits::{ChannelLimits, LimitsConfig, MAX_WATCH_BUCKETS, MAX_WATCH_TILES};
pub use moderation::{MODERATION_CHANNEL, ModerationConfig};
pub use realtime_auth::config::{
    AuthConfig, ExternalAuthConfig, KeyAlgorithm, SessionKeyConfig, StarknetAuthConfig,
};
pub use realtime_bus::{BusConfig, BusKind};
pub use realtime_store::StorageConfig;
pub use retention::{MAX_RETENTION_BATCH, RetentionConfig, RetentionRule};
pub use sections::{LogConfig, LogFormat, MetricsConfig, ServerConfig};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub bus: BusConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    /// How long messages and note tombstones are kept.
    pub retention: RetentionConfig,
    pub log: LogConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// The Torii indexer to follow; without it no world rule applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torii: Option<ToriiConfig>,
    /// What makes an address a player.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub players: Option<PlayersRule>,
    /// Groups (guilds, tribes…), each with member-only channels `NAME:ID`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupRule>,
    /// Things on the map and their owners.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<PositionRule>,
    /// Read and post policies per channel or channel kind. Without any, every channel is
    /// open to signed-in addresses.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelRule>,
    /// Models whose on-chain updates clients may watch.
    #[serde(skip_serializing_if = "FeedRule::is_empty")]
    pub feed: FeedRule,
    /// Direct messages: whether they exist and who may start a thread.
    pub dm: DmRule,
    /// Notes pinned to map tiles: where they may be pinned, and their sizes.
    pub notes: NoteRule,
    /// On-chain changes announced as lines in channels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub announcements: Vec<AnnouncementRule>,
    /// Moderators, content rules and reports.
    pub moderation: ModerationConfig,
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
        self.metrics.validate(&self.server)?;
        self.auth.validate().map_err(|e| (e.key, e.reason))?;
        self.bus.validate().map_err(|e| (e.key, e.reason))?;
        self.moderation.validate()?;
        if self.storage.max_connections == 0 {
            return Err((
                "storage.max_connections".into(),
                "must be at least 1".into(),
            ));
        }
        self.validate_world()?;
        let rules = self.channel_rules();
        self.retention.validate(|c| rules.canonical(c))
    }

    /// The world session tokens are bound to, so that worlds sharing a signing key cannot take
    /// each other's tokens: the Torii world address, and the chain id when wallet sign-in
    /// names one (one contract address can exist on several chains); without Torii, the chain
    /// id and the sign-in domain name; without either, none.
    pub fn token_world(&self) -> Option<String> {
        let world = self
            .torii
            .as_ref()
            .and_then(|t| t.world_address.parse::<realtime_core::Address>().ok())
            .map(|a| a.to_string());
        let starknet = self.auth.starknet.as_ref();
        match (world, starknet) {
            (Some(w), Some(s)) => Some(format!("{}:{w}", s.chain_id)),
            (Some(w), None) => Some(w),
            (None, Some(s)) => Some(format!("{}:{}", s.chain_id, s.domain_name)),
            (None, None) => None,
        }
    }

    /// The channel rules: `[channels]`, the group kinds of `[groups]`, `[auth] admins`,
    /// `[dm]`.
    pub fn channel_rules(&self) -> realtime_core::policy::ChannelRules {
        realtime_core::policy::ChannelRules {
            channels: self.channels.clone(),
            group_kinds: self.groups.keys().cloned().collect(),
            admins: self.auth.admins.clone(),
            dm: self.dm.clone(),
        }
    }

    /// The world rules, as the Torii follower takes them.
    pub fn world_rules(&self) -> WorldRules {
        WorldRules {
            players: self.players.clone(),
            groups: self.groups.clone(),
            positions: self.positions.clone(),
            feed: self.feed.clone(),
            announcements: self.announcements.clone(),
        }
    }

    /// The configuration as TOML with every secret replaced by `***`, for
    /// `config check --print`: inline secrets, passwords in URLs, and the path and query of
    /// the RPC and Torii URLs (hosted RPC providers put the API key there).
    pub fn to_redacted_toml(&self) -> String {
        const HIDDEN: &str = "***";
        let mut copy = self.clone();
        if copy.auth.session_secret.is_some() {
            copy.auth.session_secret = Some(HIDDEN.into());
        }
        for key in &mut copy.auth.keys {
            if key.secret.is_some() {
                key.secret = Some(HIDDEN.into());
            }
        }
        if let Some(x) = &mut copy.auth.external
            && x.secret.is_some()
        {
            x.secret = Some(HIDDEN.into());
        }
        if let Some(s) = &mut copy.auth.starknet {
            s.rpc_url = urls::redacted(&s.rpc_url, true);
        }
        if let Some(t) = &mut copy.torii {
            t.grpc_url = urls::redacted(&t.grpc_url, true);
        }
        copy.storage.url = urls::redacted(&copy.storage.url, false);
        copy.bus.url = urls::redacted(&copy.bus.url, false);
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
