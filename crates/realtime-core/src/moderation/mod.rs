//! Content rules: what a world refuses, masks or holds for review in what players write
//! (messages, direct messages where the world enables it, and notes). Rules are configured
//! once (`[[moderation.rules]]`), compiled at start, and applied as a pure function of the
//! text and where it is written, so every rule is tested as a table.
//!
//! A rule matches one of: a word list (whole words, any case), a regular expression, links
//! (any URL whose host is not allowed), or the maintained profanity list (feature
//! `profanity`). It says what happens on a match: `reject` (the sender is told which rule),
//! `mask` (the matched text is replaced by `*`), or `hold` (the text waits for a moderator).
//! Every rule looks at the text as written; when several match, the strongest action wins
//! (reject, then hold, then mask), whatever their order, and every mask is applied to the
//! text that goes on.

mod links;
#[cfg(feature = "profanity")]
mod profanity;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::ChannelName;

/// The pseudo channel notes are screened under, in a rule's `channels`.
pub const NOTES_SCOPE: &str = "notes";

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Replace the matched text with `*` and let it through.
    Mask,
    /// Store it aside for a moderator, who publishes or drops it.
    Hold,
    /// Refuse it; the sender is told which rule.
    Reject,
}

/// How strict the profanity list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfanityLevel {
    /// Mild words and up.
    Mild,
    /// Moderate words and up (the common setting).
    Moderate,
    /// Only the severe ones.
    Severe,
}

/// Whether a rule matches links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPolicy {
    /// Any link whose host is not in `allow_domains` matches.
    Deny,
}

/// One `[[moderation.rules]]` entry, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Named in refusals, in held messages and in the audit log.
    pub name: String,
    /// Whole words or phrases, matched in any case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    /// A regular expression (Rust syntax); `(?i)` makes it case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `"deny"`: links to hosts outside `allow_domains` match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<LinkPolicy>,
    /// Hosts (and their subdomains) links may point to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_domains: Vec<String>,
    /// The maintained profanity list, at this level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profanity: Option<ProfanityLevel>,
    pub action: RuleAction,
    /// Where the rule applies: channel names (`world`), channel kinds (`guild`, `dm`) or
    /// `notes`. Empty: everywhere (direct messages only when `[moderation] screen_dms`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// What the sender is told on `reject` instead of the default sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a text is written.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// A message in a channel (direct-message threads included).
    Channel(&'a ChannelName),
    /// A note on a tile.
    Note,
}

/// What the rules decided about a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing matched: the text as written.
    Allow,
    /// Only mask rules matched: the masked text, and the rules.
    Mask { text: String, rules: Vec<String> },
    /// Held for review by `rule`; `text` is masked by any mask rules that matched too.
    Hold { text: String, rule: String },
    /// Refused by `rule`, with what to tell the sender.
    Reject { rule: String, message: String },
}

/// Why a rule cannot be compiled; names the rule's index and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub key: String,
    pub reason: String,
}

enum Matcher {
    Pattern(Regex),
    Links(links::Links),
    #[cfg(feature = "profanity")]
    Profanity(ProfanityLevel),
}

struct Rule {
    name: String,
    matcher: Matcher,
    action: RuleAction,
    channels: Vec<String>,
    message: Option<String>,
}

/// The compiled rules of a world.
#[derive(Default)]
pub struct ContentRules {
    rules: Vec<Rule>,
    screen_dms: bool,
}

impl std::fmt::Debug for ContentRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        f.debug_struct("ContentRules")
            .field("rules", &names)
            .field("screen_dms", &self.screen_dms)
            .finish()
    }
}

/// Longest regular expression accepted, in bytes, and the compiled size allowed: a rule
/// runs on every message.
const MAX_PATTERN: usize = 4096;
const MAX_COMPILED: usize = 1 << 20;

