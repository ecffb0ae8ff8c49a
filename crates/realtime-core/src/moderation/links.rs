//! Links in text, for `links = "deny"` rules: URLs with a scheme (`https://…`), hosts
//! starting with `www.`, and bare domains on the top-level domains spam favours
//! (`claim-airdrop.xyz`). A link whose host is an allowed domain, or a subdomain of one,
//! does not match.

use regex::Regex;

/// Top-level domains recognised without a scheme: common ones and those link spam uses.
const BARE_TLDS: &str = "com|net|org|io|gg|xyz|app|dev|co|me|ly|link|site|online|live|fun|\
     top|club|info|biz|ru|cn|tk|ml|ga|cf|finance|money|claims?|gift|icu|vip|shop|pro|to";

pub(super) struct Links {
    pattern: Regex,
    allow: Vec<String>,
}

impl Links {
    pub(super) fn new(allow: &[String]) -> Result<Self, String> {
        let mut domains = Vec::with_capacity(allow.len());
        for d in allow {
            let d = d.trim().trim_start_matches("*.").to_ascii_lowercase();
            if d.is_empty() || d.contains(['/', ' ', ':']) {
                return Err(format!("{d:?} is not a domain like \"example.com\""));
            }
            domains.push(d);
        }
        let pattern = Regex::new(&format!(
            r"(?i)\b(?:[a-z][a-z0-9+.\-]*://([^\s/?#<>]+)|(www\.[^\s/?#<>]+)|((?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:{BARE_TLDS}))\b)[^\s<>]*"
        ))
        .map_err(|e| e.to_string())?;
        Ok(Self {
            pattern,
            allow: domains,
        })
    }

    /// Byte ranges of the links of `text` to hosts that are not allowed.
    pub(super) fn find(&self, text: &str) -> Vec<(usize, usize)> {
        self.pattern
            .captures_iter(text)
            .filter_map(|c| {
                let whole = c.get(0)?;
                let host = c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3))?.as_str();
                (!self.allowed(host)).then_some((whole.start(), whole.end()))
            })
            .collect()
    }

    fn allowed(&self, authority: &str) -> bool {
        // user:password@host:port → host
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = host.split(':').next().unwrap_or(host);
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    }
}
