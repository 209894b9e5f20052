//! SSO-only: members in the verified domains reach the account only with a session from its IdP
//! (their own second factor still asked when the IdP's MFA is not trusted); the Owner's password
//! + MFA login stays while break-glass is on; turning it on needs a ready connection.

use super::setup::World;
use reqwest::StatusCode;
use serde_json::json;
use watchword_testkit::{Backend, TestApp, code, first_cookie};

async fn members_status(
    app: &TestApp,
    account: &str,
    cookie: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/accounts/{account}/members")));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let s = res.status();
    let v: serde_json::Value = res.json().await.unwrap_or_default();
    (s, code(&v).to_owned())
}

async fn sso_only_lets_members_in_through_the_idp_alone(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let grace = app.invite_and_accept(ada, "grace@acme.test", "admin").await;
    let secret = app.enrol_totp(&grace).await;
    let enforcement = format!("/api/v1/accounts/{}/sso/enforcement", ada.account);
    let put = |body: serde_json::Value| {
        app.call(
            reqwest::Method::PUT,
            &enforcement,
            Some(&ada.token),
            Some(body),
        )
    };
    // Not ready without an enabled connection.
    app.update_sso_connection(ada, &w.connection, json!({"enabled": false}))
        .await;
    let (s, v) = put(json!({"sso_required": true})).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "sso_not_ready"));
    app.update_sso_connection(ada, &w.connection, json!({"enabled": true}))
        .await;
    // Before: Grace's password + MFA session works.
    assert_eq!(
        members_status(app, &ada.account, None, Some(&grace.token))
            .await
            .0,
        StatusCode::OK
    );
    // Grace links her own login to the IdP (from her own session; her factor is asked after).
    let res = app.sso_link(&grace, &w.idp, "grace@acme.test").await;
    assert_eq!(res.status(), StatusCode::OK);
    // A key Grace made before: SSO-only does not reach it by itself, so turning it on lists it.
    let (s, key) = app
        .post(
            &format!("/api/v1/accounts/{}/api-keys", ada.account),
            &grace.token,
            json!({"name": "sync", "scopes": ["members:read"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let (s, v) = put(json!({"sso_required": true})).await;
    assert_eq!(
        (s, v["sso_required"].as_bool(), v["break_glass"].as_bool()),
        (StatusCode::OK, Some(true), Some(true)),
        "{v}"
    );
    let covered = v["covered_credentials"].as_array().unwrap();
    assert_eq!(covered.len(), 1, "{v}");
    assert_eq!(
        (
            covered[0]["kind"].as_str(),
            covered[0]["id"].as_str(),
            covered[0]["made_by"].as_str()
        ),
        (Some("api_key"), key["id"].as_str(), Some("grace@acme.test"))
    );
    app.wait_event(ada, "sso.enforcement_changed").await;
    // Now her password session is refused in this account; Ada (not in acme.test) goes on.
    let (s, c) = members_status(app, &ada.account, None, Some(&grace.token)).await;
    assert_eq!((s, c.as_str()), (StatusCode::FORBIDDEN, "sso_required"));
    assert_eq!(
        members_status(app, &ada.account, None, Some(&ada.token))
            .await
            .0,
        StatusCode::OK
    );
    // Through the IdP: her own factor is still asked (the IdP's MFA is not trusted), and the
    // session that follows counts as the IdP's.
    let res = app
        .sso_sign_in(&w.idp, "grace@acme.test", "grace@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .answer_login_page(&res.text().await.unwrap(), &secret)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = first_cookie(&res).expect("a session");
    assert_eq!(
        members_status(app, &ada.account, Some(&cookie), None)
            .await
            .0,
        StatusCode::OK
    );
    // An invitation to the domain is accepted through the IdP, not by its link.
    let (s, _) = app.invite(ada, "lin@acme.test", "analyst").await;
    assert_eq!(s, StatusCode::CREATED);
    let token = app.invitation_token("lin@acme.test").await;
    let body = json!({"token": token, "name": "Lin", "password": watchword_testkit::PASSWORD, "session_mode": "token"});
    let (s, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(body),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "sso_required"));
    let res = app
        .sso_sign_in(&w.idp, "lin@acme.test", "lin@acme.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let lin = app.member(ada, "lin@acme.test").await;
    assert_eq!(
        (lin["status"].as_str(), lin["role"]["key"].as_str()),
        (Some("active"), Some("analyst"))
    );
    // Break-glass: as Owner, Grace's password + MFA session passes, until it is turned off.
    let (s, _) = app.transfer_ownership(ada, &grace.membership).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        members_status(app, &ada.account, None, Some(&grace.token))
            .await
            .0,
        StatusCode::OK
    );
    // Grace may not turn break-glass off from the very password session it lets in.
    let body = Some(json!({"sso_required": true, "break_glass": false}));
    let (s, v) = app
        .call(reqwest::Method::PUT, &enforcement, Some(&grace.token), body)
        .await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "sso_lockout"));
    // Ada, an Admin now, manages SSO only once the Owner gives her `sso:manage`.
    let (s, v) = put(json!({"sso_required": true, "break_glass": false})).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "forbidden"));
    super::setup::grant_sso_manage(app, &grace, &ada.membership).await;
    let (s, _) = put(json!({"sso_required": true, "break_glass": false})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, c) = members_status(app, &ada.account, None, Some(&grace.token)).await;
    assert_eq!((s, c.as_str()), (StatusCode::FORBIDDEN, "sso_required"));
    // A downgrade to the free plan routes nobody to the IdP, so it holds nobody to it.
    app.set_plan(ada, "free").await;
    assert_eq!(
        members_status(app, &ada.account, None, Some(&grace.token))
            .await
            .0,
        StatusCode::OK
    );
    app.set_plan(ada, "paid").await;
    // Ada (an Admin now, outside the verified domains) turns SSO-only off.
    let (s, _) = put(json!({"sso_required": false})).await;
    assert_eq!(s, StatusCode::OK);
    let actions = app.audit_actions(&ada.token, &ada.account).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "sso.enforcement_changed")
            .count(),
        3
    );
}
watchword_testkit::on_both_backends!(sso_only, sso_only_lets_members_in_through_the_idp_alone);

