//! The security tips' policies, on SQLite and PostgreSQL: trusted networks, the factor policy.

mod expiry;
mod factor_policy;
mod mail_trust;
mod networks;
mod recovery;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use watchword_testkit::TestApp;

/// A request as a client at `ip` makes it (the test server trusts loopback as its proxy).
pub(crate) async fn from(
    app: &TestApp,
    ip: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("x-forwarded-for", ip)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn behind_proxy(c: &mut watchword::Config) {
    c.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
}
