//! An account's SSO connections: created, read, changed and deleted by its administrators. An
//! OIDC connection is checked against the provider's discovery document before it is saved; its
//! client secret is sealed at rest (the MFA keyring, bound to the connection's id) and never
//! shown again. A SAML connection's IdP metadata is read and checked before it is saved (a
//! signing certificate is required). Every change is audited and alerts the Security Contact.

use super::oidc::Failure;
use crate::access::{SsoAdmin, SsoBy};
use crate::events::EventExt;
use crate::members::Access;
use crate::{App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::sso::{DEFAULT_SCOPES, Protocol, check_idp_url};
use watchword_domain::*;
use watchword_store::audit;
use watchword_store::sso::{self as store, ConnectionRow};

/// Connections one account may hold.
pub const MAX_CONNECTIONS: usize = 10;

/// A connection as its administrators see it (never the client secret).
#[derive(Debug, Clone)]
pub struct ConnectionView {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub enabled: bool,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub has_client_secret: bool,
    pub scopes: String,
    pub groups_claim: Option<String>,
    /// SAML: the attribute read for the email when the NameID is not an email address (None:
    /// `email`).
    pub email_attribute: Option<String>,
    /// (IdP group, role key): a person provisioned with the group gets the role (first match).
    pub group_mappings: Vec<(String, String)>,
    pub default_role: String,
    pub jit: bool,
    pub trust_idp_mfa: bool,
    /// The redirect URI (OIDC) to register at the provider.
    pub redirect_uri: String,
    /// SAML: an unsolicited (IdP-initiated) response is accepted.
    pub idp_initiated: bool,
    /// SAML: the IdP as its metadata describes it, and this side's values to copy.
    pub saml: Option<SamlView>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A SAML connection's two sides.
#[derive(Debug, Clone)]
pub struct SamlView {
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub certificates: Vec<super::saml::Certificate>,
    /// When the first signing certificate expires (the Security Contact is warned 30, 14, 7 and 2
    /// days before).
    pub certificate_expires_at: Option<Millis>,
    pub sp_entity_id: String,
    pub acs_url: String,
    /// watchword's metadata for the IdP (the entity id is this URL).
    pub sp_metadata_url: String,
}

/// Fields of a new connection, or the ones a change sets.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub scopes: Option<String>,
    pub groups_claim: Option<String>,
    pub email_attribute: Option<String>,
    pub group_mappings: Option<Vec<(String, String)>>,
    pub default_role: Option<String>,
    pub jit: Option<bool>,
    pub trust_idp_mfa: Option<bool>,
    pub saml_metadata: Option<String>,
    pub idp_initiated: Option<bool>,
}

impl App {
    /// Where an OIDC provider sends the browser back.
    pub fn sso_redirect_uri(&self) -> String {
        format!(
            "{}/sso/oidc/callback",
            self.settings().public_url.trim_end_matches('/')
        )
    }

    pub(crate) fn connection_view(&self, r: &ConnectionRow) -> ConnectionView {
        ConnectionView {
            id: r.id.clone(),
            kind: Protocol::parse(&r.kind).unwrap_or(Protocol::Oidc).as_str(),
            name: r.name.clone(),
            enabled: r.enabled,
            issuer: r.issuer.clone(),
            client_id: r.client_id.clone(),
            has_client_secret: r.client_secret_sealed.is_some(),
            scopes: r.scopes.clone(),
            groups_claim: r.groups_claim.clone(),
            email_attribute: r.email_attribute.clone(),
            group_mappings: mappings(r),
            default_role: r.default_role.clone(),
            jit: r.jit,
            trust_idp_mfa: r.trust_idp_mfa,
            redirect_uri: self.sso_redirect_uri(),
            idp_initiated: r.idp_initiated,
            saml: self.saml_view(r),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }

    fn saml_view(&self, r: &ConnectionRow) -> Option<SamlView> {
        if r.kind != Protocol::Saml.as_str() {
            return None;
        }
        let sp = self.saml_sp(&r.id);
        let idp = r
            .saml_metadata
            .as_deref()
            .and_then(|x| super::saml::parse_metadata(x).ok());
        Some(SamlView {
            idp_entity_id: idp
                .as_ref()
                .map(|i| i.entity_id.clone())
                .unwrap_or_default(),
            idp_sso_url: idp.as_ref().map(|i| i.sso_url.clone()).unwrap_or_default(),
            certificates: idp.map(|i| i.certificates).unwrap_or_default(),
            certificate_expires_at: r.cert_expires_at,
            sp_metadata_url: sp.entity_id.clone(),
            sp_entity_id: sp.entity_id,
            acs_url: sp.acs_url,
        })
    }

    /// The client secret of an OIDC connection, opened.
    pub(crate) fn client_secret(&self, r: &ConnectionRow) -> Result<String, AppError> {
        let (Some(key), Some(sealed)) = (&r.key_id, &r.client_secret_sealed) else {
            return Err(AppError::internal("connection without a client secret"));
        };
        let plain = self
            .open_sealed(key, sealed, &r.id)
            .map_err(|e| AppError::internal(format!("connection {}: {e}", r.id)))?;
        String::from_utf8(plain).map_err(|_| AppError::internal("client secret is not text"))
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn sso_connections<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
    ) -> Result<Vec<ConnectionView>, AppError> {
        let by: SsoBy<'a> = by.into();
        let mut c = self.store().read().await?;
        self.sso_admin(&mut c, by, account, SsoAdmin::Read).await?;
        let rows = store::connections(&mut c, account).await?;
        Ok(rows.iter().map(|r| self.connection_view(r)).collect())
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn sso_connection<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<ConnectionView, AppError> {
        let by: SsoBy<'a> = by.into();
        let mut c = self.store().read().await?;
        self.sso_admin(&mut c, by, account, SsoAdmin::Read).await?;
        let row = own_connection(&mut c, account, id).await?;
        Ok(self.connection_view(&row))
    }

    /// Creates a connection (disabled unless `enabled` is given): OIDC (issuer, client id and
    /// secret) or SAML (the IdP's metadata).
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn create_sso_connection<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        new: ConnectionChange,
    ) -> Result<ConnectionView, AppError> {
        let by: SsoBy<'a> = by.into();
        {
            let mut c = self.store().read().await?;
            self.sso_admin(&mut c, by, account, SsoAdmin::Change)
                .await?;
        }
        let kind = new.kind.as_deref().unwrap_or("oidc");
        let Some(protocol) = Protocol::parse(kind) else {
            return Err(DomainError::field("invalid_kind", "kind", "kind is oidc or saml").into());
        };
        let now = self.now();
        let mut row = ConnectionRow {
            id: format!("sso_{}", uuid::Uuid::now_v7().simple()),
            account_id: account.to_string(),
            kind: kind.to_owned(),
            name: String::new(),
            enabled: false,
            issuer: None,
            client_id: None,
            client_secret_sealed: None,
            key_id: None,
            scopes: DEFAULT_SCOPES.to_owned(),
            groups_claim: None,
            email_attribute: None,
            group_mappings: "[]".into(),
            saml_metadata: None,
            default_role: BuiltinRole::Analyst.key().to_owned(),
            jit: true,
            trust_idp_mfa: false,
            idp_initiated: false,
            cert_expires_at: None,
            cert_warned: 0,
            created_at: now,
            updated_at: now,
        };
        let required = match protocol {
            Protocol::Oidc => vec![
                (&new.name, "name"),
                (&new.issuer, "issuer"),
                (&new.client_id, "client_id"),
                (&new.client_secret, "client_secret"),
            ],
            Protocol::Saml => vec![(&new.name, "name"), (&new.saml_metadata, "saml_metadata")],
        };
        for (v, field) in required {
            if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                return Err(
                    DomainError::field("required", field, format!("{field} is required")).into(),
                );
            }
        }
        self.apply_change(&mut row, &new).await?;
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        if store::connections(&mut tx, account).await?.len() >= MAX_CONNECTIONS {
            return Err(DomainError::conflict(
                "too_many_connections",
                format!("an account holds at most {MAX_CONNECTIONS} connections"),
            )
            .into());
        }
        let saved = Saved {
            access,
            row,
            action: AuditAction::SsoConnectionCreated,
            change: &new,
        };
        self.save(tx, by, saved, now).await
    }

    /// Changes the fields given; a new issuer or client is checked against discovery again.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn update_sso_connection<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
        change: ConnectionChange,
    ) -> Result<ConnectionView, AppError> {
        let by: SsoBy<'a> = by.into();
        let mut row = {
            let mut c = self.store().read().await?;
            self.sso_admin(&mut c, by, account, SsoAdmin::Change)
                .await?;
            own_connection(&mut c, account, id).await?
        };
        if change.kind.is_some() {
            return Err(DomainError::field(
                "immutable_field",
                "kind",
                "a connection's kind cannot change; create another connection",
            )
            .into());
        }
        let before = row.updated_at;
        self.apply_change(&mut row, &change).await?;
        let now = self.now();
        row.updated_at = now;
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let current = own_connection(&mut tx, account, id).await?;
        if current.updated_at != before {
            return Err(DomainError::conflict(
                "concurrent_change",
                "the connection changed meanwhile; read it again",
            )
            .into());
        }
        let saved = Saved {
            access,
            row,
            action: AuditAction::SsoConnectionUpdated,
            change: &change,
        };
        self.save(tx, by, saved, now).await
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn delete_sso_connection<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let by: SsoBy<'a> = by.into();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let row = own_connection(&mut tx, account, id).await?;
        store::delete_connection(&mut tx, account, id).await?;
        let change = ConnectionChange::default();
        self.connection_changed(
            &mut tx,
            by,
            &access,
            &row,
            AuditAction::SsoConnectionDeleted,
            &change,
            now,
        )
        .await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// Validates and applies `change` to `row` (outside any transaction: discovery is a network
    /// call).
    async fn apply_change(
        &self,
        row: &mut ConnectionRow,
        change: &ConnectionChange,
    ) -> Result<(), AppError> {
        let saml = row.kind == Protocol::Saml.as_str();
        let foreign: &[(&str, bool)] = if saml {
            &[
                ("issuer", change.issuer.is_some()),
                ("client_id", change.client_id.is_some()),
                ("client_secret", change.client_secret.is_some()),
                ("scopes", change.scopes.is_some()),
            ]
        } else {
            &[
                ("email_attribute", change.email_attribute.is_some()),
                ("saml_metadata", change.saml_metadata.is_some()),
                ("idp_initiated", change.idp_initiated.is_some()),
            ]
        };
        if let Some((field, _)) = foreign.iter().find(|(_, set)| *set) {
            return Err(DomainError::field(
                "not_for_this_kind",
                field,
                format!("{field} does not apply to a {} connection", row.kind),
            )
            .into());
        }
        if let Some(n) = &change.name {
            row.name = text::label(n, "a connection name")?;
        }
        if let Some(i) = change.idp_initiated {
            row.idp_initiated = i;
        }
        if let Some(xml) = &change.saml_metadata {
            let idp = super::saml::parse_metadata(xml)?;
            if !idp.has_valid_certificate(self.now()) {
                return Err(DomainError::field(
                    "invalid_metadata",
                    "saml_metadata",
                    "every signing certificate in the metadata has expired; download the IdP's current metadata",
                )
                .into());
            }
            let expiry = idp.earliest_expiry();
            if expiry != row.cert_expires_at {
                row.cert_warned = 0;
            }
            row.cert_expires_at = expiry;
            let screened = watchword_domain::saml_xml::screen(xml).unwrap_or(xml);
            row.saml_metadata = Some(screened.to_owned());
        }
        if let Some(e) = change.enabled {
            row.enabled = e;
        }
        if let Some(j) = change.jit {
            row.jit = j;
        }
        if let Some(t) = change.trust_idp_mfa {
            row.trust_idp_mfa = t;
        }
        if let Some(r) = &change.default_role {
            row.default_role = r.trim().to_owned();
        }
        if let Some(g) = &change.groups_claim {
            let g = g.trim();
            if g.len() > 100 || g.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(DomainError::field(
                    "invalid_groups_claim",
                    "groups_claim",
                    "a claim name without spaces, at most 100 characters",
                )
                .into());
            }
            row.groups_claim = Some(g.to_owned()).filter(|g| !g.is_empty());
        }
        if let Some(a) = &change.email_attribute {
            let a = a.trim();
            if a.len() > 256 || a.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(DomainError::field(
                    "invalid_email_attribute",
                    "email_attribute",
                    "an attribute name without spaces, at most 256 characters",
                )
                .into());
            }
            row.email_attribute = Some(a.to_owned()).filter(|a| !a.is_empty());
        }
        if let Some(m) = &change.group_mappings {
            let bad = |(g, r): &(String, String)| {
                g.trim().is_empty()
                    || g.len() > 256
                    || g.chars().any(char::is_control)
                    || r.trim().is_empty()
            };
            if m.len() > 50 || m.iter().any(bad) {
                return Err(DomainError::field(
                    "invalid_group_mappings",
                    "group_mappings",
                    "at most 50 mappings, each a group (1 to 256 characters) and a role",
                )
                .into());
            }
            let trimmed: Vec<(&str, &str)> = m.iter().map(|(g, r)| (g.trim(), r.trim())).collect();
            row.group_mappings = serde_json::to_string(&trimmed).unwrap_or_else(|_| "[]".into());
        }
        if let Some(s) = &change.scopes {
            let scopes: Vec<&str> = s.split_whitespace().collect();
            if !scopes.contains(&"openid")
                || scopes.len() > 20
                || scopes.iter().any(|x| x.len() > 100 || !x.is_ascii())
            {
                return Err(DomainError::field(
                    "invalid_scopes",
                    "scopes",
                    "space-separated scopes including openid",
                )
                .into());
            }
            row.scopes = scopes.join(" ");
        }
        if let Some(c) = &change.client_id {
            let c = c.trim();
            if c.is_empty() || c.len() > 256 || c.chars().any(char::is_control) {
                return Err(DomainError::field(
                    "invalid_client_id",
                    "client_id",
                    "1 to 256 characters",
                )
                .into());
            }
            row.client_id = Some(c.to_owned());
        }
        if let Some(s) = &change.client_secret {
            if s.is_empty() || s.len() > 512 {
                return Err(DomainError::field(
                    "invalid_client_secret",
                    "client_secret",
                    "1 to 512 characters",
                )
                .into());
            }
            let (key, sealed) = self.keyring().seal(s.as_bytes(), &row.id);
            row.key_id = Some(key);
            row.client_secret_sealed = Some(sealed);
        }
        if let Some(i) = &change.issuer {
            let i = i.trim().trim_end_matches('/');
            check_idp_url(i, "issuer")?;
            row.issuer = Some(i.to_owned());
        }
        if change.issuer.is_some() || change.client_id.is_some() {
            let issuer = row.issuer.clone().unwrap_or_default();
            self.oidc()
                .metadata(&issuer, true)
                .await
                .map_err(|Failure { message, .. }| {
                    DomainError::field("discovery_failed", "issuer", message)
                })?;
        }
        Ok(())
    }

    /// Saves a checked connection with its audit event and alert, and commits.
    async fn save(
        &self,
        mut tx: watchword_store::Tx,
        by: SsoBy<'_>,
        s: Saved<'_>,
        now: Millis,
    ) -> Result<ConnectionView, AppError> {
        self.check_default_role(&mut tx, &s.access, &s.row).await?;
        let new = s.action == AuditAction::SsoConnectionCreated;
        store::save_connection(&mut tx, &s.row, new).await?;
        self.connection_changed(&mut tx, by, &s.access, &s.row, s.action, s.change, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(self.connection_view(&s.row))
    }

    /// The connection's default role and mapped roles: each one the actor could grant (a
    /// mapping never grants more than its author holds).
    async fn check_default_role(
        &self,
        c: &mut watchword_store::Conn,
        access: &Access,
        row: &ConnectionRow,
    ) -> Result<(), AppError> {
        self.grantable_role(c, access, &row.default_role).await?;
        for (_, role) in mappings(row) {
            self.grantable_role(c, access, &role).await?;
        }
        Ok(())
    }

    /// Audits a connection change and alerts the Security Contact, in the change's transaction.
    #[allow(clippy::too_many_arguments)]
    async fn connection_changed(
        &self,
        c: &mut watchword_store::Conn,
        by: SsoBy<'_>,
        access: &Access,
        row: &ConnectionRow,
        action: AuditAction,
        change: &ConnectionChange,
        now: Millis,
    ) -> Result<(), AppError> {
        let changed: Vec<&str> = [
            ("name", change.name.is_some()),
            ("enabled", change.enabled.is_some()),
            ("issuer", change.issuer.is_some()),
            ("client_id", change.client_id.is_some()),
            ("client_secret", change.client_secret.is_some()),
            ("scopes", change.scopes.is_some()),
            ("groups_claim", change.groups_claim.is_some()),
            ("email_attribute", change.email_attribute.is_some()),
            ("group_mappings", change.group_mappings.is_some()),
            ("default_role", change.default_role.is_some()),
            ("jit", change.jit.is_some()),
            ("trust_idp_mfa", change.trust_idp_mfa.is_some()),
            ("saml_metadata", change.saml_metadata.is_some()),
            ("idp_initiated", change.idp_initiated.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let event = by
            .by()
            .event(access.account.id, action)
            .target("sso_connection", &row.id)
            .details(serde_json::json!({
                "name": row.name, "kind": row.kind, "enabled": row.enabled,
                "issuer": row.issuer, "fields": changed,
            }));
        audit::append(&mut *c, &event, now).await?;
        let verb = match action {
            AuditAction::SsoConnectionCreated => "was added",
            AuditAction::SsoConnectionDeleted => "was deleted",
            _ => "was changed",
        };
        let what = format!("The single sign-on connection \"{}\" {verb}", row.name);
        self.alert_by(c, &access.account, by.by(), &what, now).await
    }
}

/// The connection's group → role mappings, in order.
pub(crate) fn mappings(r: &ConnectionRow) -> Vec<(String, String)> {
    serde_json::from_str(&r.group_mappings).unwrap_or_default()
}

/// A connection about to be saved, and why.
struct Saved<'a> {
    access: Access,
    row: ConnectionRow,
    action: AuditAction,
    change: &'a ConnectionChange,
}

async fn own_connection(
    c: &mut watchword_store::Conn,
    account: AccountId,
    id: &str,
) -> Result<ConnectionRow, AppError> {
    store::connection(c, id)
        .await?
        .filter(|r| r.account_id == account.to_string())
        .ok_or(AppError::NotFound)
}
