//! Chain announcements: `[[announcements]]` rules turn on-chain changes (an entity created,
//! deleted, or changing owner) into lines of text for channels. A rule names its model, its
//! trigger, where the line goes (fixed channels, and/or the group channels of the new or
//! previous owner), and a template over the model's fields and the projection's names.
//!
//! Template placeholders, in braces:
//! - `{path}`: a field of the model (dotted path), as Torii sends it (hex felts, decimals);
//! - `{path:text}`: a felt field read as a Cairo short string (names, titles);
//! - `{owner}`, `{previous_owner}`: addresses, short hex;
//! - `{owner:name}`, `{previous_owner:name}`: the player's name (`[players] name`), or the
//!   short address when it has none;
//! - `{x}`, `{y}`: the entity's tile.
//!
//! `{{` and `}}` write braces.

use serde::{Deserialize, Serialize};

use realtime_core::Address;
use realtime_core::hex::Tile;

use crate::value::{Record, Scalar};

/// What makes a rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The model appears on an entity that did not have it.
    Created,
    /// The model is removed from an entity.
    Deleted,
    /// The entity's owner (by its `[[positions]]` rule) changes from one player to another.
    OwnerChanged,
}

/// Whose groups a rule posts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Owner,
    PreviousOwner,
}

/// `[[announcements]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementRule {
    /// Names the rule in logs and in the announcement's client message id.
    pub name: String,
    pub model: String,
    pub on: Trigger,
    /// Channels every announcement of the rule goes to.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Also the group channels (kind `group`) of these parties.
    #[serde(default)]
    pub groups_of: Vec<Party>,
    /// The group kind for `groups_of`.
    #[serde(default)]
    pub group: Option<String>,
    /// The line, with placeholders.
    pub text: String,
}

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
    FieldText(String),
    Party(Party),
    PartyName(Party),
    X,
    Y,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

/// What a template is filled with.
#[allow(missing_debug_implementations)]
pub struct Context<'a> {
    pub record: Option<&'a Record>,
    pub owner: Option<Address>,
    pub previous_owner: Option<Address>,
    pub tile: Option<Tile>,
    /// A player's name, when the players rule names one.
    pub name_of: &'a dyn Fn(Address) -> Option<String>,
}

impl Template {
    /// Parses `text`; an error names the problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err("a lone '}' (write '}}' for a brace)".into()),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(format!("'{{{inner}' is not closed")),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(&inner)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self(parts))
    }

    /// The model fields the template reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Field(f) | Part::FieldText(f) => Some(f.as_str()),
            _ => None,
        })
    }

    /// Whether the template mentions the owners (which need a `[[positions]]` rule).
    pub fn uses_owner(&self) -> bool {
        self.0
            .iter()
            .any(|p| matches!(p, Part::Party(_) | Part::PartyName(_) | Part::X | Part::Y))
    }

    /// The line for `ctx`; what is missing renders as `?`.
    pub fn render(&self, ctx: &Context<'_>) -> String {
        let mut out = String::new();
        let party = |p: &Party| match p {
            Party::Owner => ctx.owner,
            Party::PreviousOwner => ctx.previous_owner,
        };
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => out.push_str(
                    &ctx.record
                        .and_then(|r| r.get(f))
                        .map_or_else(|| "?".into(), plain),
                ),
                Part::FieldText(f) => out.push_str(
                    &ctx.record
                        .and_then(|r| r.get(f))
                        .map_or_else(|| "?".into(), short_string),
                ),
                Part::Party(p) => {
                    out.push_str(&party(p).map_or_else(|| "?".into(), |a| a.to_short_hex()));
                }
                Part::PartyName(p) => out.push_str(&party(p).map_or_else(
                    || "?".into(),
                    |a| (ctx.name_of)(a).unwrap_or_else(|| a.to_short_hex()),
                )),
                Part::X => out.push_str(&ctx.tile.map_or_else(|| "?".into(), |t| t.x.to_string())),
                Part::Y => out.push_str(&ctx.tile.map_or_else(|| "?".into(), |t| t.y.to_string())),
            }
        }
        out
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    let (name, filter) = match inner.split_once(':') {
        Some((n, f)) => (n.trim(), Some(f.trim())),
        None => (inner.trim(), None),
    };
    if name.is_empty() {
        return Err("an empty placeholder '{}'".into());
    }
    let party = match name {
        "owner" => Some(Party::Owner),
        "previous_owner" => Some(Party::PreviousOwner),
        _ => None,
    };
    Ok(match (party, filter) {
        (Some(p), None) => Part::Party(p),
        (Some(p), Some("name")) => Part::PartyName(p),
        (None, None) if name == "x" => Part::X,
        (None, None) if name == "y" => Part::Y,
        (None, None) => Part::Field(name.to_owned()),
        (None, Some("text")) => Part::FieldText(name.to_owned()),
        (_, Some(other)) => {
            return Err(format!(
                "unknown filter ':{other}' in '{{{inner}}}' (use :text on a field, :name on owner or previous_owner)"
            ));
        }
    })
}

/// A value as text: numbers in decimal, felts in short hex.
fn plain(v: &Scalar) -> String {
    match v.to_json() {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A felt read as a Cairo short string (up to 31 ASCII characters), or its hex when it is
/// not printable text.
pub fn short_string(v: &Scalar) -> String {
    let Some(bytes) = v.as_number() else {
        return plain(v);
    };
    let text: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    match String::from_utf8(text) {
        Ok(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() || c == ' ') => s,
        _ => v.canonical(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn felt_text(s: &str) -> Scalar {
        let mut b = [0u8; 32];
        b[32 - s.len()..].copy_from_slice(s.as_bytes());
        Scalar::Felt(b)
    }

    #[test]
    fn templates_fill_fields_names_and_tiles() {
        let t = Template::parse(
            "{owner:name} took #{entity_id} at ({x}, {y}) from {previous_owner:name} ({previous_owner}) {{ok}}",
        )
        .unwrap();
        assert_eq!(t.fields().collect::<Vec<_>>(), vec!["entity_id"]);
        assert!(t.uses_owner());
        let mut record = Record::new();
        record.insert("entity_id".into(), Scalar::UInt(7));
        let a: Address = "0xa".parse().unwrap();
        let b: Address = "0xb".parse().unwrap();
        let names = |who: Address| (who == a).then(|| "Alice".to_owned());
        let line = t.render(&Context {
            record: Some(&record),
            owner: Some(a),
            previous_owner: Some(b),
            tile: Some(Tile::new(3, 4)),
            name_of: &names,
        });
        assert_eq!(line, "Alice took #7 at (3, 4) from 0xb (0xb) {ok}");
    }

    #[test]
    fn short_strings_decode_and_fall_back_to_hex() {
        assert_eq!(short_string(&felt_text("Lord of Loot")), "Lord of Loot");
        let mut b = [0u8; 32];
        b[31] = 0x07;
        assert_eq!(short_string(&Scalar::Felt(b)), "0x7");
        let t = Template::parse("welcome {name:text}!").unwrap();
        let mut record = Record::new();
        record.insert("name".into(), felt_text("bob"));
        let none = |_: Address| None;
        let ctx = Context {
            record: Some(&record),
            owner: None,
            previous_owner: None,
            tile: None,
            name_of: &none,
        };
        assert_eq!(t.render(&ctx), "welcome bob!");
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for (text, why) in [
            ("{owner", "not closed"),
            ("a } b", "lone"),
            ("{}", "empty"),
            ("{owner:text}", "unknown filter"),
            ("{name:upper}", "unknown filter"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
