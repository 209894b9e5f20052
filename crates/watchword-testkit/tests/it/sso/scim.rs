//! SCIM 2.0 provisioning: the token's reach, Users created only in the account's verified
//! domains, suspension by the shapes Okta and Entra send, an Owner's deactivation never undone,
//! the Owner never suspended or removed, and removal taking the member's credentials.

use super::setup::{grant_sso_manage, paid_acme_for_scim};
use super::spawn;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::sso::Dns;
use watchword_testkit::{Backend, Login, TestApp, code};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn base(who: &Login) -> String {
    format!("/scim/v2/accounts/{}", who.account)
}

async fn scim(
    app: &TestApp,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(m, path, Some(token), body).await
}

/// The account's SCIM token, made by `by` (checked 201).
async fn token(app: &TestApp, by: &Login) -> Value {
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/sso/scim/tokens", by.account),
            &by.token,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({ "schemas": [PATCH], "Operations": ops }))
}

/// A member's API key with a read scope on members (checked 201).
async fn api_key(app: &TestApp, who: &Login) -> String {
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/api-keys", who.account),
            &who.token,
            json!({ "name": "reader", "scopes": ["members:read"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["secret"].as_str().unwrap().to_owned()
}

async fn the_token_reaches_its_account_alone(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    // Free plan: no SCIM.
    let free = app.signup("Freeco", "Fay", "fay@example.com").await;
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/sso/scim/tokens", free.account),
            &free.token,
            json!({}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "plan_required"));

    let ada = paid_acme_for_scim(&app, &dns).await;
    let t = token(&app, &ada).await;
    let secret = t["secret"].as_str().unwrap();
    assert!(secret.starts_with("ww_"), "a key like every key: {secret}");
    // One working token: a second is a rotation.
    let (s, v) = app
        .post(
            &format!("/api/v1/accounts/{}/sso/scim/tokens", ada.account),
            &ada.token,
            json!({}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "scim_token_exists"));
    let (s, v) = app
        .get(
            &format!("/api/v1/accounts/{}/sso/scim", ada.account),
            &ada.token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], true);
    assert!(v["base_url"].as_str().unwrap().ends_with(&base(&ada)));
    // SCIM only: nothing on the API, nothing in another account, no key of another kind here.
    assert_eq!(app.whoami(secret).await.0, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .get(&format!("/api/v1/accounts/{}/members", ada.account), secret)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = scim(
        &app,
        Method::GET,
        &format!("{}/Users", base(&free)),
        secret,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let key = api_key(&app, &ada).await;
    let (s, v) = scim(
        &app,
        Method::GET,
        &format!("{}/Users", base(&ada)),
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(
        v["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    let res = app
        .client
        .get(app.url(&format!("{}/ServiceProviderConfig", base(&ada))))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let (s, v) = scim(
        &app,
        Method::GET,
        &format!("{}/Schemas", base(&ada)),
        secret,
        None,
    )
    .await;
    assert_eq!(
        (s, v["totalResults"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );

    // Rotation: both work during the grace period; revoking ends one at once.
    let rotate = format!(
        "/api/v1/accounts/{}/sso/scim/tokens/{}/rotate",
        ada.account,
        t["id"].as_str().unwrap()
    );
    let (s, new) = app
        .post(&rotate, &ada.token, json!({ "grace_period_seconds": 3600 }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{new}");
    let users = format!("{}/Users", base(&ada));
    for s in [secret, new["secret"].as_str().unwrap()] {
        assert_eq!(
            scim(&app, Method::GET, &users, s, None).await.0,
            StatusCode::OK
        );
    }
    let revoke = format!(
        "/api/v1/accounts/{}/sso/scim/tokens/{}",
        ada.account,
        t["id"].as_str().unwrap()
    );
    assert_eq!(
        app.delete(&revoke, &ada.token).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        scim(&app, Method::GET, &users, secret, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scim(
            &app,
            Method::GET,
            &users,
            new["secret"].as_str().unwrap(),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let events = app.audit_events(&ada, "action=scim.token_rotated").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
}
watchword_testkit::on_both_backends!(scim_token_reach, the_token_reaches_its_account_alone);

async fn users_are_provisioned_within_the_verified_domains(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let t = token(&app, &ada).await;
    let secret = t["secret"].as_str().unwrap();
    let users = format!("{}/Users", base(&ada));
    let user = |email: &str, external: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": email, "externalId": external,
            "name": { "givenName": "Grace", "familyName": "Hopper" },
            "emails": [{ "value": email, "type": "work", "primary": true }],
            "title": "Rear admiral", "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Navy", "manager": { "value": "x1" } },
        })
    };
    // Outside the account's verified domains: refused, nothing written.
    let (s, v) = scim(
        &app,
        Method::POST,
        &users,
        secret,
        Some(user("grace@elsewhere.test", "g0")),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue")),
        "{v}"
    );
    let (s, v) = scim(
        &app,
        Method::POST,
        &users,
        secret,
        Some(user("grace@acme.test", "g1")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["userName"].as_str(), v["active"].as_bool()),
        (Some("grace@acme.test"), Some(true))
    );
    assert_eq!(
        v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Navy"
    );
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, v) = scim(
        &app,
        Method::POST,
        &users,
        secret,
        Some(user("Grace@ACME.test", "g1")),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::CONFLICT, Some("uniqueness")),
        "{v}"
    );
    for (filter, n) in [
        (r#"userName eq "GRACE@acme.test""#, 1),
        (r#"externalId eq "g1""#, 1),
        (r#"emails.value co "race@""#, 1),
        (r#"userName sw "grace" and active eq true"#, 1),
        (r#"userName eq "nobody@acme.test" or displayName pr"#, 2),
        (r#"meta.lastModified gt "2000-01-01T00:00:00Z""#, 2),
        (r#"emails[value eq "grace@acme.test"]"#, 1),
    ] {
        let url = reqwest::Url::parse_with_params(&app.url(&users), &[("filter", filter)]).unwrap();
        let res = app
            .client
            .get(url)
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        let s = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            (s, v["totalResults"].as_i64()),
            (StatusCode::OK, Some(n)),
            "{filter}: {v}"
        );
    }
    let (s, v) = app
        .get(&format!("{users}?filter=userName%20zz%20%22x%22"), secret)
        .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidFilter")),
        "{v}"
    );
    let (s, v) = app
        .get(&format!("{users}?startIndex=2&count=1"), secret)
        .await;
    assert_eq!(
        (s, v["itemsPerPage"].as_i64(), v["totalResults"].as_i64()),
        (StatusCode::OK, Some(1), Some(2)),
        "{v}"
    );
    let (s, v) = app
        .get(&format!("{users}/{id}?attributes=userName"), secret)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        v.get("title").is_none() && v["userName"] == "grace@acme.test",
        "{v}"
    );
    // Every SCIM write is audited with the token as its actor.
    let events = app.audit_events(&ada, "action=scim.user_provisioned").await;
    assert_eq!(events["events"][0]["actor_key_id"], t["id"], "{events}");
    // A stale version is refused.
    let res = app
        .client
        .put(app.url(&format!("{users}/{id}")))
        .bearer_auth(secret)
        .header("if-match", "W/\"stale\"")
        .json(&user("grace@acme.test", "g2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    // The login email is the person's to change.
    let (s, v) = scim(
        &app,
        Method::PUT,
        &format!("{users}/{id}"),
        secret,
        Some(user("other@acme.test", "g1")),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mutability")),
        "{v}"
    );
}
watchword_testkit::on_both_backends!(
    scim_users,
    users_are_provisioned_within_the_verified_domains
);

async fn suspension_stops_every_credential_and_never_undoes_an_owner(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let bob = app.invite_and_accept(&ada, "bob@acme.test", "admin").await;
    app.enrol_totp(&bob).await;
    let key = api_key(&app, &bob).await;
    let t = token(&app, &ada).await;
    let secret = t["secret"].as_str().unwrap();
    let user = format!("{}/Users/{}", base(&ada), bob.membership);
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    assert_eq!(app.get(&members, &bob.token).await.0, StatusCode::OK);
    assert_eq!(app.get(&members, &key).await.0, StatusCode::OK);

    // Each shape IdPs send for active=false suspends; true restores.
    let shapes = [
        json!([{ "op": "replace", "value": { "active": false } }]),
        json!([{ "op": "Replace", "path": "active", "value": "False" }]),
        json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": false }]),
    ];
    for shape in shapes {
        let (s, v) = scim(&app, Method::PATCH, &user, secret, patch(shape.clone())).await;
        assert_eq!(
            (s, v["active"].as_bool()),
            (StatusCode::OK, Some(false)),
            "{shape}: {v}"
        );
        assert_ne!(
            app.get(&members, &bob.token).await.0,
            StatusCode::OK,
            "{shape}"
        );
        assert_ne!(app.get(&members, &key).await.0, StatusCode::OK, "{shape}");
        let (s, v) = scim(
            &app,
            Method::PATCH,
            &user,
            secret,
            patch(json!([{ "op": "replace", "path": "active", "value": "True" }])),
        )
        .await;
        assert_eq!(
            (s, v["active"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{v}"
        );
        assert_eq!(
            app.get(&members, &bob.token).await.0,
            StatusCode::OK,
            "{shape}"
        );
        assert_eq!(app.get(&members, &key).await.0, StatusCode::OK, "{shape}");
    }
    // An Owner deactivates Bob by hand: the IdP's periodic active=true is a 409, nothing changes.
    let deactivate = format!("{members}/{}/deactivate", bob.membership);
    let (s, v) = app.post(&deactivate, &ada.token, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = scim(
        &app,
        Method::PATCH,
        &user,
        secret,
        patch(json!([{ "op": "replace", "path": "active", "value": true }])),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("Owner deactivated"),
        "{v}"
    );
    assert_ne!(app.get(&members, &bob.token).await.0, StatusCode::OK);
    // The Owner is never suspended or removed by the IdP.
    let owner = format!("{}/Users/{}", base(&ada), ada.membership);
    let (s, v) = scim(
        &app,
        Method::PATCH,
        &owner,
        secret,
        patch(json!([{ "op": "replace", "path": "active", "value": false }])),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        scim(&app, Method::DELETE, &owner, secret, None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(app.get(&members, &ada.token).await.0, StatusCode::OK);
}
watchword_testkit::on_both_backends!(
    scim_suspension,
    suspension_stops_every_credential_and_never_undoes_an_owner
);

async fn removal_takes_credentials_and_a_token_follows_its_maker(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let bob = app.invite_and_accept(&ada, "bob@acme.test", "admin").await;
    app.enrol_totp(&bob).await;
    let key = api_key(&app, &bob).await;
    let carol = app
        .invite_and_accept(&ada, "carol@acme.test", "analyst")
        .await;
    app.enrol_totp(&carol).await;
    grant_sso_manage(&app, &ada, &carol.membership).await;
    let t = token(&app, &carol).await;
    let secret = t["secret"].as_str().unwrap();
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    // The Security Contact removed by the IdP: the Owner takes over in the same request.
    let (s, v) = app.put_security_contact(&ada, &bob.membership).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v2) = scim(
        &app,
        Method::DELETE,
        &format!("{}/Users/{}", base(&ada), bob.membership),
        secret,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v2}");
    assert_eq!(
        app.get(&members, &key).await.0,
        StatusCode::UNAUTHORIZED,
        "the key was revoked"
    );
    assert_ne!(app.get(&members, &bob.token).await.0, StatusCode::OK);
    let c = app.security_contact(&ada).await;
    assert_eq!(c["email"], "ada@example.com", "{c}");
    let (s, _) = scim(
        &app,
        Method::GET,
        &format!("{}/Users/{}", base(&ada), bob.membership),
        secret,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Carol loses sso:manage: her token stops with her authority.
    let (s, v) = app.set_role(&ada, &carol.membership, "analyst").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = scim(
        &app,
        Method::GET,
        &format!("{}/Users", base(&ada)),
        secret,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
}
watchword_testkit::on_both_backends!(
    scim_removal,
    removal_takes_credentials_and_a_token_follows_its_maker
);
