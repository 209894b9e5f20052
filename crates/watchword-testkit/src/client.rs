//! Typed calls to the API for the tests: one method per endpoint the tests use often, so a test
//! says what it does (`app.transfer_ownership(&ada, &grace.membership)`) and a path is spelled
//! once. Each returns the status and the JSON body unless its name says it checks the status.

use crate::{Login, PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn account(by: &Login, rest: &str) -> String {
    format!("/api/v1/accounts/{}{rest}", by.account)
}

impl TestApp {
    /// Ada signs up as the Owner of Acme and invites Grace as an Admin: the two logins.
    pub async fn ada_and_grace(&self) -> (Login, Login) {
        let ada = self.signup("Acme", "Ada Lovelace", "ada@example.com").await;
        let grace = self
            .invite_and_accept(&ada, "grace@example.com", "admin")
            .await;
        (ada, grace)
    }

    /// A browser-style login (cookie session) with the right password: the raw answer.
    pub async fn cookie_login(&self, email: &str) -> reqwest::Response {
        let body = json!({ "email": email, "password": PASSWORD, "session_mode": "cookie" });
        let req = self.client.post(self.url("/api/v1/login")).json(&body);
        req.send().await.expect("request sent")
    }

    /// The account's audit log exported as `format` (`csv` or `jsonl`): the raw answer.
    pub async fn export_audit(&self, by: &Login, format: &str) -> reqwest::Response {
        let path = account(by, &format!("/audit-events?format={format}"));
        let req = self.client.get(self.url(&path)).bearer_auth(&by.token);
        req.send().await.expect("request sent")
    }

    pub async fn whoami(&self, token: &str) -> (StatusCode, Value) {
        self.get("/api/v1/whoami", token).await
    }

    /// The account's audit events matching `query` (e.g. `action=member.removed`), checked 200.
    pub async fn audit_events(&self, by: &Login, query: &str) -> Value {
        let (s, v) = self
            .get(&account(by, &format!("/audit-events?{query}")), &by.token)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// The newest audit event with `action`, waited for (bounded) as events may follow a reply.
    pub async fn wait_event(&self, by: &Login, action: &str) -> Value {
        for _ in 0..200 {
            let v = self.audit_events(by, &format!("action={action}")).await;
            if let Some(e) = v["events"].as_array().and_then(|a| a.first()) {
                return e.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no {action} event");
    }

    /// The account's members (invitations included) as `by` sees them, checked 200.
    pub async fn members(&self, by: &Login) -> Vec<Value> {
        let (s, v) = self.get(&account(by, "/members"), &by.token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v.as_array().expect("a list").clone()
    }

    /// The member with `email` as `by` sees them.
    pub async fn member(&self, by: &Login, email: &str) -> Value {
        let all = self.members(by).await;
        let found = all.iter().find(|m| m["email"] == email);
        found
            .unwrap_or_else(|| panic!("{email} is not a member"))
            .clone()
    }

    pub async fn transfer_ownership(&self, by: &Login, to: &str) -> (StatusCode, Value) {
        let body = json!({ "member_id": to });
        self.post(&account(by, "/ownership-transfer"), &by.token, body)
            .await
    }

    /// Deactivates (`active` false) or reactivates a member.
    pub async fn set_member_active(
        &self,
        by: &Login,
        member: &str,
        active: bool,
    ) -> (StatusCode, Value) {
        let op = if active { "reactivate" } else { "deactivate" };
        let path = account(by, &format!("/members/{member}/{op}"));
        self.post(&path, &by.token, json!({})).await
    }

    pub async fn set_role(&self, by: &Login, member: &str, role: &str) -> (StatusCode, Value) {
        let path = account(by, &format!("/members/{member}"));
        let body = Some(json!({ "role": role }));
        self.call(Method::PATCH, &path, Some(&by.token), body).await
    }

    pub async fn remove_member(&self, by: &Login, member: &str) -> (StatusCode, Value) {
        let path = account(by, &format!("/members/{member}"));
        self.delete(&path, &by.token).await
    }

    pub async fn invite(&self, by: &Login, email: &str, role: &str) -> (StatusCode, Value) {
        let body = json!({ "email": email, "role": role });
        self.post(&account(by, "/invitations"), &by.token, body)
            .await
    }

    /// The account's Security Contact as `by` sees it, checked 200.
    pub async fn security_contact(&self, by: &Login) -> Value {
        let (s, v) = self.get(&account(by, "/security-contact"), &by.token).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    pub async fn put_security_contact(&self, by: &Login, member: &str) -> (StatusCode, Value) {
        let body = Some(json!({ "member_id": member }));
        let path = account(by, "/security-contact");
        self.call(Method::PUT, &path, Some(&by.token), body).await
    }

    pub async fn revoke_session(&self, token: &str, id: &str) -> StatusCode {
        let path = format!("/api/v1/me/sessions/{id}");
        self.call(Method::DELETE, &path, Some(token), None).await.0
    }

    /// Confirms it is the person with the password again (a recent sign-in).
    pub async fn reauthenticate(&self, token: &str) -> StatusCode {
        let body = json!({ "password": PASSWORD });
        self.post("/api/v1/me/reauthenticate", token, body).await.0
    }

    /// Enrols an authenticator app for `who` with the current code from Debian's oathtool;
    /// returns the base32 secret.
    pub async fn enrol_totp(&self, who: &Login) -> String {
        let body = json!({ "name": "Phone" });
        let (s, v) = self.post("/api/v1/me/mfa/totp", &who.token, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let secret = v["secret"].as_str().unwrap().to_owned();
        // The code at the server's clock (a test may have moved it).
        let now = self.app().now().0 / 1000;
        let body = json!({ "code": crate::oathtool_at(&secret, Some(now)) });
        let (s, v) = self
            .post("/api/v1/me/mfa/totp/confirm", &who.token, body)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        secret
    }

    /// A login with the right password by a person with a second factor: the challenge.
    pub async fn challenge(&self, email: &str) -> Value {
        let (s, v) = self.login(email, PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["mfa_required"], true, "{v}");
        assert!(v.get("session_token").is_none());
        v
    }

    /// The login's second step: a challenge answered by `method` with `code`.
    pub async fn finish_login(&self, ch: &Value, method: &str, code: &str) -> (StatusCode, Value) {
        let body = json!({"challenge_id": ch["challenge_id"], "method": method, "code": code});
        self.call(Method::POST, "/api/v1/login/mfa", None, Some(body))
            .await
    }

    /// Sets the account's plan as the operator's billing does.
    pub async fn set_plan(&self, by: &Login, plan: &str) {
        let id = watchword_domain::AccountId::parse(&by.account).expect("account id");
        let plan = watchword_domain::Plan::parse(plan).expect("free or paid");
        self.app()
            .set_plan(id, plan, "test")
            .await
            .expect("plan set");
    }

    pub async fn add_sso_domain(&self, by: &Login, domain: &str) -> (StatusCode, Value) {
        let body = json!({ "domain": domain });
        self.post(&account(by, "/sso/domains"), &by.token, body)
            .await
    }

    pub async fn verify_sso_domain(&self, by: &Login, id: &str) -> (StatusCode, Value) {
        let path = account(by, &format!("/sso/domains/{id}/verify"));
        self.post(&path, &by.token, json!({})).await
    }

    pub async fn create_sso_connection(&self, by: &Login, body: Value) -> (StatusCode, Value) {
        self.post(&account(by, "/sso/connections"), &by.token, body)
            .await
    }

    pub async fn update_sso_connection(
        &self,
        by: &Login,
        id: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let path = account(by, &format!("/sso/connections/{id}"));
        self.call(Method::PATCH, &path, Some(&by.token), Some(body))
            .await
    }

    /// Where `email` signs in (`POST /api/v1/sso/start`): the raw answer, with `redirect_url`
    /// and the state cookie when it goes to an IdP.
    pub async fn sso_start(&self, email: &str) -> reqwest::Response {
        let body = json!({ "email": email });
        let req = self.client.post(self.url("/api/v1/sso/start")).json(&body);
        req.send().await.expect("request sent")
    }

    /// Signs `login` in at `idp` after asking where `email` signs in, as a browser would, and
    /// returns the answer to the provider's redirect back (the state cookie sent along).
    pub async fn sso_sign_in(
        &self,
        idp: &crate::sso::OidcIdp,
        email: &str,
        login: &str,
    ) -> reqwest::Response {
        let start = self.sso_start(email).await;
        assert_eq!(start.status(), StatusCode::OK);
        let state_cookie = first_cookie(&start).expect("the state cookie");
        let v: Value = start.json().await.expect("JSON");
        let to_idp = v["redirect_url"].as_str().expect("a redirect to the IdP");
        let back = idp.sign_in(to_idp, login).await;
        let req = self.client.get(&back).header("cookie", state_cookie);
        req.send().await.expect("request sent")
    }

    /// Answers a "Two-step verification" page (`page`, as an SSO sign-in ends on it) with the
    /// next TOTP of `secret`, as the page's form does: the answer (303 and a session when right).
    pub async fn answer_login_page(&self, page: &str, secret: &str) -> reqwest::Response {
        let challenge = challenge_in(page).expect("a challenge on the page");
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        let code = crate::oathtool_at(secret, Some(unix + 30));
        let form = [
            ("challenge_id", challenge.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ];
        let req = self.client.post(self.url("/login/mfa")).form(&form);
        req.send().await.expect("request sent")
    }

    /// Starts linking `who`'s own login to the account's IdP (`POST .../sso/link`): the answer,
    /// with the state cookie when it started.
    pub async fn sso_link_start(
        &self,
        who: &Login,
        account: &str,
    ) -> (StatusCode, Value, Option<String>) {
        let res = self
            .client
            .post(self.url(&format!("/api/v1/accounts/{account}/sso/link")))
            .bearer_auth(&who.token)
            .send()
            .await
            .expect("request sent");
        let cookie = first_cookie(&res);
        let status = res.status();
        (status, res.json().await.unwrap_or_default(), cookie)
    }

    /// Links `who`'s login to the account's OIDC IdP, signing in there as `login`: the answer
    /// of the callback.
    pub async fn sso_link(
        &self,
        who: &Login,
        idp: &crate::sso::OidcIdp,
        login: &str,
    ) -> reqwest::Response {
        let (s, v, cookie) = self.sso_link_start(who, &who.account).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let to_idp = v["redirect_url"].as_str().expect("a redirect to the IdP");
        let back = idp.sign_in(to_idp, login).await;
        let req = self
            .client
            .get(&back)
            .header("cookie", cookie.expect("the state cookie"));
        req.send().await.expect("request sent")
    }
}

impl TestApp {
    /// Starts a SAML sign-in for `email` (`POST /api/v1/sso/start`): the state cookie and where
    /// the browser goes (the IdP's sign-in URL with the AuthnRequest).
    pub async fn saml_start(&self, email: &str) -> (String, String) {
        let start = self.sso_start(email).await;
        assert_eq!(start.status(), StatusCode::OK);
        let cookie = first_cookie(&start).expect("the state cookie");
        let v: Value = start.json().await.expect("JSON");
        let url = v["redirect_url"].as_str().expect("a redirect to the IdP");
        (cookie, url.to_owned())
    }

    /// Posts an IdP's answer to the ACS, as the IdP's auto-posting form does, with the
    /// browser's state cookie when given.
    pub async fn saml_post(
        &self,
        post: &crate::sso::SamlPost,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let form = [
            ("SAMLResponse", post.saml_response.as_str()),
            ("RelayState", post.relay_state.as_str()),
        ];
        let mut req = self.client.post(&post.acs).form(&form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.expect("request sent")
    }

    /// Signs `email` in through `idp`'s login page, as a browser would: the ACS's answer.
    pub async fn saml_sign_in(&self, idp: &crate::sso::SamlIdp, email: &str) -> reqwest::Response {
        let (cookie, url) = self.saml_start(email).await;
        let post = idp.sign_in(&url, email).await;
        self.saml_post(&post, Some(&cookie)).await
    }
}

/// The challenge id in a "Two-step verification" page.
pub fn challenge_in(page: &str) -> Option<String> {
    let marker = r#"name="challenge_id" value=""#;
    let rest = &page[page.find(marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `name=value` of an answer's first Set-Cookie.
pub fn first_cookie(res: &reqwest::Response) -> Option<String> {
    let c = res.headers().get("set-cookie")?.to_str().ok()?;
    c.split(';').next().map(str::to_owned)
}
