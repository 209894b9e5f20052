//! The authorization endpoint (RFC 6749 §4.1 with PKCE, RFC 7636): the request checked, the
//! consent a member gives for one account, and the code sent back.
//!
//! Until the client and its redirect URI are known to be the app's, an error is shown to the
//! person and never redirected (an open redirector otherwise); after that, errors go back to the
//! client with its `state`. Only members holding `api_keys:manage` in an account can install an
//! app there; the scopes granted never exceed their own permissions; write scopes need a recent
//! sign-in; administrative scopes alert the Security Contact.

use super::apps::AppView;
use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::oauth::{ADMIN_SCOPES, CODE_TTL_SECS, is_s256_challenge, scope_words};
use watchword_domain::scope::ScopeSet;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::oauth::{self as store, AppRow, CodeRow, GrantRow};
use watchword_store::{accounts, audit};

/// The query of `GET /oauth/authorize` (and the consent form's hidden fields).
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum Refusal {
    /// Shown to the person: the client or its redirect URI is not trusted.
    Show(String),
    /// Sent back to the client's redirect URI (with `error` and `state`).
    Redirect(String),
}

/// A request found sound: the app, where to answer, what it asks for.
#[derive(Debug, Clone)]
pub struct Checked {
    pub app: AppRow,
    pub redirect_uri: String,
    pub scopes: ScopeSet,
    pub state: Option<String>,
    pub challenge: String,
}

/// One account the person may install the app in.
#[derive(Debug, Clone)]
pub struct ConsentAccount {
    pub id: AccountId,
    pub name: String,
    /// Scopes asked for now that a previous grant there did not hold (all when none).
    pub new_scopes: Vec<String>,
    pub installed_before: bool,
}

/// What the consent page shows.
#[derive(Debug, Clone)]
pub struct Consent {
    pub app: AppView,
    pub accounts: Vec<ConsentAccount>,
    /// (scope, plain words).
    pub scopes: Vec<(String, String)>,
}

/// What a query value keeps unencoded: RFC 3986 unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `redirect_uri` with the query pairs added (`?` or `&`).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = uri.to_owned();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in pairs {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encoding::utf8_percent_encode(v, QUERY_VALUE).to_string());
        sep = '&';
    }
    url
}

impl Checked {
    /// The client's redirect URI with an RFC 6749 error (and the state it sent).
    pub fn error(&self, error: &str, description: &str) -> String {
        refusal_url(
            &self.redirect_uri,
            self.state.as_deref(),
            error,
            description,
        )
    }
}

fn refusal_url(uri: &str, state: Option<&str>, error: &str, description: &str) -> String {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    with_query(uri, &pairs)
}

