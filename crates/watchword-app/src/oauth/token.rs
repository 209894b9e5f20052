//! The token endpoint (client credentials, authorization code with PKCE, refresh tokens that
//! rotate), client authentication and revocation.
//!
//! A client authenticates with `client_secret_basic` or `client_secret_post`: its secret is
//! compared by SHA-256 digest in constant time, against the current secret and, during a
//! rotation's grace, the previous one. Wrong secrets count against the client *from that IP*
//! (`OAUTH_CLIENT_FAILURES`, all nodes); when that is full the client is refused from that IP on
//! this node until the window passes, right secret or not — other addresses are not affected. Every refusal answers an RFC 6749 error and
//! never a token.

use crate::events::{self, EventExt};
use crate::limits::{OAUTH_CLIENT_CEILING, OAUTH_CLIENT_FAILURES};
use crate::{App, AppError, Meta};
use std::sync::Arc;
use watchword_domain::audit::AuditAction;
use watchword_domain::oauth::{
    ACCESS_TTL_SECS, AccessClaims, AppKind, REFRESH_PREFIX, REFRESH_TTL_SECS, RETRY_WINDOW_SECS,
    TokenError, is_access_token,
};
use watchword_domain::scope::ScopeSet;
use watchword_domain::token::{constant_time_eq, hash_token};
use watchword_domain::*;
use watchword_store::api_keys::KeyRow;
use watchword_store::audit;
use watchword_store::oauth::{self as store, AppRow, GrantRow};

/// A client as the token endpoint needs it (None: no such app).
pub(crate) struct ClientEntry {
    app: Option<AppRow>,
    machine_grant: Option<GrantRow>,
    /// What the member who registered a private app holds now, as scopes (its client
    /// credentials act within them); dropped with the cache at every change of authority.
    maker_scopes: ScopeSet,
}

/// How the client presented itself.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A token request's parameters (form fields).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    /// Space-separated scopes asked for (none: all the grant holds).
    pub scope: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

/// An issued access token, and a refresh token for a member's grant (the secrets in this value
/// only, and sealed for a few seconds for a retried refresh).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

fn invalid_client() -> TokenError {
    TokenError::new("invalid_client", "client authentication failed")
}

impl App {
    /// `POST /oauth/token`.
    pub async fn oauth_token(
        &self,
        auth: ClientAuth,
        req: TokenRequest,
        meta: &Meta,
    ) -> Result<IssuedToken, TokenError> {
        let grant_type = req
            .grant_type
            .as_deref()
            .ok_or_else(|| TokenError::new("invalid_request", "grant_type is required"))?;
        let app = match grant_type {
            "client_credentials" => self.authenticate_client(&auth, meta).await?,
            "authorization_code" | "refresh_token" => self.any_client(&auth, meta).await?,
            _ => {
                return Err(TokenError::new(
                    "unsupported_grant_type",
                    format!("grant_type {grant_type:?} is not supported"),
                ));
            }
        };
        let result = match grant_type {
            // A disabled app gets nothing, whatever code or refresh token it still holds.
            _ if app.disabled_at.is_some() => Err(TokenError::new(
                "unauthorized_client",
                "this app is disabled",
            )),
            "client_credentials" => self.client_credentials(&app, req.scope.as_deref()).await,
            "authorization_code" => self.exchange_code(&app, &req).await,
            _ => self.refresh(&app, &req, meta).await,
        };
        if let Err(e) = &result
            && e.error != "server_error"
        {
            self.token_denied(&app, e.error, meta);
        }
        result
    }

