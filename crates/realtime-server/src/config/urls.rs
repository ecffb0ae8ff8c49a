//! How URLs of the configuration are printed without the secrets they can carry.

use url::Url;

/// `url` with its password, query and fragment replaced by `***`; with `hide_path`, its path
/// too (hosted RPC providers put the API key in it). A string that is not a URL is hidden
/// whole, since it cannot be told apart from a secret.
pub fn redacted(url: &str, hide_path: bool) -> String {
    const HIDDEN: &str = "***";
    // `sqlite://./data/x.db` carries no secret, and `Url` would read `.` as its host.
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let Ok(mut u) = Url::parse(url) else {
        return HIDDEN.to_owned();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some(HIDDEN));
    }
    if u.query().is_some() {
        u.set_query(Some(HIDDEN));
    }
    if u.fragment().is_some() {
        u.set_fragment(Some(HIDDEN));
    }
    if hide_path && !matches!(u.path(), "" | "/") {
        u.set_path(HIDDEN);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_hidden() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/chat?sslpassword=x", false),
            "postgres://app:***@db:5432/chat?***"
        );
        assert_eq!(
            redacted("https://rpc.example/starknet/v0_8/KEY123", true),
            "https://rpc.example/***"
        );
        assert_eq!(
            redacted("https://rpc.example/rpc?apikey=KEY", true),
            "https://rpc.example/***?***"
        );
        assert_eq!(
            redacted("http://127.0.0.1:50051", true),
            "http://127.0.0.1:50051/"
        );
        assert_eq!(
            redacted("sqlite://./data/x.db", false),
            "sqlite://./data/x.db"
        );
        assert_eq!(redacted("not a url with KEY", true), "***");
    }
}
