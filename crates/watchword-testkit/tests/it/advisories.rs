//! Operator advisories to Security Contacts, on SQLite and PostgreSQL, through the CLI (`watchword
//! advisories send|status`): the audience (all, a plan, a file of ids), the personal
//! acknowledgement link (a button page, audited in the account), one reminder, the new contact
//! receiving what the old one had not acknowledged, and a send that resumes after a crash
//! without losing or repeating anyone.

use crate::operator_cli::run;
use reqwest::StatusCode;
use serde_json::Value;
use watchword_testkit::mail::link_token;
use watchword_testkit::{Backend, TestApp};

fn send(app: &TestApp, subject: &str, to: &str, ack: bool) -> String {
    let body = app
        .data_dir()
        .join(format!("{}.txt", subject.replace(' ', "_")));
    std::fs::write(
        &body,
        format!("{subject}: rotate your keys.\nThe details follow."),
    )
    .unwrap();
    let mut args = vec![
        "advisories",
        "send",
        "--subject",
        subject,
        "--body-file",
        body.to_str().unwrap(),
        "--to",
        to,
    ];
    if ack {
        args.push("--require-ack");
    }
    let (ok, out, err) = run(app, &args);
    assert!(ok, "{out}{err}");
    let id = out.trim().to_owned();
    assert!(id.starts_with("adv_"), "{out}");
    id
}

fn status(app: &TestApp, id: &str) -> Value {
    let (ok, out, err) = run(app, &["advisories", "status", id, "--json"]);
    assert!(ok, "{out}{err}");
    serde_json::from_str(out.trim()).unwrap()
}

fn count(app: &TestApp, to: &str, subject: &str) -> usize {
    app.emails()
        .iter()
        .filter(|m| m.to.contains(to) && m.subject == subject)
        .count()
}