    /// The app a request's client credentials name, when the secret is right. Wrong secrets are
    /// counted per (client, IP): a full window refuses that client from that IP only, so
    /// nobody locks a client out by knowing its (public) id; the per-client ceiling
    /// (`OAUTH_CLIENT_CEILING`) only stops counting, it never refuses the right secret.
    pub(crate) async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        meta: &Meta,
    ) -> Result<AppRow, TokenError> {
        let (Some(id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
            return Err(invalid_client());
        };
        let now = self.now();
        if id.len() > 100 || secret.len() > 200 {
            return Err(invalid_client());
        }
        let from = format!("{id} {}", meta.ip);
        if self.inner.oauth_blocked.is_blocked(&from, now) {
            return Err(TokenError::new(
                "invalid_client",
                "too many failed attempts for this client; try again later",
            ));
        }
        let app = self.client(id, now).await?.app.clone();
        let given = hash_token(secret);
        let matches =
            |h: &Option<Vec<u8>>| h.as_deref().is_some_and(|h| constant_time_eq(h, &given));
        let ok = app.as_ref().is_some_and(|a| {
            a.kind == AppKind::Confidential.as_str()
                && (matches(&a.secret_hash)
                    || (matches(&a.previous_secret_hash)
                        && a.previous_secret_expires_at.is_some_and(|e| e > now)))
        });
        match app {
            Some(a) if ok => Ok(a),
            _ => {
                // The failure counts; once the window holds the most allowed, the client is
                // refused (right secret or not) until it passes.
                // Past the client's ceiling the failures are not even counted any more.
                let ceiling = self
                    .take_slot(&[(OAUTH_CLIENT_CEILING, id)], |_| AppError::NotFound)
                    .await
                    .is_err();
                let full = !ceiling
                    && match self
                        .take_slot(&[(OAUTH_CLIENT_FAILURES, &from)], |_| AppError::NotFound)
                        .await
                    {
                        Ok((_, counts)) => counts
                            .first()
                            .is_some_and(|n| *n >= OAUTH_CLIENT_FAILURES.max),
                        Err(_) => true,
                    };
                if full {
                    let until = now.plus_secs(OAUTH_CLIENT_FAILURES.window_secs);
                    self.inner.oauth_blocked.block(&from, until);
                }
                Err(invalid_client())
            }
        }
    }

    /// A confidential client by its secret, or a public client by its id alone (its proof is
    /// PKCE, checked with the code).
    async fn any_client(&self, auth: &ClientAuth, meta: &Meta) -> Result<AppRow, TokenError> {
        if auth.client_secret.is_some() {
            return self.authenticate_client(auth, meta).await;
        }
        let id = auth.client_id.as_deref().ok_or_else(invalid_client)?;
        if id.len() > 100 {
            return Err(invalid_client());
        }
        self.client(id, self.now())
            .await?
            .app
            .clone()
            .filter(|a| a.kind == AppKind::Public.as_str())
            .ok_or_else(invalid_client)
    }

    /// The client credentials grant: a private app acting as its account's integration, with
    /// its registered scopes (or fewer, when asked).
    async fn client_credentials(
        &self,
        app: &AppRow,
        scope: Option<&str>,
    ) -> Result<IssuedToken, TokenError> {
        let Some(account) = app.account_id.clone() else {
            return Err(TokenError::new(
                "unauthorized_client",
                "only an account's private apps use the client credentials grant",
            ));
        };
        if app.disabled_at.is_some() {
            return Err(TokenError::new(
                "unauthorized_client",
                "this app is disabled",
            ));
        }
        let scopes = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => app.scopes,
            Some(s) => {
                let asked = ScopeSet::parse_all(s.split_ascii_whitespace())
                    .map_err(|n| TokenError::new("invalid_scope", format!("no scope {n:?}")))?;
                if !asked.permissions().is_subset_of(app.scopes.permissions()) {
                    return Err(TokenError::new(
                        "invalid_scope",
                        "the scope asked for exceeds the app's registration",
                    ));
                }
                asked
            }
        };
        let now = self.now();
        let held = self.client(&app.id, now).await?.maker_scopes;
        let scopes = scopes.intersect(held);
        if scopes.is_empty() {
            return Err(TokenError::new(
                "unauthorized_client",
                "the member who registered this app no longer holds these scopes",
            ));
        }
        let grant = self.machine_grant(app, &account, now).await?;
        Ok(IssuedToken {
            access_token: self.access_token(&grant.id, scopes, now)?,
            refresh_token: None,
            expires_in: ACCESS_TTL_SECS,
            scope: scopes.encode(),
        })
    }

    /// The grant a private app's client credentials act under (made at its first token).
    async fn machine_grant(
        &self,
        app: &AppRow,
        account: &str,
        now: Millis,
    ) -> Result<GrantRow, TokenError> {
        if let Some(g) = self.client(&app.id, now).await?.machine_grant.clone() {
            return Ok(g);
        }
        let mut tx = self.store().begin().await.map_err(server_error)?;
        // Looked for again in the transaction: two first requests make one grant.
        if let Some(g) = store::machine_grant(&mut tx, &app.id)
            .await
            .map_err(server_error)?
        {
            return Ok(g);
        }
        let g = GrantRow {
            id: format!("grant_{}", uuid::Uuid::now_v7().simple()),
            app_id: app.id.clone(),
            account_id: account.to_owned(),
            scopes: app.scopes,
            installed_by: None,
            created_at: now,
            revoked_at: None,
        };
        store::insert_grant(&mut tx, &g)
            .await
            .map_err(server_error)?;
        tx.commit().await.map_err(server_error)?;
        self.inner.oauth_clients.invalidate_all();
        Ok(g)
    }

    /// A client (its app and its client credentials grant), from this node's cache when fresh:
    /// the cache drops everything at every app or grant change, made here or announced by
    /// another node, as the key cache does.
    async fn client(&self, id: &str, now: Millis) -> Result<Arc<ClientEntry>, TokenError> {
        let key = hash_token(id);
        let cache = &self.inner.oauth_clients;
        if let Some(e) = cache.get(&key, now) {
            return Ok(e);
        }
        let generation = cache.generation();
        let mut c = self.store().read().await.map_err(server_error)?;
        let app = store::app(&mut c, id).await.map_err(server_error)?;
        let machine_grant = match &app {
            Some(a) => store::machine_grant(&mut c, &a.id)
                .await
                .map_err(server_error)?,
            None => None,
        };
        let maker_scopes = match app.as_ref().and_then(|a| a.account_id.as_deref()) {
            Some(account) => {
                let account = AccountId::parse(account)
                    .ok_or_else(|| server_error("app with a bad account id"))?;
                let maker = app
                    .as_ref()
                    .and_then(|a| a.created_by.as_deref())
                    .and_then(PersonId::parse);
                self.maker_scopes(&mut c, account, maker)
                    .await
                    .map_err(server_error)?
            }
            None => ScopeSet::EMPTY,
        };
        let e = Arc::new(ClientEntry {
            app,
            machine_grant,
            maker_scopes,
        });
        cache.put(key, e.clone(), generation, now);
        Ok(e)
    }

    /// What the hot path knows of a live access token, as a key's row: its grant's id (uses
    /// are recorded on the grant), account and installer, the token's scopes and expiry, revoked
    /// when the grant is or the app is disabled. None: the grant or app is gone.
    pub(crate) async fn access_token_row(
        &self,
        claims: AccessClaims,
        now: Millis,
    ) -> Result<Option<KeyRow>, AppError> {
        let grant = {
            let mut c = self.store().read().await?;
            store::grant(&mut c, &claims.grant_id).await?
        };
        let Some(grant) = grant else {
            return Ok(None);
        };
        let entry = self
            .client(&grant.app_id, now)
            .await
            .map_err(|e| AppError::internal(e.description))?;
        let Some(app) = entry.app.as_ref() else {
            return Ok(None);
        };
        let account_id = AccountId::parse(&grant.account_id)
            .ok_or_else(|| AppError::internal("grant with a bad account id"))?;
        let expires = Millis(i64::from(claims.expires_at) * 1000);
        Ok(Some(KeyRow {
            account_id,
            name: app.name.clone(),
            scopes: claims.scopes,
            // A member's grant acts for its installer; an app's own (client credentials) grant
            // for the member who registered the app.
            created_by: grant
                .installed_by
                .as_deref()
                .or(app.created_by.as_deref())
                .and_then(PersonId::parse),
            created_by_email: app.name.clone(),
            created_at: expires.plus_secs(-ACCESS_TTL_SECS),
            lifetime_secs: Some(ACCESS_TTL_SECS),
            expires_at: Some(expires),
            replaced_by: None,
            cloned_from: None,
            last_used_at: None,
            last_used_ip: None,
            revoked_at: grant.revoked_at.or(app.disabled_at),
            revoked_reason: None,
            client_id: Some(app.id.clone()),
            id: grant.id.clone(),
            grant_id: Some(grant.id),
            kind: watchword_domain::api_key::KeyKind::Api,
        }))
    }

    /// The authorization code grant: the code spent once (a second use ends what the first
    /// issued), for this client and redirect URI, with the PKCE verifier of its challenge.
    async fn exchange_code(
        &self,
        app: &AppRow,
        req: &TokenRequest,
    ) -> Result<IssuedToken, TokenError> {
        let bad = |d: &str| TokenError::new("invalid_grant", d);
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| TokenError::new("invalid_request", "code is required"))?;
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(server_error)?;
        let row = store::spend_code(&mut tx, &hash_token(code), now)
            .await
            .map_err(server_error)?
            .filter(|r| r.app_id == app.id)
            .ok_or_else(|| bad("the code is unknown, expired or for another client"))?;
        if row.used_at.is_some() {
            store::revoke_grant(&mut tx, &row.grant_id, "code_reused", now)
                .await
                .map_err(server_error)?;
            watchword_store::changes::announce(&mut tx, &row.grant_id)
                .await
                .map_err(server_error)?;
            tx.commit().await.map_err(server_error)?;
            self.keys_changed();
            return Err(bad("the code was used before; what it gave is revoked"));
        }
        if row.expires_at <= now {
            return Err(bad("the code has expired"));
        }
        if req.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
            return Err(bad("redirect_uri differs from the authorization request's"));
        }
        let verifier = req.code_verifier.as_deref().unwrap_or_default();
        if !watchword_domain::oauth::pkce_matches(verifier, &row.code_challenge) {
            return Err(bad("the code_verifier does not match the code_challenge"));
        }
        let grant = store::grant(&mut tx, &row.grant_id)
            .await
            .map_err(server_error)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(|| bad("the grant was revoked"))?;
        let grant = GrantRow {
            scopes: row.scopes,
            ..grant
        };
        let issued = self.issue(&mut tx, &grant, now).await?;
        tx.commit().await.map_err(server_error)?;
        Ok(issued)
    }

    /// The refresh token grant: each refresh token is used once and replaced. A retry within a
    /// few seconds gets the same pair; a later second use revokes the grant (every token of the
    /// family), is audited and alerts the Security Contact.
    async fn refresh(
        &self,
        app: &AppRow,
        req: &TokenRequest,
        meta: &Meta,
    ) -> Result<IssuedToken, TokenError> {
        let bad = |d: &str| TokenError::new("invalid_grant", d);
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| TokenError::new("invalid_request", "refresh_token is required"))?;
        if !api_key::is_well_formed(REFRESH_PREFIX, token) {
            return Err(bad("the refresh token is unknown"));
        }
        let hash = hash_token(token);
        let now = self.now();
        let lock = self.store().dialect().for_update();
        let mut tx = self.store().begin().await.map_err(server_error)?;
        let row = store::refresh(&mut tx, &hash, lock)
            .await
            .map_err(server_error)?
            .ok_or_else(|| bad("the refresh token is unknown"))?;
        let grant = store::grant(&mut tx, &row.grant_id)
            .await
            .map_err(server_error)?
            .filter(|g| g.app_id == app.id)
            .ok_or_else(|| bad("the refresh token is for another client"))?;
        if grant.revoked_at.is_some() {
            return Err(bad("the grant was revoked"));
        }
        if let Some(used) = row.used_at {
            let retry = now.0 - used.0 <= RETRY_WINDOW_SECS * 1000;
            if let (true, Some(key), Some(sealed)) =
                (retry, &row.successor_key_id, &row.successor_sealed)
            {
                return self.successor(key, sealed, &row.grant_id);
            }
            self.refresh_reused(tx, &grant, meta, now).await?;
            return Err(bad(
                "the refresh token was used before; the grant is revoked",
            ));
        }
        if row.expires_at <= now {
            return Err(bad("the refresh token has expired"));
        }
        let issued = self.issue(&mut tx, &grant, now).await?;
        let plain = serde_json::to_vec(&issued).map_err(server_error)?;
        let (key, sealed) = self.keyring().seal(&plain, &row.grant_id);
        let first = store::use_refresh(&mut tx, &hash, (&key, &sealed), now)
            .await
            .map_err(server_error)?;
        if !first {
            return Err(bad("the refresh token was used at the same time; retry"));
        }
        tx.commit().await.map_err(server_error)?;
        Ok(issued)
    }

    /// The pair a refresh token was replaced by, for a retry.
    fn successor(&self, key: &str, sealed: &[u8], grant: &str) -> Result<IssuedToken, TokenError> {
        let plain = self.open_sealed(key, sealed, grant).map_err(server_error)?;
        serde_json::from_slice(&plain).map_err(server_error)
    }

    async fn refresh_reused(
        &self,
        mut tx: watchword_store::Tx,
        grant: &GrantRow,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), TokenError> {
        let run = async {
            store::revoke_grant(&mut tx, &grant.id, "refresh_token_reused", now).await?;
            watchword_store::changes::announce(&mut tx, &grant.id).await?;
            let account = AccountId::parse(&grant.account_id)
                .ok_or_else(|| AppError::internal("grant with a bad account id"))?;
            let mut event = events::system(Some(account), AuditAction::OauthRefreshTokenReused)
                .target("oauth_grant", &grant.id)
                .details(serde_json::json!({ "app": grant.app_id }));
            event.ip = Some(meta.ip.clone());
            event.user_agent = Some(meta.user_agent.clone());
            audit::append(&mut tx, &event, now).await?;
            if let Some(acc) = watchword_store::accounts::get(&mut tx, account).await? {
                let what = "A refresh token of an OAuth app was used twice (it may have been \
                    stolen): the app's access to the account is revoked";
                let by = format!("the app's client (OAuth app {})", grant.app_id);
                self.alert_system(&mut tx, &acc, what, &by, &meta.ip, now)
                    .await?;
            }
            tx.commit().await?;
            self.committed();
            self.keys_changed();
            Ok::<(), AppError>(())
        };
        run.await.map_err(server_error)
    }

    /// `POST /oauth/revoke` (RFC 7009): the client authenticates (a public client by its id);
    /// an access or refresh token of its own ends its grant — every token of it; an unknown
    /// token, or another client's, changes nothing and answers the same.
    pub async fn oauth_revoke(
        &self,
        auth: ClientAuth,
        token: &str,
        meta: &Meta,
    ) -> Result<(), TokenError> {
        let app = self.any_client(&auth, meta).await?;
        let now = self.now();
        let result = async {
            let mut tx = self.store().begin().await?;
            let ring = self.keyring();
            let ring = &*ring;
            let grant_id = if let Some(claims) = watchword_domain::oauth::read_access(ring, token) {
                claims.grant_id
            } else if api_key::is_well_formed(REFRESH_PREFIX, token) {
                match store::refresh(&mut tx, &hash_token(token), "").await? {
                    Some(r) => r.grant_id,
                    None => return Ok(()),
                }
            } else {
                return Ok(());
            };
            let Some(grant) = store::grant(&mut tx, &grant_id).await? else {
                return Ok(());
            };
            if grant.app_id != app.id {
                return Ok(());
            }
            if store::revoke_grant(&mut tx, &grant.id, "revoked_by_client", now).await? {
                let account = AccountId::parse(&grant.account_id)
                    .ok_or_else(|| AppError::internal("grant with a bad account id"))?;
                let mut event = events::system(Some(account), AuditAction::OauthRevoked)
                    .target("oauth_grant", &grant.id)
                    .details(serde_json::json!({ "app": app.id, "by": "client" }));
                event.ip = Some(meta.ip.clone());
                audit::append(&mut tx, &event, now).await?;
            }
            watchword_store::changes::announce(&mut tx, &grant.id).await?;
            tx.commit().await?;
            self.committed();
            self.keys_changed();
            Ok::<(), AppError>(())
        };
        result.await.map_err(server_error)
    }

    /// RFC 7662 introspection by an app's own client: an access token of that app is described,
    /// any other token is inactive.
    pub async fn introspect_for_client(
        &self,
        auth: ClientAuth,
        token: &str,
        meta: &Meta,
    ) -> Result<crate::api_keys::Introspection, TokenError> {
        use crate::api_keys::Introspection;
        let app = self.authenticate_client(&auth, meta).await?;
        if !is_access_token(token) {
            return Ok(Introspection::Inactive);
        }
        match self.verify_api_key(token, meta).await {
            Ok(k) if k.row.client_id.as_deref() == Some(app.id.as_str()) => {
                Ok(Introspection::Key(k))
            }
            Ok(_) | Err(AppError::ApiKey(_)) => Ok(Introspection::Inactive),
            Err(e) => Err(server_error(e)),
        }
    }

    /// A new access token under `grant` with `scopes` (the grant's, or fewer): sealed, no row.
    fn access_token(
        &self,
        grant: &str,
        scopes: ScopeSet,
        now: Millis,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            grant_id: grant.to_owned(),
            scopes,
            expires_at: u32::try_from(now.0 / 1000 + ACCESS_TTL_SECS).map_err(server_error)?,
        };
        watchword_domain::oauth::mint_access(&self.keyring(), &claims)
            .ok_or_else(|| server_error(format!("grant id {grant:?} is not a grant_<uuid>")))
    }

    /// An access token and a refresh token (written in `c`) under a member's grant.
    async fn issue(
        &self,
        c: &mut watchword_store::Conn,
        grant: &GrantRow,
        now: Millis,
    ) -> Result<IssuedToken, TokenError> {
        // Never more than the member who granted it holds now.
        let account = AccountId::parse(&grant.account_id)
            .ok_or_else(|| server_error("grant with a bad account id"))?;
        let maker = grant.installed_by.as_deref().and_then(PersonId::parse);
        let held = self
            .maker_scopes(&mut *c, account, maker)
            .await
            .map_err(server_error)?;
        let scopes = grant.scopes.intersect(held);
        if scopes.is_empty() {
            return Err(TokenError::new(
                "invalid_grant",
                "the member who granted this access no longer holds it",
            ));
        }
        let refresh = api_key::generate(REFRESH_PREFIX);
        let expires = now.plus_secs(REFRESH_TTL_SECS);
        store::insert_refresh(&mut *c, &hash_token(&refresh), &grant.id, expires, now)
            .await
            .map_err(server_error)?;
        Ok(IssuedToken {
            access_token: self.access_token(&grant.id, scopes, now)?,
            refresh_token: Some(refresh),
            expires_in: ACCESS_TTL_SECS,
            scope: scopes.encode(),
        })
    }

    /// Audits a refused token request of a known client, coalesced per client and reason like
    /// refused key uses; off the request path.
    fn token_denied(&self, app: &AppRow, reason: &'static str, meta: &Meta) {
        let Some(account) = app.account_id.as_deref().and_then(AccountId::parse) else {
            return;
        };
        let now = self.now();
        if !self.inner.keys.failure_due(&app.id, reason, now) {
            return;
        }
        let mut event = events::system(Some(account), AuditAction::OauthTokenDenied)
            .target("oauth_app", &app.id)
            .details(serde_json::json!({ "reason": reason }));
        event.ip = Some(meta.ip.clone());
        event.user_agent = Some(meta.user_agent.clone());
        self.write_in_background("audit a refused token request", move |c| {
            Box::pin(async move { audit::append(c, &event, now).await.map(|_| ()) })
        });
    }
}

fn server_error(e: impl std::fmt::Display) -> TokenError {
    tracing::error!(error = %e, "token endpoint");
    TokenError::new(
        "server_error",
        "the request could not be completed; try again",
    )
}
