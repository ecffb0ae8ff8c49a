use super::*;

fn rule(name: &str, action: RuleAction) -> RuleConfig {
    RuleConfig {
        name: name.into(),
        words: Vec::new(),
        regex: None,
        links: None,
        allow_domains: Vec::new(),
        profanity: None,
        action,
        channels: Vec::new(),
        message: None,
    }
}

fn words(name: &str, list: &[&str], action: RuleAction) -> RuleConfig {
    RuleConfig {
        words: list.iter().map(|w| (*w).to_owned()).collect(),
        ..rule(name, action)
    }
}

fn channel(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn screen(rules: &[RuleConfig], text: &str, at: &str) -> Verdict {
    let compiled = ContentRules::compile(rules, false).unwrap();
    compiled.screen(text, Place::Channel(&channel(at)))
}

#[test]
fn word_lists_match_whole_words_in_any_case_and_mask_them() {
    let rules = [words(
        "rude",
        &["heck", "free nft", "$$$"],
        RuleAction::Mask,
    )];
    for (text, expected) in [
        ("oh HECK no", Some("oh **** no")),
        ("checking the map", None),
        ("get a FREE   nft now", Some("get a ****   *** now")),
        ("make $$$ fast", Some("make *** fast")),
        ("hecks", None),
    ] {
        match (screen(&rules, text, "world"), expected) {
            (
                Verdict::Mask {
                    text: masked,
                    rules,
                },
                Some(want),
            ) => {
                assert_eq!(masked, want, "{text}");
                assert_eq!(rules, ["rude"]);
            }
            (Verdict::Allow, None) => {}
            (other, _) => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn the_strongest_action_wins_and_masks_still_apply_to_held_text() {
    let rules = [
        words("rude", &["heck"], RuleAction::Mask),
        words("scam", &["airdrop"], RuleAction::Hold),
        RuleConfig {
            regex: Some(r"(?i)seed\s*phrase".into()),
            message: Some("never share a seed phrase".into()),
            ..rule("seed", RuleAction::Reject)
        },
    ];
    assert_eq!(
        screen(&rules, "heck, an airdrop", "world"),
        Verdict::Hold {
            text: "****, an airdrop".into(),
            rule: "scam".into()
        }
    );
    assert_eq!(
        screen(&rules, "airdrop: send your Seed Phrase", "world"),
        Verdict::Reject {
            rule: "seed".into(),
            message: "never share a seed phrase".into()
        }
    );
    assert_eq!(screen(&rules, "hello there", "world"), Verdict::Allow);
}

#[test]
fn links_outside_the_allowed_domains_match() {
    let rules = [RuleConfig {
        links: Some(LinkPolicy::Deny),
        allow_domains: vec!["realms.world".into()],
        ..rule("links", RuleAction::Reject)
    }];
    for (text, refused) in [
        ("see https://evil.example/claim?x=1", true),
        ("go to www.phish.io now", true),
        ("claim at free-airdrop.xyz today", true),
        ("https://user:pw@evil.com:8080/x", true),
        ("map at https://eternum.realms.world/map", false),
        ("https://realms.world", false),
        ("meet at 10.5 past noon", false),
        ("no links here.", false),
    ] {
        let verdict = screen(&rules, text, "world");
        assert_eq!(
            matches!(verdict, Verdict::Reject { .. }),
            refused,
            "{text}: {verdict:?}"
        );
    }
}

#[test]
fn rules_apply_where_they_say_and_direct_messages_only_when_enabled() {
    let scoped = [RuleConfig {
        channels: vec!["guild".into(), "notes".into()],
        ..words("scoped", &["heck"], RuleAction::Reject)
    }];
    assert!(matches!(
        screen(&scoped, "heck", "guild:0x1"),
        Verdict::Reject { .. }
    ));
    assert_eq!(screen(&scoped, "heck", "world"), Verdict::Allow);
    let compiled = ContentRules::compile(&scoped, false).unwrap();
    assert!(matches!(
        compiled.screen("heck", Place::Note),
        Verdict::Reject { .. }
    ));

    let everywhere = [words("all", &["heck"], RuleAction::Reject)];
    let dm = "dm:0x1:0x2";
    assert_eq!(screen(&everywhere, "heck", dm), Verdict::Allow);
    let screened = ContentRules::compile(&everywhere, true).unwrap();
    assert!(matches!(
        screened.screen("heck", Place::Channel(&channel(dm))),
        Verdict::Reject { .. }
    ));
    let naming_dm = [RuleConfig {
        channels: vec!["dm".into()],
        ..words("dm", &["heck"], RuleAction::Reject)
    }];
    assert!(matches!(
        screen(&naming_dm, "heck", dm),
        Verdict::Reject { .. }
    ));
}

#[test]
fn rules_that_cannot_work_are_refused_with_their_key() {
    let bad = [
        (rule("empty", RuleAction::Mask), "moderation.rules[0].words"),
        (
            RuleConfig {
                regex: Some("(unclosed".into()),
                ..rule("re", RuleAction::Mask)
            },
            "moderation.rules[0].regex",
        ),
        (
            RuleConfig {
                regex: Some("x".into()),
                ..words("two", &["y"], RuleAction::Mask)
            },
            "moderation.rules[0].words",
        ),
        (
            RuleConfig {
                channels: vec!["Not A Channel".into()],
                ..words("c", &["y"], RuleAction::Mask)
            },
            "moderation.rules[0].channels",
        ),
        (
            RuleConfig {
                allow_domains: vec!["a.com".into()],
                ..words("d", &["y"], RuleAction::Mask)
            },
            "moderation.rules[0].allow_domains",
        ),
    ];
    for (config, key) in bad {
        let e = ContentRules::compile(&[config], false).unwrap_err();
        assert_eq!(e.key, key, "{}", e.reason);
    }
    let twice = [
        words("same", &["a"], RuleAction::Mask),
        words("same", &["b"], RuleAction::Mask),
    ];
    assert_eq!(
        ContentRules::compile(&twice, false).unwrap_err().key,
        "moderation.rules[1].name"
    );
}

#[cfg(feature = "profanity")]
#[test]
fn the_profanity_list_masks_only_what_it_finds_and_sees_through_spacing() {
    let rules = [RuleConfig {
        profanity: Some(ProfanityLevel::Moderate),
        ..rule("profanity", RuleAction::Mask)
    }];
    match screen(&rules, "héllo you shit", "world") {
        Verdict::Mask { text, .. } => {
            assert!(text.starts_with("héllo you "), "accents kept: {text}");
            assert!(!text.contains("shit"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        screen(&rules, "f u c k", "world"),
        Verdict::Mask { .. }
    ));
    assert_eq!(
        screen(&rules, "an assassin pushed it", "world"),
        Verdict::Allow
    );
}

#[test]
fn the_order_of_rules_does_not_change_the_verdict() {
    let mask = words("mask", &["airdrop", "free"], RuleAction::Mask);
    let reject = words("reject", &["airdrop"], RuleAction::Reject);
    let overlapping = words("phrase", &["free airdrop"], RuleAction::Mask);
    for rules in [[mask.clone(), reject.clone()], [reject, mask.clone()]] {
        assert!(
            matches!(
                screen(&rules, "free airdrop", "world"),
                Verdict::Reject { .. }
            ),
            "{:?}",
            rules.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
    }
    // Masks of several rules may overlap.
    match screen(&[mask, overlapping], "a free airdrop!", "world") {
        Verdict::Mask { text, rules } => {
            assert_eq!(text, "a **** *******!");
            assert_eq!(rules, ["mask", "phrase"]);
        }
        other => panic!("{other:?}"),
    }
}
