//! SCIM 2.0 provisioning per account (RFC 7643/7644): the account's IdP creates, updates,
//! suspends and removes its members and pushes its groups. The bearer token is a key of the SCIM
//! kind whose only power is this account's provisioning, and only while its maker still holds
//! `sso:manage` there on the paid plan.

mod groups;
mod json;
mod search;
mod token;
mod users;

pub use json::{ListQuery, PatchRequest};
pub use search::SearchRequest;
pub use token::ScimStatus;

use crate::api_keys::VerifiedKey;
use crate::{App, AppError, Meta};
use std::sync::Arc;
use watchword_domain::api_key::KeyKind;
use watchword_domain::*;
use watchword_store::rows::AccountRow;
use watchword_store::{Conn, members};

/// A SCIM error: its HTTP status, RFC 7644 `scimType` and a detail that names no secret.
#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    pub(crate) fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(400, Some("invalidValue"), detail)
    }
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, None, detail)
    }
    pub(crate) fn not_found() -> Self {
        Self::new(404, None, "no such resource in this account")
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(DomainError::Invalid { message, .. }) => {
                ScimError::invalid_value(message)
            }
            AppError::Domain(DomainError::Forbidden { message, .. }) => {
                ScimError::new(403, None, message)
            }
            AppError::Domain(DomainError::Conflict { message, .. }) => ScimError::conflict(message),
            AppError::NotFound => ScimError::not_found(),
            AppError::RateLimited(_, m) => ScimError::new(429, None, m),
            AppError::Unavailable(_) => {
                ScimError::new(503, None, "the database is unavailable; try again shortly")
            }
            AppError::Unauthenticated | AppError::ApiKey(_) | AppError::InvalidCredentials => {
                ScimError::new(401, None, "a valid SCIM token for this account is required")
            }
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                ScimError::new(500, None, "internal error")
            }
        }
    }
}

impl From<watchword_store::StoreError> for ScimError {
    fn from(e: watchword_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

/// The resources SCIM serves, by their endpoint's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Users,
    Groups,
}

impl Resource {
    pub fn parse(endpoint: &str) -> Option<Self> {
        match endpoint {
            "Users" => Some(Resource::Users),
            "Groups" => Some(Resource::Groups),
            _ => None,
        }
    }
}

/// A request authenticated with the account's SCIM token.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    pub key: Arc<VerifiedKey>,
    pub meta: Meta,
}

/// What a SCIM request may act on: the account, and the permissions its token's maker holds now.
pub(crate) struct Room {
    pub account: AccountRow,
    pub held: PermissionSet,
    pub token: String,
    pub meta: Meta,
}

impl App {
    /// Checks a presented SCIM token (format, checksum, cache, then the database), like any key.
    pub async fn verify_scim_token(
        &self,
        token: &str,
        meta: &Meta,
    ) -> Result<ScimCaller, AppError> {
        let key = self.verify_key_of(token, meta, KeyKind::Scim).await?;
        Ok(ScimCaller {
            key,
            meta: meta.clone(),
        })
    }

    /// The SCIM room: the token reaches its own account alone (another one is "not found"), on
    /// the paid plan (`403 plan_required`), and only while its maker is an active member who
    /// holds `sso:manage` — a token stops with the authority of the person who made it.
    pub(crate) async fn scim_room(
        &self,
        c: &mut Conn,
        caller: &ScimCaller,
        account: AccountId,
    ) -> Result<Room, ScimError> {
        let row = &caller.key.row;
        if row.account_id != account {
            return Err(ScimError::new(
                401,
                None,
                "this token is not for this account",
            ));
        }
        let account = watchword_store::accounts::get(&mut *c, account)
            .await?
            .ok_or_else(ScimError::not_found)?;
        if account.plan != Plan::Paid {
            return Err(ScimError::new(
                403,
                None,
                "SCIM provisioning comes with the paid plan (plan_required)",
            ));
        }
        let held = match row.created_by {
            Some(p) => members::of_person(&mut *c, account.id, p)
                .await?
                .filter(|m| m.grants_access(self.now()))
                .map_or(PermissionSet::EMPTY, |m| m.permissions),
            None => PermissionSet::EMPTY,
        };
        if !held.contains(Permission::SsoManage) {
            return Err(ScimError::new(
                403,
                None,
                "the member who made this token no longer manages single sign-on here",
            ));
        }
        Ok(Room {
            account,
            held,
            token: row.id.clone(),
            meta: caller.meta.clone(),
        })
    }

    /// Checks that `caller` may use `account`'s SCIM endpoint now (for the discovery answers).
    pub async fn scim_check(
        &self,
        caller: &ScimCaller,
        account: AccountId,
    ) -> Result<(), ScimError> {
        let mut c = self.store().read().await.map_err(AppError::from)?;
        self.scim_room(&mut c, caller, account).await?;
        Ok(())
    }

    /// The members SCIM manages in an account (for marks beside members; `users:read`).
    pub async fn scim_managed(
        &self,
        caller: &crate::Caller,
        account: AccountId,
    ) -> Result<std::collections::HashSet<MembershipId>, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::UsersRead,
            watchword_domain::scope::Scope::Read(watchword_domain::scope::Resource::Members),
        )
        .await?;
        Ok(watchword_store::scim::provisioned(&mut c, account).await?)
    }

    pub async fn scim_list(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        q: &ListQuery,
    ) -> Result<serde_json::Value, ScimError> {
        match r {
            Resource::Users => self.scim_list_users(caller, account, q).await,
            Resource::Groups => self.scim_list_groups(caller, account, q).await,
        }
    }

    pub async fn scim_get(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        q: &ListQuery,
    ) -> Result<serde_json::Value, ScimError> {
        match r {
            Resource::Users => self.scim_get_user(caller, account, id, q).await,
            Resource::Groups => self.scim_get_group(caller, account, id, q).await,
        }
    }

    pub async fn scim_create(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ScimError> {
        match r {
            Resource::Users => self.scim_create_user(caller, account, body).await,
            Resource::Groups => self.scim_create_group(caller, account, body).await,
        }
    }

    pub async fn scim_replace(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        body: &serde_json::Value,
        if_match: Option<&str>,
    ) -> Result<serde_json::Value, ScimError> {
        match r {
            Resource::Users => {
                self.scim_replace_user(caller, account, id, body, if_match)
                    .await
            }
            Resource::Groups => {
                self.scim_replace_group(caller, account, id, body, if_match)
                    .await
            }
        }
    }

    pub async fn scim_patch(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        req: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<serde_json::Value, ScimError> {
        match r {
            Resource::Users => {
                self.scim_patch_user(caller, account, id, req, if_match)
                    .await
            }
            Resource::Groups => {
                self.scim_patch_group(caller, account, id, req, if_match)
                    .await
            }
        }
    }

    pub async fn scim_delete(
        &self,
        r: Resource,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        match r {
            Resource::Users => self.scim_delete_user(caller, account, id, if_match).await,
            Resource::Groups => self.scim_delete_group(caller, account, id, if_match).await,
        }
    }

    /// The SCIM base URL of an account.
    pub fn scim_base_url(&self, account: AccountId) -> String {
        format!(
            "{}/scim/v2/accounts/{account}",
            self.settings().public_url.trim_end_matches('/')
        )
    }
}