impl ContentRules {
    /// Compiles `configs`; `screen_dms` lets rules without `channels` apply to direct
    /// messages (a rule naming `dm` applies to them regardless).
    pub fn compile(configs: &[RuleConfig], screen_dms: bool) -> Result<Self, RuleError> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let fail = |key: &str, reason: String| RuleError {
                key: format!("moderation.rules[{i}].{key}"),
                reason,
            };
            if c.name.trim().is_empty() || c.name.len() > 64 {
                return Err(fail("name", "1 to 64 characters".into()));
            }
            if configs[..i].iter().any(|o| o.name == c.name) {
                return Err(fail("name", format!("{:?} is used twice", c.name)));
            }
            let kinds = usize::from(!c.words.is_empty())
                + usize::from(c.regex.is_some())
                + usize::from(c.links.is_some())
                + usize::from(c.profanity.is_some());
            if kinds != 1 {
                return Err(fail(
                    "words",
                    "give exactly one of words, regex, links or profanity".into(),
                ));
            }
            if !c.allow_domains.is_empty() && c.links.is_none() {
                return Err(fail("allow_domains", "only for links = \"deny\"".into()));
            }
            let matcher = if !c.words.is_empty() {
                Matcher::Pattern(words_pattern(&c.words).map_err(|r| fail("words", r))?)
            } else if let Some(pattern) = &c.regex {
                Matcher::Pattern(compile(pattern).map_err(|r| fail("regex", r))?)
            } else if c.links.is_some() {
                Matcher::Links(
                    links::Links::new(&c.allow_domains).map_err(|r| fail("allow_domains", r))?,
                )
            } else {
                profanity_matcher(c.profanity).map_err(|r| fail("profanity", r))?
            };
            for name in &c.channels {
                if name != NOTES_SCOPE && ChannelName::new(name).is_err() {
                    return Err(fail(
                        "channels",
                        format!("{name:?} is not a channel name, a kind or \"notes\""),
                    ));
                }
            }
            rules.push(Rule {
                name: c.name.clone(),
                matcher,
                action: c.action,
                channels: c.channels.clone(),
                message: c.message.clone(),
            });
        }
        Ok(Self { rules, screen_dms })
    }

    /// Whether there is any rule (the common case without moderation costs nothing).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule that covers `place` to `text`. Every rule looks at the text as
    /// written, so the order of the rules does not matter: a reject or hold rule sees a word
    /// a mask rule also masks.
    pub fn screen(&self, text: &str, place: Place<'_>) -> Verdict {
        let mut masks: Vec<(usize, usize)> = Vec::new();
        let mut masked = Vec::new();
        let mut hold: Option<&Rule> = None;
        let mut reject: Option<&Rule> = None;
        for rule in self
            .rules
            .iter()
            .filter(|r| r.covers(place, self.screen_dms))
        {
            let spans = rule.matcher.find(text);
            if spans.is_empty() {
                continue;
            }
            match rule.action {
                RuleAction::Reject => {
                    reject.get_or_insert(rule);
                }
                RuleAction::Hold => {
                    hold.get_or_insert(rule);
                }
                RuleAction::Mask => {
                    masks.extend(spans);
                    masked.push(rule.name.clone());
                }
            }
        }
        if let Some(rule) = reject {
            let message = rule
                .message
                .clone()
                .unwrap_or_else(|| format!("refused by the rule {:?} of this world", rule.name));
            return Verdict::Reject {
                rule: rule.name.clone(),
                message,
            };
        }
        let current = if masks.is_empty() {
            text.to_owned()
        } else {
            mask(text, &masks)
        };
        match (hold, masked.is_empty()) {
            (Some(rule), _) => Verdict::Hold {
                text: current,
                rule: rule.name.clone(),
            },
            (None, false) => Verdict::Mask {
                text: current,
                rules: masked,
            },
            (None, true) => Verdict::Allow,
        }
    }
}

impl Rule {
    fn covers(&self, place: Place<'_>, screen_dms: bool) -> bool {
        match place {
            Place::Note => {
                self.channels.is_empty() || self.channels.iter().any(|c| c == NOTES_SCOPE)
            }
            Place::Channel(channel) => {
                let kind = channel.kind();
                if self.channels.is_empty() {
                    return kind != crate::dm::DM_KIND || screen_dms;
                }
                self.channels
                    .iter()
                    .any(|c| c == channel.as_str() || c == kind)
            }
        }
    }
}

impl Matcher {
    /// Byte ranges of `text` that match.
    fn find(&self, text: &str) -> Vec<(usize, usize)> {
        match self {
            Matcher::Pattern(re) => re.find_iter(text).map(|m| (m.start(), m.end())).collect(),
            Matcher::Links(links) => links.find(text),
            #[cfg(feature = "profanity")]
            Matcher::Profanity(level) => profanity::find(text, *level),
        }
    }
}

#[cfg(feature = "profanity")]
fn profanity_matcher(level: Option<ProfanityLevel>) -> Result<Matcher, String> {
    Ok(Matcher::Profanity(
        level.unwrap_or(ProfanityLevel::Moderate),
    ))
}

#[cfg(not(feature = "profanity"))]
fn profanity_matcher(_: Option<ProfanityLevel>) -> Result<Matcher, String> {
    Err("this build has no profanity list".into())
}

fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_PATTERN {
        return Err(format!("at most {MAX_PATTERN} bytes"));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_COMPILED)
        .build()
        .map_err(|e| e.to_string())
}

/// One expression for a word list: each entry whole (not inside a longer word), any case,
/// with any run of spaces between the words of a phrase. A word boundary is required only on
/// a side where the entry begins or ends with a letter or digit, so `$$$` still matches.
fn words_pattern(words: &[String]) -> Result<Regex, String> {
    let mut alternatives = Vec::with_capacity(words.len());
    for w in words {
        let parts: Vec<String> = w.split_whitespace().map(regex::escape).collect();
        let (Some(first), Some(last)) = (w.trim().chars().next(), w.trim().chars().last()) else {
            return Err("an entry is blank".into());
        };
        let edge = |c: char| {
            if c.is_alphanumeric() || c == '_' {
                r"\b"
            } else {
                ""
            }
        };
        alternatives.push(format!(
            "{}{}{}",
            edge(first),
            parts.join(r"\s+"),
            edge(last)
        ));
    }
    compile(&format!("(?i)(?:{})", alternatives.join("|")))
}

/// `text` with each byte range replaced by one `*` per character (spaces kept); ranges of
/// several rules may overlap.
fn mask(text: &str, spans: &[(usize, usize)]) -> String {
    let mut sorted: Vec<(usize, usize)> = spans
        .iter()
        .copied()
        .filter(|(s, e)| s < e && *e <= text.len())
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in merged {
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        out.push_str(&text[at..start]);
        out.extend(
            text[start..end]
                .chars()
                .map(|c| if c.is_whitespace() { c } else { '*' }),
        );
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
