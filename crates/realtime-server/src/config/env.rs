//! Environment overrides. `TORII_REALTIME__STORAGE__URL=postgres://…` sets `storage.url`:
//! the prefix `TORII_REALTIME__`, then the key path in upper case with `__` between
//! sections. A value is read as a TOML literal when it is one (`true`, `8`, `1.5`,
//! `["a", "b"]`, `"quoted"`), otherwise as a plain string. A key that expects a string gets
//! the raw text even when it looks like a number.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::ConfigError;

/// The prefix of override variables.
pub const PREFIX: &str = "TORII_REALTIME__";

/// One applied override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The variable's name.
    pub var: String,
    /// Its value as written.
    pub raw: String,
}

/// Key path → the override that set it.
pub type Overrides = BTreeMap<String, Override>;

/// Applies overrides from `vars` to `table`.
pub fn overlay(
    table: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Overrides, ConfigError> {
    let mut applied = BTreeMap::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                reason: format!("expected {PREFIX}SECTION__KEY"),
            });
        }
        set(table, &path, literal(&raw)).map_err(|reason| ConfigError::Env {
            var: var.clone(),
            reason,
        })?;
        applied.insert(path.join("."), Override { var, raw });
    }
    Ok(applied)
}

fn literal(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.into())),
        Err(_) => Value::String(raw.into()),
    }
}

fn set(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for (i, part) in parents.iter().enumerate() {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            _ => return Err(format!("`{}` is not a section", path[..=i].join("."))),
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn get_mut<'a>(table: &'a mut Table, path: &str) -> Option<&'a mut Value> {
    let mut parts = path.split('.').peekable();
    let mut current = table;
    while let Some(part) = parts.next() {
        let value = current.get_mut(part)?;
        if parts.peek().is_none() {
            return Some(value);
        }
        current = value.as_table_mut()?;
    }
    None
}

/// Deserialises the merged table, naming the key of any error. An override that was read
/// as a number or boolean where a string is expected is retried as the raw string.
pub fn deserialize<T: DeserializeOwned>(
    mut table: Table,
    overrides: &Overrides,
    file: Option<&str>,
) -> Result<T, ConfigError> {
    // Each retry turns one more override into a string; bounded by their number.
    for _ in 0..=overrides.len() {
        let result: Result<T, _> = serde_path_to_error::deserialize(Value::Table(table.clone()));
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        // Array elements are reported as `key[0]`; the override is on `key`.
        let path = err.path().to_string();
        let key = path.split('[').next().unwrap_or(&path).to_owned();
        let reason = err.inner().message().to_owned();
        let retried = overrides.contains_key(&key)
            && reason.contains("expected a string")
            && match get_mut(&mut table, &key) {
                Some(v) if !v.is_str() => {
                    *v = Value::String(overrides[&key].raw.clone());
                    true
                }
                _ => false,
            };
        if !retried {
            return Err(ConfigError::invalid(file, overrides, &path, reason));
        }
    }
    Err(ConfigError::Invalid {
        origin: "environment".into(),
        key: String::new(),
        reason: "overrides could not be applied".into(),
    })
}
