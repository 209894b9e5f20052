//! SMS codes on SQLite and PostgreSQL: a phone counts only once its texted code comes back;
//! codes answer a login challenge and a step-up once each, expire, die after five wrong tries,
//! and are rate-limited; nothing of the number or code stays in plain text; the HTTP gateway
//! provider signs its POSTs (checked by Python's hmac) and is retried after a failure.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::sms::{SmsGateway, code_of};
use watchword_testkit::{Backend, Login, TestApp, both_backends, code};

const PHONE: &str = "+44 20 7946 0958";
const E164: &str = "+442079460958";

fn other_than(c: &str) -> String {
    format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000)
}

async fn text_login_code(app: &TestApp, ch: &Value) -> (StatusCode, Value) {
    let body = json!({"challenge_id": ch["challenge_id"]});
    app.call(Method::POST, "/api/v1/login/mfa/sms", None, Some(body))
        .await
}

/// Adds the phone for `who` through the embedded provider; returns the confirmation body.
async fn enrol(app: &TestApp, who: &Login) -> Value {
    // Counted before asking: the text may be delivered before the answer arrives.
    let n = app.sms_sent().len() + 1;
    let (s, v) = app
        .post("/api/v1/me/mfa/sms", &who.token, json!({"phone": PHONE}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let msg = app.wait_for_sms(n).await;
    assert_eq!(msg["to"], E164);
    let (s, c) = app
        .post(
            "/api/v1/me/mfa/sms/confirm",
            &who.token,
            json!({"code": code_of(&msg), "factor_id": v["factor_id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    c
}

both_backends!(phone_is_confirmed_by_its_code, |app: TestApp| async move {
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    // Bad numbers are refused and nothing is written or sent.
    for bad in ["020 7946 0958", "+0 12345678", "+44 20 79x6 0958", "+1234"] {
        let (s, v) = app
            .post("/api/v1/me/mfa/sms", &ada.token, json!({"phone": bad}))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone"),
            "{bad}"
        );
    }
    assert_eq!(app.sql("UPDATE mfa_factors SET name = name", &[]).await, 0);
    assert!(app.sms_sent().is_empty());

    let (s, v) = app
        .post(
            "/api/v1/me/mfa/sms",
            &ada.token,
            json!({"phone": PHONE, "name": "Work phone"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["phone_hint"], "•••58");
    let msg = app.wait_for_sms(1).await;
    assert_eq!(msg["to"], E164);
    let text = msg["text"].as_str().unwrap();
    assert!(text.contains("Never share it"), "{text}");
    let sent = code_of(&msg);
    // Not a factor until confirmed.
    assert_eq!(
        app.get("/api/v1/me/mfa", &ada.token).await.1["factors"],
        json!([])
    );
    let confirm =
        |c: String| app.post("/api/v1/me/mfa/sms/confirm", &ada.token, json!({"code": c}));
    let (s, v) = confirm(other_than(&sent)).await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "invalid_code"));
    let (s, v) = confirm(sent.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["factor"]["kind"], "sms");
    assert_eq!(v["factor"]["name"], "Work phone");
    assert_eq!(v["factor"]["phone_hint"], "•••58");
    assert_eq!(v["recovery_codes"].as_array().unwrap().len(), 10);
    // Ada's membership now counts her as having MFA (what the security overview reads).
    let with_mfa = "SELECT id FROM memberships WHERE email = 'ada@example.com' AND mfa_level = 1";
    assert_eq!(app.count_rows(with_mfa, &[]).await, 1);
    // The code works once.
    let (s, v) = confirm(sent).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::CONFLICT, "no_pending_enrolment")
    );
    let (_, m) = app.get("/api/v1/me/mfa", &ada.token).await;
    assert_eq!(m["factors"][0]["kind"], "sms");
    assert_eq!(m["add_backup"], true);

    // At rest: the number is sealed, only its last digits are plain; the delivered message
    // kept neither number nor code; the code itself is stored hashed.
    app.wait_outbox_empty().await;
    assert_eq!(
        app.sql("UPDATE mfa_factors SET name = name WHERE kind = 'sms' AND phone_hint = '•••58' AND key_id = 'k1' AND secret_sealed IS NOT NULL", &[]).await,
        1
    );
    assert_eq!(
        app.sql("UPDATE outbox SET status = status WHERE channel = 'sms' AND status = 'sent' AND recipient = '' AND body_text = ''", &[]).await,
        1
    );
    assert_eq!(app.sql("UPDATE outbox SET status = status WHERE body_text LIKE '%is your watchword code%' OR recipient LIKE '%7946%'", &[]).await, 0);
    assert_eq!(
        app.sql(
            "UPDATE sms_codes SET ip = ip WHERE used_at IS NOT NULL AND LENGTH(code_hash) = 32",
            &[]
        )
        .await,
        1
    );

    // Audit and the person's email.
    let (_, audit) = app
        .get(
            &format!("/api/v1/accounts/{}/audit-events", ada.account),
            &ada.token,
        )
        .await;
    let added = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "mfa.factor_added")
        .unwrap_or_else(|| panic!("no mfa.factor_added in {audit}"));
    assert_eq!(added["details"]["kind"], "sms", "{added}");
    app.wait_for_email("ada@example.com", "second factor was added")
        .await;
});

both_backends!(
    codes_answer_login_and_step_up_once,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        enrol(&app, &ada).await;
        let ch = app.challenge("ada@example.com").await;
        let methods: Vec<String> = serde_json::from_value(ch["methods"].clone()).unwrap();
        assert_eq!(methods, ["sms", "recovery_code"]);
        // One code per 30 s per person: the enrolment code was just sent.
        let (s, v) = text_login_code(&app, &ch).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "sms_rate_limited")
        );
        app.age_sms_codes(31).await;
        let (s, v) = text_login_code(&app, &ch).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["phone_hint"], "•••58");
        let sent = code_of(&app.wait_for_sms(2).await);
        // A code for the login does not confirm anything else, and a wrong one is refused.
        let (s, v) = app.finish_login(&ch, "sms", &other_than(&sent)).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "invalid_code"));
        let (s, v) = app.finish_login(&ch, "sms", &sent).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let token = v["session_token"].as_str().unwrap().to_owned();
        // Replayed on a new challenge: refused.
        let ch2 = app.challenge("ada@example.com").await;
        let (s, v) = app.finish_login(&ch2, "sms", &sent).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "invalid_code"));
        // An unknown challenge cannot make watchword text anyone.
        let (s, v) = text_login_code(&app, &json!({"challenge_id": "nope"})).await;
        assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "invalid_code"));

        // Expired codes are refused.
        app.age_sms_codes(31).await;
        assert_eq!(text_login_code(&app, &ch2).await.0, StatusCode::ACCEPTED);
        let late = code_of(&app.wait_for_sms(3).await);
        app.age_sms_codes(5 * 60).await;
        let (s, _) = app.finish_login(&ch2, "sms", &late).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Five wrong tries kill a code, even if the sixth is right.
        app.sql("DELETE FROM rate_slots WHERE bucket LIKE 'code-%'", &[])
            .await;
        let ch3 = app.challenge("ada@example.com").await;
        assert_eq!(text_login_code(&app, &ch3).await.0, StatusCode::ACCEPTED);
        let good = code_of(&app.wait_for_sms(4).await);
        for _ in 0..4 {
            assert_eq!(
                app.finish_login(&ch3, "sms", &other_than(&good)).await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        let body = json!({"method": "sms", "code": other_than(&good)});
        assert_eq!(
            app.post("/api/v1/me/reauthenticate", &token, body).await.0,
            StatusCode::UNAUTHORIZED
        );
        let ch4 = app.challenge("ada@example.com").await;
        let (s, _) = app.finish_login(&ch4, "sms", &good).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "a code survives five wrong tries only"
        );

        // Five codes an hour per person: four sent so far.
        app.sql("DELETE FROM rate_slots WHERE bucket LIKE 'code-%'", &[])
            .await;
        app.age_sms_codes(31).await;
        let (s, v) = app
            .post("/api/v1/me/reauthenticate/sms", &token, json!({}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let step = code_of(&app.wait_for_sms(5).await);
        app.age_sms_codes(31).await;
        let (s, v) = app
            .post("/api/v1/me/reauthenticate/sms", &token, json!({}))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "sms_rate_limited")
        );
        assert_eq!(app.sms_sent().len(), 5);

        // Step-up with the texted code.
        app.age_sign_ins().await;
        let (s, v) = app
            .post("/api/v1/me/recovery-codes", &token, json!({}))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, "reauthentication_required")
        );
        let (s, v) = app
            .post(
                "/api/v1/me/reauthenticate",
                &token,
                json!({"method": "sms", "code": step}),
            )
            .await;
        assert!(s.is_success(), "{s} {v}");
        assert_eq!(
            app.post("/api/v1/me/recovery-codes", &token, json!({}))
                .await
                .0,
            StatusCode::CREATED
        );

        // A person without a phone cannot be texted.
        let bob = app.signup("Bobs", "Bob", "bob@example.com").await;
        let (s, v) = app
            .post("/api/v1/me/reauthenticate/sms", &bob.token, json!({}))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::UNPROCESSABLE_ENTITY, "method_not_enrolled")
        );
    }
);

