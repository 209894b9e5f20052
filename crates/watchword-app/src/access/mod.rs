//! The authority room: the one place that answers "may this caller do this in this account now?".
//!
//! A person's standing is their active membership's role, narrowed by the account's policies
//! (MFA required, SSO-only, plan) and by the session's provenance (a session opened through an
//! account's IdP acts in that account alone). A credential someone made — an API key, an OAuth
//! grant, an app's client-credentials tokens — acts with at most its maker's *current*
//! permissions in its account ([`App::maker_scopes`]): it shrinks when they are demoted and
//! stops when they leave. Features call this module; it calls no feature, only the store.

mod policy;

pub(crate) use policy::{is_administrator, not_allowed, wanted_words};

use crate::api_keys::KeyActor;
use crate::events::{self, EventExt};
use crate::sso::SetupGrant;
use crate::{Actor, App, AppError, Caller};
use watchword_domain::audit::AuditAction;
use watchword_domain::scope::{Preset, Scope, ScopeSet};
use watchword_domain::sso::email_domain;
use watchword_domain::*;
use watchword_store::rows::{AccountRow, MemberRow};
use watchword_store::{Conn, accounts, audit, members, mfa, persons, sso};

/// The actor's standing in one account, checked against the database on every call: only
/// [`App::access`] makes one.
#[derive(Debug, Clone)]
pub struct Access {
    pub account: AccountRow,
    pub member: MemberRow,
}

impl Access {
    pub fn permissions(&self) -> PermissionSet {
        self.member.permissions
    }
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.member.permissions.contains(p) {
            Ok(())
        } else {
            Err(
                DomainError::forbidden("forbidden", format!("this requires the {p} permission"))
                    .into(),
            )
        }
    }
}

/// What the actor is about to do with the account's SSO.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SsoAdmin {
    Read,
    /// A change also needs a recent sign-in.
    Change,
}

/// Who manages an account's SSO: a member holding `sso:manage`, or the setup link an Owner sent
/// to the customer's IT admin (acting with that Owner's authority).
#[derive(Clone, Copy)]
pub enum SsoBy<'a> {
    Member(&'a Actor),
    Setup(&'a SetupGrant),
}

impl<'a> From<&'a Actor> for SsoBy<'a> {
    fn from(a: &'a Actor) -> Self {
        SsoBy::Member(a)
    }
}

impl<'a> From<&'a SetupGrant> for SsoBy<'a> {
    fn from(g: &'a SetupGrant) -> Self {
        SsoBy::Setup(g)
    }
}

impl<'a> SsoBy<'a> {
    /// Who the audit log and the Security Contact's alerts name.
    pub(crate) fn by(self) -> events::By<'a> {
        match self {
            SsoBy::Member(a) => events::By::Person(a),
            SsoBy::Setup(g) => events::By::Setup(g),
        }
    }
}

/// A person's password hash when an IdP provisioned them: no password matches it.
pub(crate) const NO_PASSWORD: &str = "!sso";

