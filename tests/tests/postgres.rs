//! The same binary on Postgres (selected by an environment override) behaves the same.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr, drop_postgres, fresh_postgres, messages, quiet};

#[tokio::test]
async fn chat_recovery_and_history_on_postgres() {
    let (url, db) = fresh_postgres().await;
    let server = Server::start_with(Options {
        env: vec![("TORII_REALTIME__STORAGE__URL".into(), url.clone())],
        ..Options::default()
    })
    .await;
    assert!(
        server
            .logs()
            .iter()
            .any(|l| l["message"] == "storage connected" && l["backend"] == "Postgres"),
        "the environment override selected Postgres"
    );
    assert!(
        server.logs().iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("live delivery is per instance"))),
        "Postgres with the in-process bus warns that several instances would not share live delivery"
    );
    let mut reader = server.client(&addr(1)).await;
    reader.subscribe("world", None).await.unwrap();
    let sender = server.client(&addr(2)).await;
    let mut tasks = Vec::new();
    for p in 0..4u32 {
        let c = server.client(&addr(10 + p)).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                c.publish("world", &format!("p{p}-{i}"), &format!("p{p}-{i}"))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = messages(&mut reader, 40).await;
    assert_eq!(
        got.iter().map(|m| m.1).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    drop(reader);

    let first = sender
        .publish("world", "while away", "away-1")
        .await
        .unwrap();
    let retry = sender
        .publish("world", "while away", "away-1")
        .await
        .unwrap();
    assert_eq!((first.seq, retry.duplicate), (41, true));
    let mut back = server.client(&addr(1)).await;
    let ok = back.subscribe("world", Some(40)).await.unwrap();
    assert_eq!((ok.recovered, ok.replayed), (Some(true), 1));
    assert_eq!(messages(&mut back, 1).await[0].2, "while away");
    quiet(&mut back).await;

    let page = back
        .history(
            "world",
            realtime_client::History {
                before: Some(41),
                limit: Some(100),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 40);
    assert!(!page.has_more);
    drop(server);
    drop_postgres(&db).await;
}
