//! URL rules of the configuration: which endpoints may be spoken to without TLS, and how
//! URLs are printed without the secrets they can carry.

use url::{Host, Url};

/// Whether `url` is `https://`, or `http://` to this very host: `localhost` exactly, an
/// address in 127.0.0.0/8, or `[::1]`. The host is parsed, so `localhost.evil.tld`,
/// `localhost@evil.tld` (a user name before another host) and `127.0.0.1.nip.io` are not
/// local.
pub fn is_https_or_local_http(url: &str) -> bool {
    let Ok(u) = Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

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
    fn plain_http_only_to_this_host() {
        for ok in [
            "https://rpc.example/v0_8",
            "http://localhost:5050",
            "http://LOCALHOST:5050/rpc",
            "http://127.0.0.1:5050",
            "http://127.8.9.10/",
            "http://[::1]:5050",
        ] {
            assert!(is_https_or_local_http(ok), "{ok}");
        }
        for refused in [
            "http://localhost.evil.tld/rpc",
            "http://localhost@evil.tld/rpc",
            "http://127.0.0.1@evil.tld/",
            "http://127.0.0.1.nip.io/",
            "http://localhostx:80",
            "http://10.0.0.1:5050",
            "http://[::2]/",
            "ftp://localhost/",
            "localhost:5050",
            "https://",
        ] {
            assert!(!is_https_or_local_http(refused), "{refused}");
        }
    }

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
