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
        (StatusCode::OK, Some(3)),
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
    // A login the IdP made is renamed by it, within the verified domains; a login of its own
    // changes its email itself.
    let renamed = user("grace.hopper@acme.test", "g1");
    let (s, v) = scim(
        &app,
        Method::PUT,
        &format!("{users}/{id}"),
        secret,
        Some(renamed),
    )
    .await;
    assert_eq!(
        (s, v["userName"].as_str()),
        (StatusCode::OK, Some("grace.hopper@acme.test")),
        "{v}"
    );
    let outside = user("grace@elsewhere.test", "g1");
    let (s, v) = scim(
        &app,
        Method::PUT,
        &format!("{users}/{id}"),
        secret,
        Some(outside),
    )
    .await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue")),
        "{v}"
    );
    let ada_user = format!("{users}/{}", ada.membership);
    let rename_ada =
        patch(json!([{ "op": "replace", "path": "userName", "value": "ada@acme.test" }]));
    let (s, v) = scim(&app, Method::PATCH, &ada_user, secret, rename_ada).await;
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

    // Bob is the Security Contact: his first suspension hands it back to the Owner.
    let (s, v) = app.put_security_contact(&ada, &bob.membership).await;
    assert_eq!(s, StatusCode::OK, "{v}");
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
    assert_eq!(app.security_contact(&ada).await["email"], "ada@example.com");
    app.wait_for_email("bob@acme.test", "The Security Contact of Acme changed")
        .await;
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

/// The role of `email` in Ada's account.
async fn role_of(app: &TestApp, ada: &Login, email: &str) -> String {
    let m = app.member(ada, email).await;
    m["role"]["key"].as_str().unwrap().to_owned()
}

