//! The maintained profanity list (`rustrict`), which sees through spacing, repeated letters,
//! look-alike characters and self-censoring ("f*ck"). Matches are the characters the list
//! would censor, mapped back onto the original text so masking keeps the rest of it as
//! written (the list's own output drops accents).

use rustrict::{Censor, Type};

use super::ProfanityLevel;

fn threshold(level: ProfanityLevel) -> Type {
    let kinds = Type::PROFANE | Type::OFFENSIVE | Type::SEXUAL | Type::MEAN;
    match level {
        ProfanityLevel::Mild => kinds & Type::MILD_OR_HIGHER,
        ProfanityLevel::Moderate => kinds & Type::MODERATE_OR_HIGHER,
        ProfanityLevel::Severe => kinds & Type::SEVERE,
    }
}

/// Byte ranges of `text` the list finds at `level` or above.
pub(super) fn find(text: &str, level: ProfanityLevel) -> Vec<(usize, usize)> {
    let threshold = threshold(level);
    let (censored, analysis) = Censor::from_str(text)
        .with_censor_threshold(threshold)
        .with_censor_first_character_threshold(threshold)
        .with_censor_replacement('*')
        .censor_and_analyze();
    if !analysis.is(threshold) {
        return Vec::new();
    }
    let original: Vec<(usize, char)> = text.char_indices().collect();
    let out: Vec<char> = censored.chars().collect();
    if out.len() != original.len() {
        // The list rewrote the text beyond recognition: the whole text matches.
        return vec![(0, text.len())];
    }
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, (at, c)) in original.iter().enumerate() {
        if out[i] == '*' && *c != '*' {
            let end = at + c.len_utf8();
            match spans.last_mut() {
                Some(last) if last.1 == *at => last.1 = end,
                _ => spans.push((*at, end)),
            }
        }
    }
    if spans.is_empty() {
        spans.push((0, text.len()));
    }
    spans
}
