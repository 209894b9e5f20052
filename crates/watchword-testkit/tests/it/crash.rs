//! Background work across nodes that crash: three `watchword serve` processes on one
//! PostgreSQL, one of them killed with SIGKILL (and started again) every 3 s for a minute while
//! invitations are sent through whichever nodes are up. Afterwards: every acknowledged
//! invitation's email arrived; an email arrived twice only when the node delivering it died
//! between the SMTP server's acceptance and the record of it (its lease ran out, so another
//! node sent it again, under the same Message-ID); the audit stream delivered every event of the
//! account in order without a gap; the Security Contact's lapse warning, due on every node's
//! check each second, was sent once.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchword_testkit::mail::SmtpSink;
use watchword_testkit::process::{Served, signup};
use watchword_testkit::siem::Siem;
use watchword_testkit::{drop_pg_database, fresh_pg_database, watchword_bin};

const KILLING_FOR: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_run_once_while_nodes_are_killed() {
    let Some((db, name)) = fresh_pg_database().await else {
        return;
    };
    watchword_app::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (smtp, siem) = (SmtpSink::start().await, Siem::start().await);
    let dir = tempfile::tempdir().unwrap();
    let settings: Vec<(String, String)> = vec![
        ("WATCHWORD_SMTP_URL".into(), smtp.url()),
        ("WATCHWORD_OUTBOX_POLL_MS".into(), "100".into()),
        ("WATCHWORD_OUTBOX_LEASE_SECS".into(), "20".into()),
        ("WATCHWORD_OUTBOUND_ALLOW_LOOPBACK".into(), "true".into()),
        (
            "WATCHWORD_SECURITY_CONTACT_CHECK_INTERVAL_SECS".into(),
            "1".into(),
        ),
    ];
    let start = {
        let (db, data) = (db.clone(), dir.path().to_owned());
        move || {
            let (db, data, settings) = (db.clone(), data.clone(), settings.clone());
            tokio::task::spawn_blocking(move || {
                let env: Vec<(&str, &str)> = settings
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                Served::start(&watchword_bin(), &db, &data, &env)
            })
        }
    };
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start().await.unwrap());
    }
    let (token, acme) = signup(&client, &nodes[0].base, &db, "ada@example.com", || {
        smtp.emails()
    })
    .await;
    // Five accounts of 50 invitations an hour each; Acme streams its audit log.
    let mut accounts = vec![acme.clone()];
    for n in 1..5 {
        let (s, v) = post(
            &client,
            &nodes[0].base,
            "/api/v1/accounts",
            &token,
            json!({"name": format!("Account {n}")}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        accounts.push(v["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/api/v1/accounts/{acme}/audit-streams");
    let (s, v) = post(
        &client,
        &nodes[0].base,
        &path,
        &token,
        json!({"url": siem.url()}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    siem.set_secret(v["secret"].as_str().unwrap());
    // Ada, Acme's Security Contact, last signed in 350 days ago: one warning is due (the window
    // is 365 days, warnings start 30 days before).
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db).await.unwrap();
        let at = watchword_domain::Millis::now().minus_secs(350 * 86_400).0;
        for table in ["persons", "memberships"] {
            let id_column = if table == "persons" {
                "id"
            } else {
                "person_id"
            };
            sqlx::query(&format!(
                "UPDATE {table} SET last_login_at = $1 WHERE {id_column} = (SELECT id FROM persons WHERE email = 'ada@example.com')"
            ))
            .bind(at)
            .execute(&mut c)
            .await
            .unwrap();
        }
    }

    // 30 keys that expire one after another while nodes are killed (every node's expiry job
    // runs each second): each expiry is recorded once.
    let mut expiring = Vec::new();
    for n in 0..30 {
        let body = json!({"name": format!("expiring {n}"), "scopes": ["members:read"], "expires_in_days": 1});
        let (s, v) = post(
            &client,
            &nodes[0].base,
            &format!("/api/v1/accounts/{acme}/api-keys"),
            &token,
            body,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        expiring.push(v["id"].as_str().unwrap().to_owned());
    }
    {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db).await.unwrap();
        let now = watchword_domain::Millis::now().0;
        for (n, id) in expiring.iter().enumerate() {
            sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                .bind(now + 5_000 + n as i64 * 1_500)
                .bind(id)
                .execute(&mut c)
                .await
                .unwrap();
        }
    }

    // Invitations through whichever node is up, while nodes are killed one at a time.
    let bases: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(nodes.iter().map(|n| n.base.clone()).collect()));
    let stop = Arc::new(AtomicBool::new(false));
    let inviter = {
        let (client, bases, stop, token) =
            (client.clone(), bases.clone(), stop.clone(), token.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0usize.. {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let account = &accounts[n % accounts.len()];
                let base = bases.lock().unwrap()[n % 3].clone();
                let email = format!("invitee{n}@example.com");
                let path = format!("/api/v1/accounts/{account}/invitations");
                let body = json!({"email": email, "role": "analyst"});
                if let Ok(r) = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    && r.status() == StatusCode::CREATED
                {
                    acknowledged.push(email);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            acknowledged
        })
    };
    let began = Instant::now();
    let mut kills = 0;
    while began.elapsed() < KILLING_FOR {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let i = kills % 3;
        nodes[i].kill();
        kills += 1;
        nodes[i] = start().await.unwrap();
        bases.lock().unwrap()[i] = nodes[i].base.clone();
    }
    stop.store(true, Ordering::Release);
    let acknowledged = inviter.await.unwrap();
    assert!(
        acknowledged.len() > 100,
        "only {} invitations went through",
        acknowledged.len()
    );

    // Everything due is delivered (a lease of a killed node runs out after 20 s).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pending: i64 = {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db).await.unwrap();
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
                .fetch_one(&mut c)
                .await
                .unwrap()
        };
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} emails still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // No email lost.
    let emails = smtp.emails();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|to| !emails.iter().any(|m| &&m.to == to))
        .collect();
    assert!(
        missing.is_empty(),
        "{} invitation emails lost: {missing:?}",
        missing.len()
    );
    // Twice only what a killed node was delivering: sent again once its lease (20 s from the
    // claim) ran out — seconds apart, never two nodes at once (milliseconds apart).
    let mut copies: HashMap<&str, Vec<std::time::SystemTime>> = HashMap::new();
    for m in &emails {
        copies
            .entry(m.message_id.as_str())
            .or_default()
            .push(m.received.unwrap());
    }
    let twice: Vec<&str> = copies
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(id, _)| *id)
        .collect();
    for id in &twice {
        let at = &copies[id];
        assert_eq!(at.len(), 2, "{id} arrived {} times", at.len());
        let apart = at[1].duration_since(at[0]).unwrap_or_else(|e| e.duration());
        assert!(
            apart >= Duration::from_secs(10),
            "{id} arrived twice {apart:?} apart: two nodes sent it at once"
        );
    }
    // The lapse warning, checked each second by every node: once per account she is the
    // Security Contact of.
    let warnings: Vec<&watchword_testkit::mail::Email> = emails
        .iter()
        .filter(|m| {
            m.to == "ada@example.com" && m.subject.contains("Log in to stay the Security Contact")
        })
        .collect();
    for account in ["Acme", "Account 1", "Account 2", "Account 3", "Account 4"] {
        let n = warnings
            .iter()
            .filter(|m| m.subject.contains(account) || m.text.contains(account))
            .count();
        assert_eq!(n, 1, "lapse warnings about {account}");
    }
    assert_eq!(warnings.len(), 5);

    // Each expiry recorded once.
    let (s, page) = get(
        &client,
        &nodes[0].base,
        &format!("/api/v1/accounts/{acme}/audit-events?limit=1000&action=api_key.expired"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let mut recorded: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.expired")
        .map(|e| e["target_id"].as_str().unwrap_or_default())
        .collect();
    recorded.sort_unstable();
    let mut wanted: Vec<&str> = expiring.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    assert_eq!(recorded, wanted, "each key's expiry recorded once");

    // The stream: every event of Acme, in order, none missing (a redelivery after a crash may
    // repeat one; a receiver drops it by id).
    let (s, page) = get(
        &client,
        &nodes[0].base,
        &format!("/api/v1/accounts/{acme}/audit-events?limit=1000"),
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let mut expected: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    // From the stream's own creation on.
    let from = expected.len()
        - page["events"]
            .as_array()
            .unwrap()
            .iter()
            .position(|e| e["action"] == "audit_stream.created")
            .map(|newest_first| newest_first + 1)
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (streamed, repeated) = loop {
        let mut seen: Vec<String> = Vec::new();
        let mut repeated = 0;
        for e in siem.events() {
            let id = e["id"].as_str().unwrap().to_owned();
            if seen.contains(&id) {
                repeated += 1;
            } else {
                seen.push(id);
            }
        }
        if seen.len() >= expected.len() - from || Instant::now() > deadline {
            break (seen, repeated);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(streamed, expected[from..], "in order, without gaps");
    eprintln!(
        "crashes: {kills} nodes killed in {} s; {} invitations acknowledged, {} emails, 0 lost, {} sent twice (delivering when killed); {} events streamed in order, {repeated} repeated; 1 lapse warning per account; {} key expiries recorded once each",
        KILLING_FOR.as_secs(),
        acknowledged.len(),
        emails.len(),
        twice.len(),
        streamed.len(),
        expiring.len()
    );
    drop(nodes);
    drop_pg_database(name);
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let r = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}
