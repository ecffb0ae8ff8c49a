//! The session secret: inline in the config, or in a file that is created with a random
//! secret on first start. Whatever its source, a secret shorter than [`MIN_SECRET_BYTES`] is
//! refused, and a created file appears whole or not at all.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::config::AuthConfig;

/// Shortest session secret accepted, from any source.
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret: inline, or from the file, which is created with a random secret when missing.
/// Whatever its source, a secret shorter than [`MIN_SECRET_BYTES`] is refused.
pub fn load_secret(config: &AuthConfig) -> Result<Vec<u8>, crate::token::KeyError> {
    if let Some(secret) = &config.session_secret {
        return Ok(checked(secret.as_bytes().to_vec(), "auth.session_secret")?);
    }
    let path = &config.session_secret_file;
    match read_secret_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_secret(path),
        other => other.map_err(|e| format!("auth.session_secret_file {}: {e}", path.display())),
    }
    .and_then(|secret| {
        checked(
            secret,
            &format!("auth.session_secret_file {}", path.display()),
        )
    })
    .map_err(crate::token::KeyError)
}

fn checked(secret: Vec<u8>, source: &str) -> Result<Vec<u8>, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{source}: the secret has {} bytes; it must have at least {MIN_SECRET_BYTES}",
            secret.len()
        ));
    }
    Ok(secret)
}

fn read_secret_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim().as_bytes().to_vec())
}

/// Writes a new random secret to a temporary file (mode 0600, synced), then links it into
/// place: the file appears whole or not at all, so a concurrent start or a crash never leaves
/// an empty or partial secret behind. When another process linked its secret first, that one
/// is used.
fn create_secret(path: &Path) -> Result<Vec<u8>, String> {
    let fail = |e: std::io::Error| format!("auth.session_secret_file {}: {e}", path.display());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let secret = realtime_core::address::hex_digits(&rand::random::<[u8; 32]>());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.{}.tmp",
        realtime_core::address::hex_digits(&rand::random::<[u8; 8]>())
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(secret.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(file = %path.display(), "created a new session secret");
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_secret_file(path).map_err(fail)
        }
        // A filesystem without hard links: create the file in place instead (not atomic, but
        // a partial secret is still refused by its length at the next start).
        Err(_) => {
            let mut file = options.open(path).map_err(fail)?;
            file.write_all(secret.as_bytes()).map_err(fail)?;
            file.sync_all().map_err(fail)?;
            tracing::info!(file = %path.display(), "created a new session secret");
            Ok(secret.into_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_starts_share_one_whole_secret() {
        let dir = std::env::temp_dir().join(format!("rt-race-{}", std::process::id()));
        for round in 0..20 {
            let config = AuthConfig {
                session_secret_file: dir.join(format!("{round}/session.key")),
                ..AuthConfig::default()
            };
            let secrets: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8).map(|_| s.spawn(|| load_secret(&config))).collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for s in &secrets {
                assert_eq!(s.as_ref().map(Vec::len), Ok(64), "round {round}");
                assert_eq!(s, &secrets[0], "round {round}: one secret for all");
            }
            let left: Vec<_> = std::fs::read_dir(dir.join(round.to_string()))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left.len(), 1, "no temporary file stays: {left:?}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn short_secrets_are_refused_from_every_source() {
        let dir = std::env::temp_dir().join(format!("rt-short-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("short.key");
        std::fs::write(&file, "  only-31-bytes-of-secret-here!!\n").unwrap();
        for config in [
            AuthConfig {
                session_secret: Some("x".repeat(31)),
                ..AuthConfig::default()
            },
            AuthConfig {
                session_secret_file: file.clone(),
                ..AuthConfig::default()
            },
        ] {
            let e = load_secret(&config).unwrap_err();
            assert!(e.0.contains("at least 32"), "{e}");
        }
        std::fs::write(&file, "").unwrap();
        let e = load_secret(&AuthConfig {
            session_secret_file: file,
            ..AuthConfig::default()
        })
        .unwrap_err();
        assert!(e.0.contains("has 0 bytes"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secret_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("rt-secret-{}", std::process::id()));
        let config = AuthConfig {
            session_secret_file: dir.join("nested/session.key"),
            ..AuthConfig::default()
        };
        let first = load_secret(&config).unwrap();
        let second = load_secret(&config).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.session_secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