impl App {
    /// Loads the actor's active membership; anything else is indistinguishable from a missing
    /// account. Then the session's provenance and the account's policies.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn access(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Access, AppError> {
        if actor
            .mfa_factors
            .iter()
            .all(|f| f == crate::gate::RECOVERED)
            && !actor.mfa_factors.is_empty()
        {
            return Err(DomainError::forbidden(
                "mfa_enrollment_required",
                "your second factors were removed by an account recovery: add a new one (POST /api/v1/me/mfa/totp or /me/security) first",
            )
            .into());
        }
        let access = self.membership(c, actor, account).await?;
        // `membership` let the session in, so an SSO session is one of this account's.
        let sso_account = actor.sso_connection.as_ref().map(|_| access.account.id);
        self.check_network(actor, &access.account, &access.member)?;
        self.check_mfa_enforced(c, actor, &access.account).await?;
        self.check_factor_policy(c, actor, &access.account, &access.member)
            .await?;
        self.check_sso_enforced(c, actor, sso_account, &access.account, &access.member)
            .await?;
        Ok(access)
    }

    /// The actor's active membership and the session's provenance, before the account's
    /// policies: for what every member may always do, such as reporting suspicious activity
    /// while they still have to add a second factor.
    pub(crate) async fn membership(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Access, AppError> {
        let member = members::of_person(&mut *c, account, actor.person).await?;
        let member = member
            .filter(|m| m.grants_access(self.now()))
            .ok_or(AppError::NotFound)?;
        let account = accounts::get(&mut *c, account)
            .await?
            .ok_or(AppError::NotFound)?;
        let sso_account = self.sso_session_account(c, actor).await?;
        if sso_account.is_some_and(|a| a != account.id) {
            return Err(DomainError::forbidden(
                "sso_session_scope",
                "you signed in through another account's identity provider: sign in again to use this account",
            )
            .into());
        }
        Ok(Access { account, member })
    }

    /// Whether the account's trusted networks admit this session where it is now (whoami
    /// leaves out the accounts they do not).
    pub fn admitted_here(actor: &Actor, account: &AccountRow, member: &MemberRow) -> bool {
        policy::network_admits_person(account, member, actor)
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn account(&self, actor: &Actor, account: AccountId) -> Result<Access, AppError> {
        self.access(&mut *self.store().read().await?, actor, account)
            .await
    }

    /// The account whose IdP opened the actor's session (None: not an SSO session, or its
    /// connection is gone, which leaves the session acting nowhere).
    async fn sso_session_account(
        &self,
        c: &mut Conn,
        actor: &Actor,
    ) -> Result<Option<AccountId>, AppError> {
        let Some(conn) = &actor.sso_connection else {
            return Ok(None);
        };
        let account = sso::connection(&mut *c, conn)
            .await?
            .and_then(|x| AccountId::parse(&x.account_id));
        // A session from a deleted connection reaches no account at all.
        Ok(Some(
            account.unwrap_or_else(|| AccountId(uuid::Uuid::nil())),
        ))
    }

    /// The account a caller may act in when it holds `need` (a person) or `scope` (a key, an
    /// OAuth token: its effective scopes, see [`App::maker_scopes`]). A key never reaches another
    /// account than its own.
    pub(crate) async fn authorize(
        &self,
        c: &mut Conn,
        caller: &Caller,
        account: AccountId,
        need: Permission,
        scope: Scope,
    ) -> Result<AccountRow, AppError> {
        match caller {
            Caller::Person(actor) => {
                let access = self.access(c, actor, account).await?;
                access.require(need)?;
                Ok(access.account)
            }
            Caller::Key(k) => {
                if k.key.row.account_id != account {
                    self.key_failed(
                        k,
                        "other_account",
                        serde_json::json!({ "account_id": account }),
                    );
                    return Err(AppError::NotFound);
                }
                if !k.key.effective.grants(scope) {
                    let reason = if k.key.row.scopes.grants(scope) {
                        "maker_lacks_scope"
                    } else {
                        "insufficient_scope"
                    };
                    let scope = scope.to_string();
                    self.key_failed(k, reason, serde_json::json!({ "scope": scope }));
                    return Err(DomainError::forbidden(
                        "insufficient_scope",
                        format!("this API key lacks the {scope} scope"),
                    )
                    .into());
                }
                accounts::get(c, account).await?.ok_or(AppError::NotFound)
            }
        }
    }

    /// The account, for a caller who may read its settings (`account_settings:read`; a key or
    /// token: the matching read scope).
    pub(crate) async fn settings_reader(
        &self,
        c: &mut Conn,
        caller: &Caller,
        account: AccountId,
    ) -> Result<AccountRow, AppError> {
        self.authorize(
            c,
            caller,
            account,
            Permission::AccountSettingsRead,
            Scope::Read(watchword_domain::scope::Resource::AccountSettings),
        )
        .await
    }

    /// The scopes a credential made by `maker` may use in `account` now: the widest scopes
    /// within the maker's current permissions there (nothing when they are not an active
    /// member, or the credential has no maker).
    pub(crate) async fn maker_scopes(
        &self,
        c: &mut Conn,
        account: AccountId,
        maker: Option<PersonId>,
    ) -> Result<ScopeSet, AppError> {
        let Some(maker) = maker else {
            return Ok(ScopeSet::EMPTY);
        };
        let held = members::of_person(&mut *c, account, maker)
            .await?
            .filter(|m| m.grants_access(self.now()))
            .map_or(PermissionSet::EMPTY, |m| m.permissions);
        Ok(ScopeSet::preset(Preset::Full, held))
    }

    /// Sensitive actions need a login or re-authentication within `recent_auth_secs`.
    pub(crate) fn require_recent_auth(&self, actor: &Actor, what: &str) -> Result<(), AppError> {
        if self.now().0 - actor.authenticated_at.0 > self.settings().recent_auth_secs * 1000 {
            return Err(DomainError::forbidden(
                "reauthentication_required",
                format!("confirm your password (POST /api/v1/me/reauthenticate) to {what}"),
            )
            .into());
        }
        Ok(())
    }

    /// A person's own sign-in methods (password, factors, passkeys, email) change only from a
    /// session they opened themselves: a session an account's IdP opened vouches for that
    /// account, not for the person's login, unless the IdP provisioned the person (no password).
    pub(crate) async fn require_own_sign_in(
        &self,
        actor: &Actor,
        what: &str,
    ) -> Result<(), AppError> {
        self.require_recent_auth(actor, what)?;
        if actor.sso_connection.is_none() {
            return Ok(());
        }
        let mut c = self.store().read().await?;
        let provisioned = persons::get(&mut c, actor.person)
            .await?
            .is_some_and(|p| p.password_hash == NO_PASSWORD);
        if provisioned {
            return Ok(());
        }
        Err(DomainError::forbidden(
            "own_sign_in_required",
            format!("sign in with your own password and second factor to {what}"),
        )
        .into())
    }

    /// Refuses a person's session in an account that requires MFA until it passed a factor.
    pub(crate) async fn check_mfa_enforced(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: &AccountRow,
    ) -> Result<(), AppError> {
        if !account.enforces_mfa() || actor.mfa_at.is_some() {
            return Ok(());
        }
        let enrolled = mfa::factors(c, actor.person)
            .await?
            .iter()
            .any(|f| f.confirmed_at.is_some());
        Err(if enrolled {
            DomainError::forbidden(
                "mfa_verification_required",
                "this account requires MFA: confirm a code (POST /api/v1/me/reauthenticate) or log in again",
            )
        } else {
            DomainError::forbidden(
                "mfa_enrollment_required",
                "this account requires MFA: add an authenticator app (POST /api/v1/me/mfa/totp) first",
            )
        }
        .into())
    }

    /// Refuses (`403 sso_required`) a session that did not come from the account's IdP when the
    /// account is SSO-only and the member's email is in one of its verified domains; the Owner's
    /// password + MFA session passes while break-glass is on.
    pub(crate) async fn check_sso_enforced(
        &self,
        c: &mut Conn,
        actor: &Actor,
        sso_account: Option<AccountId>,
        account: &AccountRow,
        member: &MemberRow,
    ) -> Result<(), AppError> {
        // SSO comes with the paid plan: after a downgrade nobody is routed to the IdP, so
        // nobody is held to it either.
        if !account.sso_required || account.plan != Plan::Paid || sso_account == Some(account.id) {
            return Ok(());
        }
        if !self.sso_covers(c, account, &member.email).await? {
            return Ok(());
        }
        let owner = member.role == RoleRef::Builtin(BuiltinRole::Owner);
        if owner && account.sso_break_glass && actor.mfa_at.is_some() {
            return Ok(());
        }
        Err(DomainError::forbidden(
            "sso_required",
            "this account requires single sign-on: sign in with SSO (POST /api/v1/sso/start)",
        )
        .into())
    }

    /// Whether the account's SSO-only covers `email`: on, on the paid plan, and the email in one
    /// of its verified domains.
    pub(crate) async fn sso_covers(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        email: &str,
    ) -> Result<bool, AppError> {
        if !account.sso_required || account.plan != Plan::Paid {
            return Ok(false);
        }
        Ok(sso::verified_domain(&mut *c, email_domain(email))
            .await?
            .is_some_and(|d| d.account_id == account.id.to_string()))
    }

    /// SSO (connections, domains, SSO-only) is managed by members holding `sso:manage` — the
    /// Owner alone unless the Owner grants it — a change with a recent sign-in, on paid plans
    /// only (`403 plan_required`).
    pub(crate) async fn sso_admin(
        &self,
        c: &mut Conn,
        by: SsoBy<'_>,
        account: AccountId,
        what: SsoAdmin,
    ) -> Result<Access, AppError> {
        let actor = match by {
            SsoBy::Member(actor) => actor,
            SsoBy::Setup(grant) => return self.setup_authority(c, grant, account).await,
        };
        let access = self.access(c, actor, account).await?;
        access.require(Permission::SsoManage)?;
        if access.account.plan != Plan::Paid {
            return Err(DomainError::forbidden(
                "plan_required",
                "single sign-on comes with the paid plan",
            )
            .into());
        }
        if what == SsoAdmin::Change {
            self.require_recent_auth(actor, "change single sign-on")?;
        }
        Ok(access)
    }

    /// Tells this node and (PostgreSQL) every node that who-may-do-what moved in `account`
    /// (a role, a membership, a policy): credentials' effective scopes are computed again.
    /// Call inside the change's transaction; [`App::authority_committed`] after the commit.
    pub(crate) async fn authority_moved(
        &self,
        c: &mut Conn,
        account: AccountId,
    ) -> Result<(), AppError> {
        watchword_store::changes::announce(c, &account.to_string()).await?;
        Ok(())
    }

    pub(crate) fn authority_committed(&self) {
        self.keys_changed();
        self.committed();
    }

    /// Audits a failed use of a key (wrong scope or account, expired, revoked), coalesced so a
    /// misbehaving client cannot flood the log; off the request path.
    pub(crate) fn key_failed(
        &self,
        k: &KeyActor,
        reason: &'static str,
        details: serde_json::Value,
    ) {
        let now = self.now();
        if !self.inner.keys.failure_due(&k.key.row.id, reason, now) {
            return;
        }
        let mut event = events::by_key(
            &k.key.row.id,
            &k.meta,
            k.key.row.account_id,
            AuditAction::ApiKeyDenied,
        )
        .target(
            if k.key.row.grant_id.is_some() {
                "oauth_grant"
            } else {
                "api_key"
            },
            &k.key.row.id,
        );
        event.details = serde_json::json!({ "reason": reason, "detail": details });
        self.write_in_background("audit a failed API key use", move |c| {
            Box::pin(async move { audit::append(c, &event, now).await.map(|_| ()) })
        });
    }
}