async fn gateway_signs_and_is_retried(backend: Backend) {
    let secret = "sms-gateway-secret-0123456789abcdef";
    let gw = SmsGateway::start(secret, 1).await;
    let url = gw.url();
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.sms_webhook_url = Some(url);
        c.sms_webhook_secret = Some(secret.into());
    })
    .await
    else {
        return;
    };
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let (s, v) = app
        .post("/api/v1/me/mfa/sms", &ada.token, json!({"phone": PHONE}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // The first POST fails (503): the message stays pending, one attempt made.
    for _ in 0..200 {
        if gw.requests() >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(gw.requests(), 1);
    assert!(gw.messages().is_empty());
    assert_eq!(
        app.sql("UPDATE outbox SET status = status WHERE channel = 'sms' AND status = 'pending' AND attempts = 1", &[]).await,
        1
    );
    // Its retry (made due now instead of in 10 s) is accepted, signature checked by the gateway.
    let store = app.app().store().clone();
    let mut tx = store.begin().await.unwrap();
    watchword_store::outbox::make_all_due(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.wait_outbox_empty().await;
    let got = gw.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["to"], E164);
    assert_eq!(got[0]["idempotency_key"], got[0]["id"]);
    assert!(
        app.sms_sent().is_empty(),
        "nothing goes to files when a gateway is set"
    );
    let (s, v) = app
        .post(
            "/api/v1/me/mfa/sms/confirm",
            &ada.token,
            json!({"code": code_of(&got[0])}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

watchword_testkit::on_both_backends!(gateway_signs_and_is_retried, gateway_signs_and_is_retried);

both_backends!(
    one_ip_asks_for_at_most_twenty_codes_an_hour,
    |app: TestApp| async move {
        // Five people on one IP, four texts each (under the per-person limit of five): the 21st
        // text from that IP is refused.
        let mut people = Vec::new();
        for i in 0..5 {
            let p = app
                .signup(&format!("A{i}"), "Pat", &format!("p{i}@example.com"))
                .await;
            enrol(&app, &p).await;
            people.push(p);
        }
        for _ in 0..3 {
            app.age_sms_codes(31).await;
            for p in &people {
                let (s, v) = app
                    .post("/api/v1/me/reauthenticate/sms", &p.token, json!({}))
                    .await;
                assert_eq!(s, StatusCode::ACCEPTED, "{v}");
            }
        }
        app.wait_for_sms(20).await;
        app.age_sms_codes(31).await;
        let (s, v) = app
            .post("/api/v1/me/reauthenticate/sms", &people[0].token, json!({}))
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::TOO_MANY_REQUESTS, "sms_rate_limited")
        );
    }
);

/// The statuses of requests sent at once.
async fn statuses_of(
    calls: impl Iterator<Item = impl std::future::Future<Output = (StatusCode, Value)>>,
) -> Vec<u16> {
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|(s, _)| s.as_u16())
        .collect()
}

both_backends!(
    parallel_requests_get_one_text_per_thirty_seconds,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        enrol(&app, &ada).await;
        app.age_sms_codes(3600).await;
        let ch = app.challenge("ada@example.com").await;
        let calls = (0..20).map(|_| text_login_code(&app, &ch));
        let statuses = statuses_of(calls).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            19,
            "{statuses:?}"
        );
        let mut c = app.app().store().read().await.unwrap();
        use sqlx::Row;
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sms_codes WHERE purpose = 'verify'")
            .fetch_one(&mut *c)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, 1, "one code was made");
        // Step-up texts from several challenges' worth of requests: the same one per 30 s.
        app.age_sms_codes(3600).await;
        let calls =
            (0..20).map(|_| app.post("/api/v1/me/reauthenticate/sms", &ada.token, json!({})));
        let statuses = statuses_of(calls).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            1,
            "{statuses:?}"
        );
        // And from separate login challenges at once.
        app.age_sms_codes(3600).await;
        let mut challenges = Vec::new();
        for _ in 0..5 {
            challenges.push(app.challenge("ada@example.com").await);
        }
        let calls = challenges.iter().map(|ch| text_login_code(&app, ch));
        let statuses = statuses_of(calls).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            1,
            "{statuses:?}"
        );
    }
);