async fn press(app: &TestApp, token: &str) -> StatusCode {
    app.client
        .post(app.url("/advisories/ack"))
        .header("origin", app.url(""))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn advisories_reach_security_contacts(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let bob = app.signup("Globex", "Bob", "bob@example.com").await;
    let _carl = app.signup("Initech", "Carl", "carl@example.com").await;
    app.set_plan(&bob, "paid").await;
    // A plan: only Globex's contact.
    let breach = send(&app, "Breach notice", "paid", true);
    let mail = app.wait_for_email("bob@example.com", "Breach notice").await;
    assert!(mail.text.contains("rotate your keys"), "{}", mail.text);
    // The CLI renders the link with the URL the running server announced (its port, not the
    // CLI's default), with no public_url configured anywhere.
    let link = format!("{}/advisories/ack?token=", app.base);
    assert!(
        app.base.starts_with("http://localhost:") && mail.text.contains(&link),
        "{}: {}",
        app.base,
        mail.text
    );
    let s = status(&app, &breach);
    assert_eq!(
        (s["recipients"].as_i64(), s["require_ack"].as_bool()),
        (Some(1), Some(true))
    );
    assert_eq!(count(&app, "ada@example.com", "Breach notice"), 0);
    // A file of ids: only Acme's.
    let ids = app.data_dir().join("ids.txt");
    std::fs::write(&ids, format!("# chosen\n{}\n", ada.account)).unwrap();
    let chosen = send(&app, "Compliance request", ids.to_str().unwrap(), false);
    app.wait_for_email("ada@example.com", "Compliance request")
        .await;
    assert_eq!(status(&app, &chosen)["recipients"], 1);
    // Everyone.
    let patch = send(&app, "Patch advisory", "all", true);
    for who in ["ada@example.com", "bob@example.com", "carl@example.com"] {
        app.wait_for_email(who, "Patch advisory").await;
    }
    for _ in 0..200 {
        if status(&app, &patch)["delivered"] == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let s = status(&app, &patch);
    assert_eq!(
        (s["recipients"].as_i64(), s["delivered"].as_i64()),
        (Some(3), Some(3)),
        "{s}"
    );
    // Bob's link: the page changes nothing; its button acknowledges, audited in Globex.
    let token = link_token(&mail.text).unwrap();
    let page = app
        .client
        .get(app.url(&format!("/advisories/ack?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("id=\"acknowledge\""));
    assert_eq!(status(&app, &breach)["acknowledged"], 0);
    assert_eq!(press(&app, &token).await, StatusCode::OK);
    assert_eq!(
        press(&app, &token).await,
        StatusCode::OK,
        "twice: no change"
    );
    assert_eq!(status(&app, &breach)["acknowledged"], 1);
    // (Globex is on the paid plan, which requires MFA before its audit log can be read: the
    // event is looked up in the database.)
    let audited = format!(
        "UPDATE audit_events SET action = action WHERE action = 'advisory.acknowledged' \
         AND account_id = '{}' AND details LIKE '%Breach notice%'",
        bob.account
    );
    assert_eq!(app.sql(&audited, &[]).await, 1);
    assert_eq!(press(&app, "forged").await, StatusCode::NOT_FOUND);
    // Ada acknowledges the patch advisory; a week later Bob and Carl get one reminder each.
    let ada_mail = app
        .wait_for_email("ada@example.com", "Patch advisory")
        .await;
    assert_eq!(
        press(&app, &link_token(&ada_mail.text).unwrap()).await,
        StatusCode::OK
    );
    app.advance_clock(7 * 86_400 + 1);
    app.app().advisory_reminders().await.unwrap();
    app.app().advisory_reminders().await.unwrap();
    for who in ["bob@example.com", "carl@example.com"] {
        app.wait_for_email(who, "Reminder: Patch advisory").await;
    }
    app.wait_for_email("ada@example.com", "Compliance request")
        .await;
    for (who, n) in [("ada", 0), ("bob", 1), ("carl", 1)] {
        let to = format!("{who}@example.com");
        assert_eq!(
            count(&app, &to, "Reminder: Patch advisory"),
            n,
            "{who}: one reminder"
        );
    }
    // The reminder's link works; the first one stopped.
    let first = app
        .emails()
        .into_iter()
        .find(|m| m.to.contains("carl@example.com") && m.subject == "Patch advisory")
        .unwrap();
    let first = link_token(&first.text).unwrap();
    assert_eq!(press(&app, &first).await, StatusCode::NOT_FOUND);
    let reminder = app
        .wait_for_email("carl@example.com", "Reminder: Patch advisory")
        .await;
    assert_eq!(
        press(&app, &link_token(&reminder.text).unwrap()).await,
        StatusCode::OK
    );
    // Ada by her link, Carl by the reminder's.
    assert_eq!(status(&app, &patch)["acknowledged"], 2);
}
watchword_testkit::on_both_backends!(advisories, advisories_reach_security_contacts);

/// A contact that changes before acknowledging: the new contact receives the advisory. A send
/// that stopped after choosing its recipients resumes with each of them emailed once.
async fn advisories_follow_contacts_and_resume(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (ada, grace) = app.ada_and_grace().await;
    send(&app, "Key rotation", "all", true);
    app.wait_for_email("ada@example.com", "Key rotation").await;
    let (s, _) = app.put_security_contact(&ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK);
    let to_grace = app
        .wait_for_email("grace@example.com", "Key rotation")
        .await;
    assert!(
        to_grace.text.contains("Security Contact of Acme"),
        "{}",
        to_grace.text
    );
    // A send that stopped after its set-based insert (a crash): the recipients are pending.
    let insert = format!(
        "INSERT INTO advisories (id, subject, body, audience, require_ack, created_at) \
         VALUES ('adv_crashed', 'Resumed notice', 'Body', 'all', 0, {})",
        app.app().now().0
    );
    app.sql(&insert, &[]).await;
    app.sql(
        "INSERT INTO advisory_recipients (advisory_id, account_id, status) \
         SELECT 'adv_crashed', id, 'pending' FROM accounts",
        &[],
    )
    .await;
    assert_eq!(app.app().write_advisory_emails().await.unwrap(), 1);
    assert_eq!(app.app().write_advisory_emails().await.unwrap(), 0);
    app.wait_for_email("grace@example.com", "Resumed notice")
        .await;
    assert_eq!(count(&app, "grace@example.com", "Resumed notice"), 1);
}
watchword_testkit::on_both_backends!(advisories_contacts, advisories_follow_contacts_and_resume);
