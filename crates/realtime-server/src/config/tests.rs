use std::path::Path;

use super::*;

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rt-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn no_file_means_the_documented_defaults() {
    let loaded = Config::load_with_env(None, vars(&[])).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.config.server.listen.to_string(), "127.0.0.1:8090");
    assert_eq!(loaded.config.storage.url, "sqlite://./data/realtime.db");
    assert!(!loaded.config.auth.dev_tokens);
    assert!(!loaded.config.server.demo);
}

#[test]
fn the_demo_page_is_switched_on_explicitly() {
    let loaded =
        Config::load_with_env(None, vars(&[("TORII_REALTIME__SERVER__DEMO", "true")])).unwrap();
    assert!(loaded.config.server.demo);
    let file = write("demo.toml", "[server]\ndemo = true\n");
    assert!(
        Config::load_with_env(Some(&file), vars(&[]))
            .unwrap()
            .config
            .server
            .demo
    );
}

#[test]
fn the_example_file_states_exactly_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/realtime.example.toml");
    let loaded = Config::load_with_env(Some(&example), vars(&[])).unwrap();
    assert_eq!(loaded.config, Config::default());
}

#[test]
fn environment_overrides_follow_one_rule() {
    let loaded = Config::load_with_env(
        None,
        vars(&[
            ("TORII_REALTIME__STORAGE__URL", "postgres://u:p@db/chat"),
            ("TORII_REALTIME__LIMITS__MAX_MESSAGE_CHARS", "500"),
            ("TORII_REALTIME__AUTH__DEV_TOKENS", "true"),
            (
                "TORII_REALTIME__SERVER__CORS_ORIGINS",
                "[\"https://a.example\"]",
            ),
            ("TORII_REALTIME__SERVER__PING_INTERVAL", "5s"),
            // A string key given digits keeps them as a string.
            (
                "TORII_REALTIME__AUTH__SESSION_SECRET",
                "123456789012345678901234567890123",
            ),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.storage.url, "postgres://u:p@db/chat");
    assert_eq!(c.limits.max_message_chars, 500);
    assert!(c.auth.dev_tokens);
    assert_eq!(c.server.cors_origins, vec!["https://a.example".to_string()]);
    assert_eq!(c.server.ping_interval, std::time::Duration::from_secs(5));
    assert_eq!(
        c.auth.session_secret.as_deref(),
        Some("123456789012345678901234567890123")
    );
    assert_eq!(loaded.env_overrides.len(), 6);
}

#[test]
fn the_bus_is_chosen_from_the_environment_too() {
    let loaded = Config::load_with_env(
        None,
        vars(&[
            ("TORII_REALTIME__BUS__KIND", "redis"),
            ("TORII_REALTIME__BUS__URL", "redis://:pw@cache:6380/2"),
            ("TORII_REALTIME__BUS__PREFIX", "world-2"),
            ("TORII_REALTIME__BUS__HEAD_CHECK_INTERVAL", "2s"),
        ]),
    )
    .unwrap();
    let bus = &loaded.config.bus;
    assert_eq!(bus.kind, BusKind::Redis);
    assert_eq!(bus.url, "redis://:pw@cache:6380/2");
    assert_eq!(bus.prefix, "world-2");
    assert_eq!(bus.head_check_interval, std::time::Duration::from_secs(2));
}

#[test]
fn overrides_win_over_the_file() {
    let file = write("override.toml", "[limits]\nmax_message_chars = 100\n");
    let loaded = Config::load_with_env(
        Some(&file),
        vars(&[("TORII_REALTIME__LIMITS__MAX_MESSAGE_CHARS", "7")]),
    )
    .unwrap();
    assert_eq!(loaded.config.limits.max_message_chars, 7);
}

#[test]
fn errors_name_origin_key_and_reason() {
    let file = write("unknown.toml", "[server]\nlisen = \"1.2.3.4:5\"\n");
    let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
    assert_eq!(e.key(), Some("server.lisen"));
    let text = e.to_string();
    assert!(
        text.contains("unknown.toml") && text.contains("unknown field `lisen`"),
        "{text}"
    );

    let file = write("section.toml", "[sever]\n");
    let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
    assert!(e.to_string().contains("sever"), "{e}");

    let e = Config::load_with_env(None, vars(&[("TORII_REALTIME__SERVER__LISTEN", "nowhere")]))
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("TORII_REALTIME__SERVER__LISTEN"), "{text}");
    assert_eq!(e.key(), Some("server.listen"));

    let e = Config::load_with_env(
        None,
        vars(&[("TORII_REALTIME__SERVER__PING_INTERVAL", "5")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no unit"), "{e}");

    // An element of an array key is attributed to the variable too.
    let e = Config::load_with_env(
        None,
        vars(&[("TORII_REALTIME__SERVER__CORS_ORIGINS", "[1]")]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("TORII_REALTIME__SERVER__CORS_ORIGINS"),
        "{e}"
    );

    let e = Config::load_with_env(None, vars(&[("TORII_REALTIME____X", "1")])).unwrap_err();
    assert!(matches!(e, ConfigError::Env { .. }), "{e}");
}

#[test]
fn rules_across_keys_are_checked() {
    let cases = [
        (
            "[limits]\nsend_queue_bytes = 100\n",
            "limits.send_queue_bytes",
        ),
        ("[limits]\nmax_frame_bytes = 10\n", "limits.max_frame_bytes"),
        (
            "[limits]\npublish_per_second = 0.0\n",
            "limits.publish_per_second",
        ),
        (
            "[server]\ncors_origins = [\"game.example\"]\n",
            "server.cors_origins",
        ),
        (
            "[auth]\nsession_secret = \"short\"\n",
            "auth.session_secret",
        ),
        ("[log]\nlevel = \"info,=[\"\n", "log.level"),
        (
            "[[moderation.rules]]\nname = \"r\"\nwords = [\"x\"]\naction = \"mask\"\n\
             channels = [\"dm:0x2:0x1\"]\n",
            "moderation.rules[0].channels",
        ),
        (
            "[moderation]\nmoderator_policy = \"admin\"\n",
            "moderation.moderator_policy",
        ),
        (
            "[storage]\nmax_connections = 0\n",
            "storage.max_connections",
        ),
        (
            "[bus]\nkind = \"redis\"\nurl = \"rediss://cache:6379\"\n",
            "bus.url",
        ),
        ("[bus]\nkind = \"redis\"\nprefix = \"a b\"\n", "bus.prefix"),
    ];
    for (text, key) in cases {
        let file = write("rule.toml", text);
        let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
        assert_eq!(e.key(), Some(key), "{text}: {e}");
    }
}

#[test]
fn printing_hides_secrets() {
    let file = write(
        "secrets.toml",
        r#"
[storage]
url = "postgres://u:hunter2@db/x"

[bus]
kind = "redis"
url = "redis://chat:redispass@cache:6379/1"

[auth]
session_secret = "session-secret-of-forty-bytes-xxxxxxxxxx"

[[auth.keys]]
kid = "k1"
algorithm = "HS256"
secret = "ring-secret-of-forty-bytes-xxxxxxxxxxxxx"

[auth.external]
issuer = "game"
audience = "chat"
algorithm = "HS256"
secret = "external-secret-of-forty-bytes-xxxxxxxxx"

[auth.starknet]
rpc_url = "https://rpc.example/starknet/v0_8/ALCHEMYKEY"
domain_name = "w"
chain_id = "SN_MAIN"

[torii]
grpc_url = "https://torii:grpcpass@torii.example/?token=TORIITOKEN"
world_address = "0x1"
"#,
    );
    let c = Config::load_with_env(Some(&file), vars(&[]))
        .unwrap()
        .config;
    let text = c.to_redacted_toml();
    for secret in [
        "hunter2",
        "session-secret",
        "ring-secret",
        "external-secret",
        "ALCHEMYKEY",
        "grpcpass",
        "TORIITOKEN",
        "redispass",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("chat:***@cache"), "{text}");
    assert!(text.contains("u:***@db"), "{text}");
    assert!(text.contains("https://rpc.example/***"), "{text}");
}

#[test]
fn world_rules_are_checked_against_each_other() {
    let torii = "[torii]\ngrpc_url = \"http://127.0.0.1:50051\"\nworld_address = \"0x1\"\n";
    let players = "[players]\nmodel = \"ns-P\"\naddress = \"a\"\n";
    let guild = "[groups.guild]\nmodel = \"ns-G\"\nmember = \"m\"\ngroup = \"g\"\n";
    let ann = |name: &str, on: &str, to: &str, text: &str| {
        format!(
            "{torii}[[announcements]]\nname = \"{name}\"\nmodel = \"ns-S\"\non = \"{on}\"\n{to}\ntext = \"{text}\"\n"
        )
    };
    let cases = [
        (players.to_string(), "torii"),
        (format!("{torii}[torii_x]\n"), "torii_x"),
        (
            "[torii]\ngrpc_url = \"127.0.0.1:50051\"\nworld_address = \"0x1\"\n".to_string(),
            "torii.grpc_url",
        ),
        (
            "[torii]\ngrpc_url = \"http://x\"\nworld_address = \"bob\"\n".to_string(),
            "torii.world_address",
        ),
        (
            format!("{torii}[channels.world]\nread = \"player\"\npost = \"player\"\n"),
            "channels.world.read",
        ),
        (
            format!(
                "{torii}{players}[channels.world]\nread = \"authenticated\"\npost = \"group:clan\"\n"
            ),
            "channels.world.post",
        ),
        (
            format!("{torii}[channels.news]\nread = \"anyone\"\npost = \"admin\"\n"),
            "channels.news.post",
        ),
        (
            format!("{torii}{guild}[channels.guild]\nread = \"anyone\"\npost = \"anyone\"\n"),
            "channels.guild",
        ),
        (
            format!("{torii}[channels.world]\nread = \"everyone\"\npost = \"anyone\"\n"),
            "channels.world.read",
        ),
        (
            "[channels.dm]\nread = \"anyone\"\npost = \"anyone\"\n".to_string(),
            "channels.dm",
        ),
        (
            format!("{torii}[groups.dm]\nmodel = \"ns-G\"\nmember = \"m\"\ngroup = \"g\"\n"),
            "groups.dm",
        ),
        ("[dm]\nstart = \"player\"\n".to_string(), "dm.start"),
        (
            format!("{torii}{players}[dm]\nstart = \"group:clan\"\n"),
            "dm.start",
        ),
        (
            format!("{torii}{players}[dm]\nshared_group = \"guild\"\n"),
            "dm.shared_group",
        ),
        ("[dm]\nstart = \"admin\"\n".to_string(), "dm.start"),
        ("[dm]\nopen = true\n".to_string(), "dm.open"),
        ("[notes]\npin = \"player\"\n".to_string(), "notes.pin"),
        (
            format!("{torii}{players}[notes]\npin = \"near\"\n"),
            "notes.pin",
        ),
        ("[notes]\npin = \"anywhere\"\n".to_string(), "notes.pin"),
        (
            "[notes]\nmax_body_chars = 0\n".to_string(),
            "notes.max_body_chars",
        ),
        (
            "[[announcements]]\nname = \"x\"\nmodel = \"m\"\non = \"created\"\nchannels = [\"world\"]\ntext = \"hi\"\n".to_string(),
            "torii",
        ),
        (ann("bad name", "created", "channels = [\"world\"]", "hi"), "announcements[0].name"),
        (ann("x", "created", "channels = [\"world\"]", "{owner"), "announcements[0].text"),
        (ann("x", "owner_changed", "channels = [\"world\"]", "hi"), "announcements[0].model"),
        (ann("x", "created", "", "hi"), "announcements[0].channels"),
        (ann("x", "created", "channels = [\"dm:0x1:0x2\"]", "hi"), "announcements[0].channels"),
        (ann("x", "captured", "channels = [\"world\"]", "hi"), "announcements"),
        (ann("x", "created", "groups_of = [\"owner\"]", "hi"), "announcements[0].model"),
    ];
    for (text, key) in cases {
        let file = write("world.toml", &text);
        let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
        assert!(
            e.key().is_some_and(|k| k.starts_with(key)),
            "{text}\nexpected key {key}, got: {e}"
        );
    }
    let ok = write(
        "world-ok.toml",
        &format!(
            "{torii}{players}{guild}[channels.world]\nread = \"authenticated\"\npost = \"player\"\n\
             [dm]\nstart = \"player\"\nshared_group = \"guild\"\n"
        ),
    );
    let loaded = Config::load_with_env(Some(&ok), vars(&[])).unwrap();
    let dm = &loaded.config.channel_rules().dm;
    assert!(dm.enabled && dm.needs_world());
    assert_eq!(
        loaded.config.world_rules().models(),
        vec!["ns-G".to_string(), "ns-P".to_string()]
    );
}

#[test]
fn the_eternum_blitz_config_is_valid() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/eternum-blitz.toml");
    let loaded = Config::load_with_env(Some(&file), vars(&[])).unwrap();
    let rules = loaded.config.world_rules();
    assert_eq!(rules.positions.len(), 2);
    assert!(rules.groups.contains_key("guild"));
}

#[test]
fn session_keys_are_checked() {
    let hs = |kid: &str, extra: &str| {
        format!("[[auth.keys]]\nkid = \"{kid}\"\nalgorithm = \"HS256\"\n{extra}")
    };
    let secret = "secret = \"0123456789abcdef0123456789abcdef\"\n";
    let cases = [
        (hs("a", ""), "auth.keys[0]"),
        (hs("a", "secret = \"short\"\n"), "auth.keys[0].secret"),
        (
            format!("{}{}", hs("a", secret), hs("a", secret)),
            "auth.keys[1]",
        ),
        (
            hs(
                "a",
                &format!("{secret}accept_until = \"2099-01-01T00:00:00Z\"\n"),
            ),
            "auth.keys[0].accept_until",
        ),
        (
            format!(
                "{}{}",
                hs("a", secret),
                hs("b", &format!("{secret}accept_until = \"soon\"\n"))
            ),
            "auth.keys[1].accept_until",
        ),
        (
            "[[auth.keys]]\nkid = \"e\"\nalgorithm = \"EdDSA\"\npublic_key_file = \"p.pem\"\n"
                .to_string(),
            "auth.keys[0]",
        ),
        (
            "[[auth.keys]]\nkid = \"e\"\nalgorithm = \"RS256\"\n".to_string(),
            "auth.keys[0].algorithm",
        ),
    ];
    for (text, key) in cases {
        let file = write("keys.toml", &text);
        let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
        assert!(
            e.key().is_some_and(|k| k.starts_with(key)),
            "{text}\nexpected {key}: {e}"
        );
    }
    let ok = write(
        "keys-ok.toml",
        &format!(
            "{}{}",
            hs("new", secret),
            hs(
                "old",
                &format!("{secret}accept_until = \"2099-01-01T00:00:00Z\"\n")
            )
        ),
    );
    assert_eq!(
        Config::load_with_env(Some(&ok), vars(&[]))
            .unwrap()
            .config
            .auth
            .keys
            .len(),
        2
    );
}

#[test]
fn external_tokens_are_checked() {
    let base = "[auth.external]\nissuer = \"https://a.example\"\naudience = \"chat\"\n";
    let cases = [
        (format!("{base}algorithm = \"HS256\"\n"), "auth.external"),
        (format!("{base}algorithm = \"HS256\"\nsecret = \"x\"\npublic_key_file = \"k.pem\"\n"), "auth.external"),
        (format!("{base}public_key_file = \"k.pem\"\n"), "auth.external.algorithm"),
        (format!("{base}algorithm = \"XS999\"\nsecret = \"x\"\n"), "auth.external.algorithm"),
        ("[auth.external]\nissuer = \"torii-realtime\"\naudience = \"c\"\nalgorithm = \"HS256\"\nsecret = \"x\"\n".to_string(), "auth.external.issuer"),
    ];
    for (text, key) in cases {
        let file = write("external.toml", &text);
        let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
        assert!(
            e.key().is_some_and(|k| k.starts_with(key)),
            "{text}\nexpected {key}: {e}"
        );
    }
    let short = write(
        "external-short.toml",
        &format!("{base}algorithm = \"HS256\"\nsecret = \"short\"\n"),
    );
    let e = Config::load_with_env(Some(&short), vars(&[])).unwrap_err();
    assert_eq!(e.key(), Some("auth.external.secret"), "{e}");
    let plain = write(
        "rpc-plain.toml",
        "[auth.starknet]\nrpc_url = \"http://rpc.example/v0_8\"\ndomain_name = \"w\"\nchain_id = \"SN_MAIN\"\n",
    );
    let e = Config::load_with_env(Some(&plain), vars(&[])).unwrap_err();
    assert_eq!(e.key(), Some("auth.starknet.rpc_url"), "{e}");
    let ok = write(
        "external-ok.toml",
        &format!("{base}jwks_file = \"jwks.json\"\n"),
    );
    assert!(Config::load_with_env(Some(&ok), vars(&[])).is_ok());
}

/// Tokens of one world (domain or world address) on one chain do not open the same world on
/// another chain, even with a shared key.
#[test]
fn the_token_world_names_the_chain() {
    let starknet = |chain: &str| {
        format!(
            "[auth.starknet]\nrpc_url = \"https://rpc.example\"\ndomain_name = \"blitz\"\nchain_id = \"{chain}\"\n"
        )
    };
    let torii = "[torii]\ngrpc_url = \"http://127.0.0.1:50051\"\nworld_address = \"0x7071\"\n";
    let world = |text: String| {
        let file = write("token-world.toml", &text);
        Config::load_with_env(Some(&file), vars(&[]))
            .unwrap()
            .config
            .token_world()
    };
    assert_eq!(world(String::new()), None);
    assert_eq!(world(starknet("SN_MAIN")).as_deref(), Some("SN_MAIN:blitz"));
    let both = world(format!("{}{torii}", starknet("SN_SEPOLIA"))).unwrap();
    assert!(
        both.starts_with("SN_SEPOLIA:0x0000") && both.ends_with("7071"),
        "{both}"
    );
    let secret = [9u8; 32];
    let main =
        realtime_auth::token::Tokens::new(&secret, false).for_world(world(starknet("SN_MAIN")));
    let sepolia =
        realtime_auth::token::Tokens::new(&secret, false).for_world(world(starknet("SN_SEPOLIA")));
    let address = "0xabc".parse().unwrap();
    let token = sepolia
        .mint(address, std::time::Duration::from_secs(60), false)
        .unwrap();
    assert!(sepolia.verify(&token).is_ok());
    let e = main.verify(&token).unwrap_err();
    assert!(e.message.contains("another world"), "{}", e.message);
}

#[test]
fn retention_loads_from_the_file_and_the_environment_and_names_bad_keys() {
    let file = write(
        "retention.toml",
        "[retention]\ninterval = \"1m\"\nmax_age = \"90d\"\n\n\
         [retention.channels.world]\nmax_messages = 10000\n\n\
         [retention.channels.dm]\nmax_age = \"30d\"\n",
    );
    let env = vars(&[
        ("TORII_REALTIME__RETENTION__BATCH", "50"),
        ("TORII_REALTIME__RETENTION__CHANNELS__GUILD__MAX_AGE", "7d"),
    ]);
    let r = Config::load_with_env(Some(&file), env)
        .unwrap()
        .config
        .retention;
    let days = |n: u64| Some(std::time::Duration::from_secs(n * 86_400));
    assert_eq!(r.interval, std::time::Duration::from_secs(60));
    assert_eq!((r.batch, r.max_age, r.max_messages), (50, days(90), None));
    assert_eq!(
        r.note_tombstones,
        std::time::Duration::from_secs(30 * 86_400)
    );
    let world = r.rule_for("world").unwrap();
    assert_eq!((world.max_age, world.max_messages), (None, Some(10_000)));
    assert_eq!(r.rule_for("dm:0x1:0x2").unwrap().max_age, days(30));
    assert_eq!(r.rule_for("guild:0x9").unwrap().max_age, days(7));
    assert_eq!(r.rule_for("zone:1").unwrap().max_age, days(90));

    let cases = [
        ("[retention]\ninterval = \"10ms\"\n", "retention.interval"),
        ("[retention]\nbatch = 0\n", "retention.batch"),
        ("[retention]\nbatch = 10001\n", "retention.batch"),
        ("[retention]\nmax_age = \"500ms\"\n", "retention.max_age"),
        ("[retention]\nmax_age = \"30 days\"\n", "retention.max_age"),
        ("[retention]\nmax_messages = 0\n", "retention.max_messages"),
        (
            "[retention]\nnote_tombstones = \"0s\"\n",
            "retention.note_tombstones",
        ),
        ("[retention]\nkeep = \"1d\"\n", "retention.keep"),
        (
            "[retention.channels.world]\nmax_age = \"0s\"\n",
            "retention.channels.world.max_age",
        ),
        (
            "[retention.channels.world]\nmax_messages = 0\n",
            "retention.channels.world.max_messages",
        ),
        (
            "[retention.channels.world]\nmax_days = 3\n",
            "retention.channels.world.max_days",
        ),
        (
            "[retention.channels.\"World\"]\nmax_messages = 5\n",
            "retention.channels.World",
        ),
        // A thread is named with its lower address first.
        (
            "[retention.channels.\"dm:0x2:0x1\"]\nmax_messages = 5\n",
            "retention.channels.dm:0x2:0x1",
        ),
    ];
    for (text, key) in cases {
        let file = write("retention-bad.toml", text);
        let e = Config::load_with_env(Some(&file), vars(&[])).unwrap_err();
        assert_eq!(e.key(), Some(key), "{text}: {e}");
    }
}