impl App {
    /// Checks an authorization request: the app and its redirect URI first (refusals shown),
    /// then the response type, PKCE S256 and the scopes (refusals sent back to the client).
    pub async fn check_authorize(&self, p: &AuthorizeParams) -> Result<Checked, Refusal> {
        let show = |m: &str| Refusal::Show(m.to_owned());
        let client = p
            .client_id
            .as_deref()
            .ok_or_else(|| show("client_id is missing"))?;
        let app = {
            let mut c = self
                .store()
                .read()
                .await
                .map_err(|e| show(&e.to_string()))?;
            store::app(&mut c, client)
                .await
                .map_err(|e| show(&e.to_string()))?
        };
        let app = app
            .filter(|a| a.disabled_at.is_none())
            .ok_or_else(|| show("this app is unknown or disabled"))?;
        let registered: Vec<String> = serde_json::from_str(&app.redirect_uris).unwrap_or_default();
        let redirect_uri = match p.redirect_uri.as_deref() {
            Some(u) if registered.iter().any(|r| r == u) => u.to_owned(),
            Some(_) => return Err(show("the redirect_uri is not one the app registered")),
            None if registered.len() == 1 => registered[0].clone(),
            None => return Err(show("redirect_uri is missing")),
        };
        let state = p.state.clone();
        let back = |error: &str, description: &str| {
            Refusal::Redirect(refusal_url(
                &redirect_uri,
                state.as_deref(),
                error,
                description,
            ))
        };
        if p.response_type.as_deref() != Some("code") {
            return Err(back(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        if p.code_challenge_method.as_deref() != Some("S256") {
            return Err(back(
                "invalid_request",
                "PKCE with code_challenge_method S256 is required (plain is refused)",
            ));
        }
        let challenge = p
            .code_challenge
            .clone()
            .filter(|c| is_s256_challenge(c))
            .ok_or_else(|| {
                back(
                    "invalid_request",
                    "code_challenge must be an S256 challenge",
                )
            })?;
        let scopes = match p.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => app.scopes,
            Some(s) => ScopeSet::parse_all(s.split_ascii_whitespace())
                .map_err(|_| back("invalid_scope", "a scope is unknown"))?,
        };
        if scopes.is_empty() || !scopes.permissions().is_subset_of(app.scopes.permissions()) {
            return Err(back(
                "invalid_scope",
                "the scope asked for exceeds the app's registration",
            ));
        }
        Ok(Checked {
            app,
            redirect_uri,
            scopes,
            state,
            challenge,
        })
    }

    /// The consent page's content: the accounts among `candidates` where the actor may install
    /// the app (a private app: its own account only), each with what is new since a previous
    /// grant there.
    pub async fn consent(
        &self,
        actor: &Actor,
        candidates: &[AccountId],
        c: &Checked,
    ) -> Result<Consent, AppError> {
        let mut conn = self.store().read().await?;
        let mut accounts = Vec::new();
        for id in candidates {
            if c.app
                .account_id
                .as_deref()
                .is_some_and(|a| a != id.to_string())
            {
                continue;
            }
            let Ok(access) = self.access(&mut conn, actor, *id).await else {
                continue;
            };
            if access.require(Permission::ApiKeysManage).is_err() {
                continue;
            }
            let before = store::consented_grant(&mut conn, &c.app.id, *id).await?;
            let held = before
                .as_ref()
                .map(|g| g.scopes.to_strings())
                .unwrap_or_default();
            accounts.push(ConsentAccount {
                id: *id,
                name: access.account.name.clone(),
                new_scopes: c
                    .scopes
                    .to_strings()
                    .into_iter()
                    .filter(|s| !held.contains(s))
                    .collect(),
                installed_before: before.is_some(),
            });
        }
        Ok(Consent {
            app: super::apps::view(&c.app),
            accounts,
            scopes: c
                .scopes
                .to_strings()
                .into_iter()
                .map(|s| {
                    let words = scope_words(&s);
                    (s, words)
                })
                .collect(),
        })
    }

    /// The member's consent for `account`: the grant (new, or the previous one given the scopes
    /// asked for now) and a code, sent back to the client's redirect URI.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn approve(
        &self,
        actor: &Actor,
        c: &Checked,
        account: AccountId,
    ) -> Result<String, AppError> {
        if c.app
            .account_id
            .as_deref()
            .is_some_and(|a| a != account.to_string())
        {
            return Err(AppError::NotFound);
        }
        let writes = c.scopes.to_strings().iter().any(|s| s.ends_with(":write"));
        if writes {
            self.require_recent_auth(actor, "give an app write access")?;
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        access.require(Permission::ApiKeysManage)?;
        if !c.scopes.permissions().is_subset_of(access.permissions()) {
            return Err(DomainError::forbidden(
                "privilege_escalation",
                "the app asks for more than you may do in this account",
            )
            .into());
        }
        let grant = match store::consented_grant(&mut tx, &c.app.id, account).await? {
            Some(g) => {
                store::set_grant_scopes(&mut tx, &g.id, c.scopes).await?;
                g
            }
            None => {
                let g = GrantRow {
                    id: format!("grant_{}", uuid::Uuid::now_v7().simple()),
                    app_id: c.app.id.clone(),
                    account_id: account.to_string(),
                    scopes: c.scopes,
                    installed_by: Some(actor.person.to_string()),
                    created_at: now,
                    revoked_at: None,
                };
                store::insert_grant(&mut tx, &g).await?;
                g
            }
        };
        let code = random_token();
        let row = CodeRow {
            app_id: c.app.id.clone(),
            account_id: account.to_string(),
            person_id: actor.person.to_string(),
            scopes: c.scopes,
            redirect_uri: c.redirect_uri.clone(),
            code_challenge: c.challenge.clone(),
            grant_id: grant.id.clone(),
            expires_at: now.plus_secs(CODE_TTL_SECS),
            used_at: None,
        };
        store::insert_code(&mut tx, &hash_token(&code), &row, now).await?;
        let scopes = c.scopes.to_strings();
        let event = events::by_actor(actor, account, AuditAction::OauthAuthorized)
            .target("oauth_grant", &grant.id)
            .details(serde_json::json!({ "app": c.app.id, "name": c.app.name, "scopes": scopes }));
        audit::append(&mut tx, &event, now).await?;
        let admin: Vec<&str> = scopes
            .iter()
            .map(String::as_str)
            .filter(|s| ADMIN_SCOPES.contains(s))
            .collect();
        if !admin.is_empty() {
            let acc = accounts::get(&mut tx, account)
                .await?
                .ok_or(AppError::NotFound)?;
            let what = format!(
                "The app \"{}\" was given administrative access ({})",
                c.app.name,
                admin.join(", ")
            );
            self.alert_contact(&mut tx, &acc, actor, &what, now).await?;
        }
        tx.commit().await?;
        self.committed();
        let issuer = self.settings().public_url.trim_end_matches('/').to_owned();
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = &c.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &issuer));
        Ok(with_query(&c.redirect_uri, &pairs))
    }
}
