//! An account ready for SSO: Acme on the paid plan, `acme.test` verified through the DNS
//! server, and an enabled OIDC connection to a running provider.

use super::{spawn, spawn_tweaked};
use reqwest::StatusCode;
use serde_json::{Value, json};
use watchword_testkit::sso::{CLIENT_ID, CLIENT_SECRET, Dns, OidcIdp, SamlIdp};
use watchword_testkit::{Backend, Login, TestApp};

pub struct World {
    pub app: TestApp,
    pub idp: OidcIdp,
    pub ada: Login,
    pub connection: String,
    pub dns: Dns,
}

impl World {
    pub async fn new(backend: Backend) -> Option<Self> {
        Self::with(backend, false).await
    }

    /// With a provider that puts email and name in its userinfo answer only when `conforming`.
    pub async fn with(backend: Backend, conforming: bool) -> Option<Self> {
        let dns = Dns::start();
        let (app, ada) = paid_acme(backend, &dns).await?;
        let idp = OidcIdp::start_with(&app.url("/sso/oidc/callback"), conforming);
        let (s, c) = app
            .create_sso_connection(&ada, connection_body(&idp, true))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        Some(Self {
            connection: c["id"].as_str().unwrap().to_owned(),
            app,
            idp,
            ada,
            dns,
        })
    }
}

/// Acme (Ada, Owner with TOTP) on the paid plan with `acme.test` verified through `dns`.
async fn paid_acme(backend: Backend, dns: &Dns) -> Option<(TestApp, Login)> {
    paid_acme_on(spawn(backend, dns).await?, dns).await
}

async fn paid_acme_on(app: TestApp, dns: &Dns) -> Option<(TestApp, Login)> {
    let ada = paid_acme_for_scim(&app, dns).await;
    Some((app, ada))
}

/// Acme (Ada, Owner with TOTP) on the paid plan with `acme.test` verified through `dns`.
pub async fn paid_acme_for_scim(app: &TestApp, dns: &Dns) -> Login {
    let ada = app.signup("Acme", "Ada Lovelace", "ada@example.com").await;
    app.set_plan(&ada, "paid").await;
    app.enrol_totp(&ada).await;
    let (_, d) = app.add_sso_domain(&ada, "acme.test").await;
    dns.publish(json!({"acme.test": [d["txt_record"]]}));
    let (s, v) = app.verify_sso_domain(&ada, d["id"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    ada
}

pub fn connection_body(idp: &OidcIdp, enabled: bool) -> Value {
    json!({
        "kind": "oidc",
        "name": "Acme IdP",
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "enabled": enabled,
    })
}

/// Acme on the paid plan with `acme.test` verified and an enabled SAML connection to a running
/// pysaml2 IdP.
pub struct SamlWorld {
    pub app: TestApp,
    pub idp: SamlIdp,
    pub ada: Login,
    pub connection: Value,
    pub _dns: Dns,
}

impl SamlWorld {
    pub async fn new(backend: Backend) -> Option<Self> {
        Self::with(backend, SamlIdp::start()).await
    }

    pub async fn with(backend: Backend, idp: SamlIdp) -> Option<Self> {
        Self::tweaked(backend, idp, |_| {}).await
    }

    /// With the server's configuration adjusted by `tweak`.
    pub async fn tweaked(
        backend: Backend,
        idp: SamlIdp,
        tweak: impl FnOnce(&mut watchword::Config),
    ) -> Option<Self> {
        let dns = Dns::start();
        let (app, ada) = paid_acme_on(spawn_tweaked(backend, &dns, tweak).await?, &dns).await?;
        let body = json!({
            "kind": "saml", "name": "Acme SAML", "saml_metadata": idp.metadata().await,
            "enabled": true, "group_mappings": [{"group": "admins", "role": "admin"}],
        });
        let (s, connection) = app.create_sso_connection(&ada, body).await;
        assert_eq!(s, StatusCode::CREATED, "{connection}");
        Some(Self {
            app,
            idp,
            ada,
            connection,
            _dns: dns,
        })
    }

    pub fn id(&self) -> &str {
        self.connection["id"].as_str().unwrap()
    }
}

/// The Owner `owner` gives `member` an Admin's permissions and `sso:manage` (a custom role):
/// only an Owner can.
pub async fn grant_sso_manage(app: &TestApp, owner: &Login, member: &str) {
    let permissions = [
        "sso:manage",
        "account_settings:read",
        "account_settings:edit",
        "users:read",
        "users:manage",
        "roles:manage",
        "api_keys:manage",
        "audit_log:read",
        "campaigns:read",
        "campaigns:write",
        "analytics:read",
        "profiles:read",
        "profiles:write",
    ];
    let (s, role) = app
        .post(
            &format!("/api/v1/accounts/{}/roles", owner.account),
            &owner.token,
            json!({"name": "SSO admin", "permissions": permissions}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{role}");
    let (s, v) = app
        .set_role(owner, member, role["key"].as_str().unwrap())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