async fn groups_grant_roles_only_through_the_connections_mappings(backend: Backend) {
    let Some(w) = super::setup::World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let mappings = json!({"group_mappings": [{"group": "admins", "role": "admin"}]});
    let (s, v) = app
        .update_sso_connection(ada, &w.connection, mappings)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t = token(app, ada).await;
    let secret = t["secret"].as_str().unwrap();
    let (s, grace) = scim(
        app,
        Method::POST,
        &format!("{}/Users", base(ada)),
        secret,
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "grace@acme.test" })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{grace}");
    let gid = grace["id"].as_str().unwrap().to_owned();
    // The login SCIM made signs in through the account's IdP, as the same member.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/app");
    assert_eq!(role_of(app, ada, "grace@acme.test").await, "analyst");

    let groups = format!("{}/Groups", base(ada));
    // A member that is not a User here: refused, nothing stored.
    let bad = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "admins",
        "members": [{ "value": ada.person }] });
    let (s, v) = scim(app, Method::POST, &groups, secret, Some(bad)).await;
    assert_eq!(
        (s, v["scimType"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidValue")),
        "{v}"
    );
    let (_, v) = app.get(&groups, secret).await;
    assert_eq!(v["totalResults"], 0, "{v}");
    // An unmapped group (with Entra's extension, kept) grants nothing.
    let (s, marketing) = scim(
        app,
        Method::POST,
        &groups,
        secret,
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:extension:ADSCIM:2.0:Group"],
            "displayName": "marketing", "members": [{ "value": gid }],
            "urn:ietf:params:scim:schemas:extension:ADSCIM:2.0:Group": { "mailNickname": "marketing" },
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{marketing}");
    assert_eq!(
        marketing["urn:ietf:params:scim:schemas:extension:ADSCIM:2.0:Group"]["mailNickname"],
        "marketing"
    );
    assert_eq!(role_of(app, ada, "grace@acme.test").await, "analyst");
    // The mapped group: Admin; Entra's remove by value, Okta's add, a filtered remove, PUT.
    let (s, admins) = scim(
        app,
        Method::POST,
        &groups,
        secret,
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "admins", "members": [{ "value": gid }] })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{admins}");
    assert_eq!(role_of(app, ada, "grace@acme.test").await, "admin");
    let admins_url = format!("{groups}/{}", admins["id"].as_str().unwrap());
    let steps = [
        (
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": gid }] }]),
            "analyst",
        ),
        (
            json!([{ "op": "add", "path": "members", "value": [{ "value": gid, "display": "grace@acme.test" }] }]),
            "admin",
        ),
        (
            json!([{ "op": "remove", "path": format!("members[value eq \"{gid}\"]") }]),
            "analyst",
        ),
    ];
    for (ops, role) in steps {
        let (s, v) = scim(app, Method::PATCH, &admins_url, secret, patch(ops.clone())).await;
        assert_eq!(s, StatusCode::OK, "{ops}: {v}");
        assert_eq!(role_of(app, ada, "grace@acme.test").await, role, "{ops}");
    }
    let put = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "admins", "members": [{ "value": gid }] });
    let (s, v) = scim(app, Method::PUT, &admins_url, secret, Some(put)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(role_of(app, ada, "grace@acme.test").await, "admin");
    let (s, v) = scim(
        app,
        Method::GET,
        &format!("{}/Users/{gid}", base(ada)),
        secret,
        None,
    )
    .await;
    assert_eq!(
        (s, v["groups"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    let url = reqwest::Url::parse_with_params(
        &app.url(&groups),
        &[
            ("filter", r#"displayName eq "admins""#),
            ("excludedAttributes", "members"),
        ],
    )
    .unwrap();
    let v: Value = app
        .client
        .get(url)
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["totalResults"], 1, "{v}");
    assert!(v["Resources"][0].get("members").is_none(), "{v}");
    // A removed mapped group takes its role back.
    assert_eq!(
        scim(app, Method::DELETE, &admins_url, secret, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(role_of(app, ada, "grace@acme.test").await, "analyst");
    let changed = app.audit_events(ada, "action=member.role_changed").await;
    assert!(
        changed["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_key_id"] == t["id"]),
        "{changed}"
    );
}
watchword_testkit::on_both_backends!(
    scim_groups,
    groups_grant_roles_only_through_the_connections_mappings
);

/// PyPI `scim2-tester` (through `scim2-cli`) against the account's endpoint: every check passes
/// (a skipped one counts as failed), through the proxy that keeps user names in the domain.
async fn scim2_tester_passes_every_check(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let t = token(&app, &ada).await;
    let (_, status) = app
        .get(
            &format!("/api/v1/accounts/{}/sso/scim", ada.account),
            &ada.token,
        )
        .await;
    let proxy =
        watchword_testkit::sso::ScimProxy::start(status["base_url"].as_str().unwrap(), "acme.test");
    let header = format!("Authorization: Bearer {}", t["secret"].as_str().unwrap());
    // scim2-cli's command, run by the interpreter (not through PATH).
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from scim2_cli import cli; sys.argv[0] = 'scim2'; cli()",
            "--url",
            &proxy.url,
            "test",
            "--verbose",
        ])
        .env("SCIM_CLI_HEADERS", &header)
        .output()
        .await
        .expect("python3 runs scim2-cli (scripts/test installs scim2-cli and scim2-tester)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("SKIPPED"), "{text}");
}
watchword_testkit::on_both_backends!(scim2_tester, scim2_tester_passes_every_check);

/// The second node's answer to `token` on `path`.
async fn on(app: &TestApp, base: &str, path: &str, token: &str) -> StatusCode {
    let res = app
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send();
    res.await.unwrap().status()
}

/// `active=false` through one node is refused on the other within a second, its caches holding
/// entries for ten minutes: by notification, not by expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_reaches_every_node_within_a_second() {
    let long_caches = |c: &mut watchword::Config| {
        c.auth_cache_ttl_ms = 600_000;
        c.api_key_cache_ttl_ms = 600_000;
    };
    let dns = Dns::start();
    let Some(app) = super::spawn_tweaked(Backend::Postgres, &dns, long_caches).await else {
        return;
    };
    let second = app.spawn_node_with(long_caches).await;
    let ada = paid_acme_for_scim(&app, &dns).await;
    let bob = app.invite_and_accept(&ada, "bob@acme.test", "admin").await;
    app.enrol_totp(&bob).await;
    let key = api_key(&app, &bob).await;
    let t = token(&app, &ada).await;
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    // Both credentials are in the second node's caches.
    for cred in [&bob.token, &key] {
        assert_eq!(on(&app, &second.base, &members, cred).await, StatusCode::OK);
    }
    let user = format!("{}/Users/{}", base(&ada), bob.membership);
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let started = std::time::Instant::now();
    let (s, v) = scim(
        &app,
        Method::PATCH,
        &user,
        t["secret"].as_str().unwrap(),
        off,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for cred in [&bob.token, &key] {
        while on(&app, &second.base, &members, cred).await == StatusCode::OK {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "still served after 1 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(1),
        "refused on the other node after {took:?}"
    );
    eprintln!("suspension refused on the second node after {took:?}");
}

/// Replays a recorded IdP sequence (`recordings/scim-*.json`) against Acme with the mapping
/// `admins → admin`: each answer's status and fields, and the membership each step leaves.
async fn replay(backend: Backend, recording: &str) {
    let Some(w) = super::setup::World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let mappings = json!({"group_mappings": [{"group": "admins", "role": "admin"}]});
    assert_eq!(
        app.update_sso_connection(ada, &w.connection, mappings)
            .await
            .0,
        StatusCode::OK
    );
    let t = token(app, ada).await;
    let secret = t["secret"].as_str().unwrap();
    let recorded: Value = serde_json::from_str(recording).unwrap();
    let mut saved: Vec<(String, String)> = Vec::new();
    let fill = |s: &str, saved: &[(String, String)]| {
        saved
            .iter()
            .fold(s.to_owned(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
    };
    for step in recorded["steps"].as_array().unwrap() {
        let request = fill(step["request"].as_str().unwrap(), &saved);
        let (method, path) = request.split_once(' ').unwrap();
        let body = step
            .get("body")
            .map(|b| serde_json::from_str(&fill(&b.to_string(), &saved)).unwrap());
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (s, v) = scim(app, method, &format!("{}{path}", base(ada)), secret, body).await;
        assert_eq!(
            s.as_u16() as u64,
            step["status"].as_u64().unwrap(),
            "{request}: {v}"
        );
        if let Some(name) = step["save"].as_str() {
            saved.push((name.to_owned(), v["id"].as_str().unwrap().to_owned()));
        }
        for (k, want) in step["expect"].as_object().into_iter().flatten() {
            assert_eq!(&v[k], want, "{request}: {k} in {v}");
        }
        match step.get("member") {
            None => {}
            Some(Value::Null) => {
                let (_, all) = app
                    .get(
                        &format!("/api/v1/accounts/{}/members", ada.account),
                        &ada.token,
                    )
                    .await;
                let emails: Vec<&str> = all
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|m| m["email"].as_str())
                    .collect();
                assert_eq!(emails, ["ada@example.com"], "{request}");
            }
            Some(want) => {
                let m = app.member(ada, want["email"].as_str().unwrap()).await;
                assert_eq!(m["role"]["key"], want["role"], "{request}: {m}");
                let active = m["suspended_at"].is_null() && m["status"] == "active";
                assert_eq!(Some(active), want["active"].as_bool(), "{request}: {m}");
            }
        }
    }
}

async fn okta_recording(backend: Backend) {
    replay(backend, include_str!("recordings/scim-okta.json")).await
}
watchword_testkit::on_both_backends!(scim_okta, okta_recording);

async fn entra_recording(backend: Backend) {
    replay(backend, include_str!("recordings/scim-entra.json")).await
}
watchword_testkit::on_both_backends!(scim_entra, entra_recording);

/// The token acts with its maker's authority: a maker with `sso:manage` but without
/// `billing:manage` cannot suspend, rename or remove a member who holds it; two tokens made at
/// once leave one working.
async fn the_token_changes_nobody_above_its_maker(backend: Backend) {
    let dns = Dns::start();
    let Some(app) = spawn(backend, &dns).await else {
        return;
    };
    let ada = paid_acme_for_scim(&app, &dns).await;
    let carol = app
        .invite_and_accept(&ada, "carol@acme.test", "analyst")
        .await;
    app.enrol_totp(&carol).await;
    grant_sso_manage(&app, &ada, &carol.membership).await;
    let (s, role) = app
        .post(
            &format!("/api/v1/accounts/{}/roles", ada.account),
            &ada.token,
            json!({"name": "Billing", "permissions": ["billing:manage", "users:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    let dave = app
        .invite_and_accept(&ada, "dave@acme.test", "analyst")
        .await;
    app.enrol_totp(&dave).await;
    let (s, v) = app
        .set_role(&ada, &dave.membership, role["key"].as_str().unwrap())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Two creates at once: one token.
    let path = format!("/api/v1/accounts/{}/sso/scim/tokens", ada.account);
    let (a, b) = tokio::join!(
        app.post(&path, &carol.token, json!({})),
        app.post(&path, &carol.token, json!({}))
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} {}", a.1, b.1);
    let t = if a.0 == StatusCode::CREATED { a.1 } else { b.1 };
    let secret = t["secret"].as_str().unwrap();
    let user = format!("{}/Users/{}", base(&ada), dave.membership);
    let off = patch(json!([{ "op": "replace", "path": "active", "value": false }]));
    let (s, v) = scim(&app, Method::PATCH, &user, secret, off).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        scim(&app, Method::DELETE, &user, secret, None).await.0,
        StatusCode::FORBIDDEN
    );
    let members = format!("/api/v1/accounts/{}/members", ada.account);
    let (s, v) = app.get(&members, &dave.token).await;
    assert_eq!(s, StatusCode::OK, "Dave untouched: {v}");
}
watchword_testkit::on_both_backends!(scim_maker_rank, the_token_changes_nobody_above_its_maker);
