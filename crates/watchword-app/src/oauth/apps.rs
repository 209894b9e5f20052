//! An account's private OAuth apps: registered, changed, disabled, deleted and given a new
//! secret by members holding `api_keys:manage` (a recent sign-in for every change). A
//! confidential app's secret is shown once and kept as its SHA-256; a rotation keeps the old one
//! working for a grace period, like keys. An app's scopes never exceed its author's permissions.

use crate::api_keys::{DEFAULT_GRACE_SECS, MAX_GRACE_SECS};
use crate::events::{self, EventExt};
use crate::{Actor, App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::oauth::{AppKind, SECRET_PREFIX, check_redirect_uri};
use watchword_domain::scope::ScopeSet;
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::oauth::{self as store, AppRow};
use watchword_store::{Conn, audit};

/// Apps one account may register.
const MAX_APPS: usize = 50;

/// An app as its account's administrators see it (never its secret).
#[derive(Debug, Clone)]
pub struct AppView {
    pub client_id: String,
    pub name: String,
    pub developer: String,
    pub homepage: Option<String>,
    pub description: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub kind: &'static str,
    pub disabled: bool,
    /// Until when the secret before the last rotation still works.
    pub previous_secret_expires_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A new app.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub developer: Option<String>,
    pub homepage: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// `confidential` (default) or `public`.
    pub kind: Option<String>,
}

/// The fields a change sets.
#[derive(Debug, Clone, Default)]
pub struct AppChange {
    pub name: Option<String>,
    pub developer: Option<String>,
    pub homepage: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

pub(crate) fn view(a: &AppRow) -> AppView {
    AppView {
        client_id: a.id.clone(),
        name: a.name.clone(),
        developer: a.developer.clone(),
        homepage: a.homepage.clone(),
        description: a.description.clone(),
        redirect_uris: serde_json::from_str(&a.redirect_uris).unwrap_or_default(),
        scopes: a.scopes.to_strings(),
        kind: AppKind::parse(&a.kind)
            .unwrap_or(AppKind::Confidential)
            .as_str(),
        disabled: a.disabled_at.is_some(),
        previous_secret_expires_at: a.previous_secret_expires_at,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn text_field(v: &str, field: &'static str, max: usize) -> Result<String, AppError> {
    let v = v.trim();
    if v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::field(
            "invalid_field",
            field,
            format!("{field} is at most {max} characters, without control characters"),
        )
        .into());
    }
    Ok(v.to_owned())
}

fn redirect_uris(uris: &[String]) -> Result<String, AppError> {
    if uris.len() > 10 {
        return Err(DomainError::field(
            "invalid_redirect_uri",
            "redirect_uris",
            "at most 10 redirect URIs",
        )
        .into());
    }
    let checked = uris
        .iter()
        .map(|u| check_redirect_uri(u))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(serde_json::to_string(&checked).unwrap_or_else(|_| "[]".into()))
}

/// Scopes by name, at least one, within what the author holds.
fn scopes(names: &[String], held: PermissionSet) -> Result<ScopeSet, AppError> {
    let set = ScopeSet::parse_all(names.iter().map(String::as_str))
        .map_err(|n| DomainError::field("unknown_scope", "scopes", format!("no scope {n:?}")))?;
    if set.is_empty() {
        return Err(DomainError::field(
            "scopes_empty",
            "scopes",
            "an app needs at least one scope",
        )
        .into());
    }
    if !set.permissions().is_subset_of(held) {
        return Err(DomainError::forbidden(
            "privilege_escalation",
            "an app cannot have scopes beyond your own permissions",
        )
        .into());
    }
    Ok(set)
}

/// Who an app belongs to: an account (a private app, its author's permissions bounding its
/// scopes) or the operator's catalogue (any scope).
struct Owner {
    account: Option<AccountId>,
    author: Option<PersonId>,
    held: PermissionSet,
}

/// A new app's row, checked, and its secret (confidential apps).
fn new_row(new: &NewApp, owner: Owner, now: Millis) -> Result<(AppRow, Option<String>), AppError> {
    let kind = match new.kind.as_deref() {
        None => AppKind::Confidential,
        Some(k) => AppKind::parse(k).ok_or_else(|| {
            DomainError::field("invalid_kind", "kind", "kind is confidential or public")
        })?,
    };
    let secret = (kind == AppKind::Confidential).then(|| api_key::generate(SECRET_PREFIX));
    let row =
        AppRow {
            id: format!("app_{}", uuid::Uuid::now_v7().simple()),
            account_id: owner.account.map(|a| a.to_string()),
            name: text::label(&new.name, "an app name")?,
            developer: text_field(new.developer.as_deref().unwrap_or(""), "developer", 200)?,
            homepage: match new.homepage.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(h) => Some(check_redirect_uri(h).map_err(|_| {
                    DomainError::field("invalid_homepage", "homepage", "an https URL")
                })?),
            },
            description: text_field(
                new.description.as_deref().unwrap_or(""),
                "description",
                2000,
            )?,
            redirect_uris: redirect_uris(&new.redirect_uris)?,
            scopes: scopes(&new.scopes, owner.held)?,
            kind: kind.as_str().to_owned(),
            secret_hash: secret.as_deref().map(|s| hash_token(s).to_vec()),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            disabled_at: None,
            created_by: owner.author.map(|p| p.to_string()),
            created_at: now,
            updated_at: now,
        };
    Ok((row, secret))
}

impl App {
    /// Registers an app of the operator's catalogue (any account may install it; no client
    /// credentials grant). The secret of a confidential one comes back this once.
    pub async fn create_catalogue_app(
        &self,
        new: NewApp,
    ) -> Result<(AppView, Option<String>), AppError> {
        let owner = Owner {
            account: None,
            author: None,
            held: PermissionSet::all(),
        };
        let (row, secret) = new_row(&new, owner, self.now())?;
        let mut tx = self.store().begin().await?;
        store::save_app(&mut tx, &row, true).await?;
        tx.commit().await?;
        tracing::info!(app = %row.id, name = %row.name, "catalogue app registered");
        Ok((view(&row), secret))
    }

    /// The operator's catalogue.
    pub async fn catalogue_apps(&self) -> Result<Vec<AppView>, AppError> {
        let mut c = self.store().read().await?;
        Ok(store::catalogue(&mut c).await?.iter().map(view).collect())
    }

    /// Disables (or enables again) a catalogue app: disabled, it gets no token and the ones it
    /// holds in every account stop at once.
    pub async fn set_catalogue_app_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> Result<AppView, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let mut row = store::app(&mut tx, id)
            .await?
            .filter(|a| a.account_id.is_none())
            .ok_or(AppError::NotFound)?;
        row.disabled_at = if disabled {
            row.disabled_at.or(Some(now))
        } else {
            None
        };
        row.updated_at = now;
        store::save_app(&mut tx, &row, false).await?;
        // The hot path reads the app with an access token's grant: announced, every node
        // drops what it cached, and the app's tokens stop (or work again).
        watchword_store::changes::announce(&mut tx, &row.id).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(view(&row))
    }

    /// The actor's access to the account's apps: `api_keys:manage`; a change also needs a
    /// recent sign-in.
    async fn app_admin(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
        change: Option<&str>,
    ) -> Result<crate::members::Access, AppError> {
        if let Some(what) = change {
            self.require_recent_auth(actor, what)?;
        }
        let access = self.access(c, actor, account).await?;
        access.require(Permission::ApiKeysManage)?;
        Ok(access)
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn oauth_apps(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<AppView>, AppError> {
        let mut c = self.store().read().await?;
        self.app_admin(&mut c, actor, account, None).await?;
        Ok(store::apps_of(&mut c, account)
            .await?
            .iter()
            .map(view)
            .collect())
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn oauth_app(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<AppView, AppError> {
        let mut c = self.store().read().await?;
        self.app_admin(&mut c, actor, account, None).await?;
        Ok(view(&own_app(&mut c, account, id).await?))
    }

    /// Registers a private app; a confidential one's secret comes back this once.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn create_oauth_app(
        &self,
        actor: &Actor,
        account: AccountId,
        new: NewApp,
    ) -> Result<(AppView, Option<String>), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .app_admin(&mut tx, actor, account, Some("register an OAuth app"))
            .await?;
        // Counted under the account's lock: two registrations at once cannot both pass the cap.
        let key = format!("oauth-apps:{account}");
        watchword_store::limits::lock(&mut tx, self.store().dialect(), &[&key]).await?;
        if store::apps_of(&mut tx, account).await?.len() >= MAX_APPS {
            return Err(DomainError::conflict(
                "too_many_apps",
                format!("an account registers at most {MAX_APPS} apps"),
            )
            .into());
        }
        let owner = Owner {
            account: Some(account),
            author: Some(actor.person),
            held: access.permissions(),
        };
        let (row, secret) = new_row(&new, owner, now)?;
        store::save_app(&mut tx, &row, true).await?;
        self.app_saved(tx, actor, account, &row, AuditAction::OauthAppCreated, now)
            .await?;
        Ok((view(&row), secret))
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn update_oauth_app(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
        change: AppChange,
    ) -> Result<AppView, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .app_admin(&mut tx, actor, account, Some("change an OAuth app"))
            .await?;
        let mut row = own_app(&mut tx, account, id).await?;
        if let Some(n) = &change.name {
            row.name = text::label(n, "an app name")?;
        }
        if let Some(d) = &change.developer {
            row.developer = text_field(d, "developer", 200)?;
        }
        if let Some(d) = &change.description {
            row.description = text_field(d, "description", 2000)?;
        }
        if let Some(h) = &change.homepage {
            row.homepage = match h.trim() {
                "" => None,
                h => Some(check_redirect_uri(h).map_err(|_| {
                    DomainError::field("invalid_homepage", "homepage", "an https URL")
                })?),
            };
        }
        if let Some(u) = &change.redirect_uris {
            row.redirect_uris = redirect_uris(u)?;
        }
        let before = row.scopes;
        if let Some(s) = &change.scopes {
            row.scopes = scopes(s, access.permissions())?;
        }
        if let Some(d) = change.disabled {
            row.disabled_at = if d {
                row.disabled_at.or(Some(now))
            } else {
                None
            };
        }
        row.updated_at = now;
        store::save_app(&mut tx, &row, false).await?;
        // New scopes end the app's grants (given again with the new scopes); a disabled app's
        // tokens stop at once (the hot path reads the app, and the change is announced).
        if row.scopes != before {
            store::revoke_app_grants(&mut tx, &row.id, "app_scopes_changed", now).await?;
        }
        watchword_store::changes::announce(&mut tx, &row.id).await?;
        self.app_saved(tx, actor, account, &row, AuditAction::OauthAppUpdated, now)
            .await?;
        Ok(view(&row))
    }

    /// Deletes an app: its grants go with it and every token it holds stops working.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn delete_oauth_app(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.app_admin(&mut tx, actor, account, Some("delete an OAuth app"))
            .await?;
        let row = own_app(&mut tx, account, id).await?;
        store::delete_app(&mut tx, &row.id).await?;
        watchword_store::changes::announce(&mut tx, &row.id).await?;
        self.app_saved(tx, actor, account, &row, AuditAction::OauthAppDeleted, now)
            .await?;
        Ok(())
    }

    /// A new secret for a confidential app, shown once; the old one works `grace_secs` more
    /// (default a day, at most 30 days; 0 ends it now).
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn rotate_oauth_app_secret(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
        grace_secs: Option<i64>,
    ) -> Result<(AppView, String), AppError> {
        let grace = grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
        if !(0..=MAX_GRACE_SECS).contains(&grace) {
            return Err(DomainError::field(
                "invalid_grace",
                "grace_period_secs",
                format!("the grace period is 0 to {MAX_GRACE_SECS} seconds"),
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.app_admin(
            &mut tx,
            actor,
            account,
            Some("rotate an OAuth app's secret"),
        )
        .await?;
        let mut row = own_app(&mut tx, account, id).await?;
        if row.kind != AppKind::Confidential.as_str() {
            return Err(DomainError::conflict(
                "public_client",
                "a public app has no secret (it uses PKCE)",
            )
            .into());
        }
        let secret = api_key::generate(SECRET_PREFIX);
        row.previous_secret_hash = row.secret_hash.take().filter(|_| grace > 0);
        row.previous_secret_expires_at = (grace > 0).then(|| now.plus_secs(grace));
        row.secret_hash = Some(hash_token(&secret).to_vec());
        row.updated_at = now;
        store::save_app(&mut tx, &row, false).await?;
        self.app_saved(
            tx,
            actor,
            account,
            &row,
            AuditAction::OauthAppSecretRotated,
            now,
        )
        .await?;
        Ok((view(&row), secret))
    }

    /// Audits a change of an app and commits it; tokens it ended stop on every node.
    async fn app_saved(
        &self,
        mut tx: watchword_store::Tx,
        actor: &Actor,
        account: AccountId,
        row: &AppRow,
        action: AuditAction,
        now: Millis,
    ) -> Result<(), AppError> {
        let event = events::by_actor(actor, account, action)
            .target("oauth_app", &row.id)
            .details(serde_json::json!({
                "name": row.name, "kind": row.kind, "scopes": row.scopes.to_strings(),
                "disabled": row.disabled_at.is_some(),
            }));
        audit::append(&mut tx, &event, now).await?;
        watchword_store::changes::announce(&mut tx, &row.id).await?;
        tx.commit().await?;
        self.committed();
        self.keys_changed();
        Ok(())
    }
}

async fn own_app(c: &mut Conn, account: AccountId, id: &str) -> Result<AppRow, AppError> {
    store::app(c, id)
        .await?
        .filter(|a| a.account_id.as_deref() == Some(account.to_string().as_str()))
        .ok_or(AppError::NotFound)
}