/// An HTML attribute's text as the browser reads it.
fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&quot;", "\"")
}

/// The value of the first `attr="…"` after `marker` in `html`.
fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let rest = &html[html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"))..];
    let key = format!("{attr}=\"");
    let rest = &rest[rest.find(&key).unwrap() + key.len()..];
    unescape(&rest[..rest.find('"').unwrap()])
}

/// In the console, a member whose password session an SSO-only account refuses is shown the way:
/// "Link your company sign-in" takes her (signed in as herself, with her factor) to the IdP once,
/// and the identity is linked to her.
async fn the_refused_page_links_the_company_sign_in(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (app, ada) = (&w.app, &w.ada);
    let grace = app.invite_and_accept(ada, "grace@acme.test", "admin").await;
    let secret = app.enrol_totp(&grace).await;
    let enforcement = format!("/api/v1/accounts/{}/sso/enforcement", ada.account);
    let (s, v) = app
        .call(
            reqwest::Method::PUT,
            &enforcement,
            Some(&ada.token),
            Some(json!({"sso_required": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Grace's console session: her password, then her factor.
    let res = app
        .client
        .post(app.url("/login"))
        .header("origin", app.url(""))
        .form(&[
            ("email", "grace@acme.test"),
            ("password", watchword_testkit::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    let res = app.answer_login_page(&page, &secret).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = first_cookie(&res).expect("a session");
    let members = format!("/accounts/{}/members", ada.account);
    let res = app
        .client
        .get(app.url(&members))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in through your company"), "{html}");
    let csrf = attr_after(&html, r#"action="/accounts/"#, "value");
    let res = app
        .client
        .post(app.url(&format!("/accounts/{}/sso/link", ada.account)))
        .header("cookie", &session)
        .header("origin", app.url(""))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let state = first_cookie(&res).expect("the state cookie");
    let html = res.text().await.unwrap();
    let to_idp = attr_after(&html, r#"id="idp-link""#, "href");
    let back = w.idp.sign_in(&to_idp, "grace@acme.test").await;
    let res = app
        .client
        .get(&back)
        .header("cookie", format!("{state}; {session}"))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let linked = app.wait_event(ada, "sso.identity_linked").await;
    assert_eq!(linked["actor_email"], "grace@acme.test", "{linked}");
}
watchword_testkit::on_both_backends!(
    sso_link_from_the_console,
    the_refused_page_links_the_company_sign_in
);
