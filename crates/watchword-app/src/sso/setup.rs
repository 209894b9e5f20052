//! Setup links: the Owner emails a single-use link to the customer's IT admin, who is not a
//! member. Opened once within 24 hours, it becomes a setup session that manages exactly this
//! account's verified domains, SSO connections and SCIM token — nothing else — with at most the
//! Owner's authority, and only while they are the Owner and the link is not revoked. The Security
//! Contact is told when it is opened and of each change made through it.

use crate::events::{self, EventExt};
use crate::limits::SETUP_LINKS_PER_ACCOUNT;
use crate::mail;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::setup_links::{self as store, NewSetupLink, SetupLinkRow};
use watchword_store::{Conn, accounts, audit};

/// How long a setup link lets its holder in.
pub const SETUP_LINK_TTL_SECS: i64 = 24 * 3600;
/// Live links an account may have at once.
const MAX_LIVE_LINKS: usize = 5;

/// A request made through an opened setup link.
#[derive(Debug, Clone)]
pub struct SetupGrant {
    pub link_id: String,
    pub account: AccountId,
    /// Whom the Owner sent it to.
    pub email: String,
    pub created_by: PersonId,
    pub expires_at: Millis,
    pub meta: Meta,
}

impl App {
    /// The Owner (alone), on the paid plan, with a recent sign-in.
    async fn setup_owner(
        &self,
        c: &mut Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<crate::access::Access, AppError> {
        let access = self.access(c, actor, account).await?;
        if !access.member.role.is_owner() {
            return Err(DomainError::forbidden(
                "owner_only",
                "only the Owner sends and revokes setup links",
            )
            .into());
        }
        if access.account.plan != Plan::Paid {
            return Err(DomainError::forbidden(
                "plan_required",
                "single sign-on comes with the paid plan",
            )
            .into());
        }
        Ok(access)
    }

    /// Emails a setup link to `email`.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn send_setup_link(
        &self,
        actor: &Actor,
        account: AccountId,
        email: &str,
    ) -> Result<SetupLinkRow, AppError> {
        self.require_recent_auth(actor, "send a setup link")?;
        let email = EmailAddress::parse(email)?;
        // The Owner first (nobody else spends the account's links), then the day's slot, held
        // whatever happens next.
        self.setup_owner(&mut *self.store().read().await?, actor, account)
            .await?;
        let account_key = account.to_string();
        self.take_slot(&[(SETUP_LINKS_PER_ACCOUNT, &account_key)], |l| {
            AppError::RateLimited(
                "too_many_setup_links",
                format!(
                    "an account sends at most {} setup links a day; try again later",
                    l.max
                ),
            )
        })
        .await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.setup_owner(&mut tx, actor, account).await?;
        let live = store::list(&mut tx, account)
            .await?
            .iter()
            .filter(|l| l.live(now))
            .count();
        if live >= MAX_LIVE_LINKS {
            return Err(DomainError::conflict(
                "too_many_setup_links",
                format!("at most {MAX_LIVE_LINKS} setup links work at once: revoke one first"),
            )
            .into());
        }
        let token = random_token();
        let id = format!("setup_{}", uuid::Uuid::now_v7().simple());
        let new = NewSetupLink {
            id: &id,
            account,
            email: email.as_str(),
            token_hash: &hash_token(&token),
            created_by: actor.person,
            expires_at: now.plus_secs(SETUP_LINK_TTL_SECS),
        };
        store::insert(&mut tx, new, now).await?;
        let link = format!(
            "{}/setup?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let letter = mail::SetupLink {
            owner: &actor.name,
            account: &access.account.name,
            link: &link,
        };
        mail::enqueue(&mut tx, Some(account), email.as_str(), &letter, now).await?;
        let event = events::by_actor(actor, account, AuditAction::SsoSetupLinkSent)
            .target("setup_link", &id)
            .details(serde_json::json!({ "email": email.as_str() }));
        audit::append(&mut tx, &event, now).await?;
        let row = store::get(&mut tx, account, &id)
            .await?
            .ok_or_else(|| AppError::internal("inserted setup link not found"))?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }

    /// The account's setup links, newest first (Owner).
    pub async fn setup_links(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<SetupLinkRow>, AppError> {
        let mut c = self.store().read().await?;
        self.setup_owner(&mut c, actor, account).await?;
        Ok(store::list(&mut c, account).await?)
    }

    /// Revokes a link, ending its setup session at once.
    pub async fn revoke_setup_link(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.setup_owner(&mut tx, actor, account).await?;
        store::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        if store::revoke(&mut tx, account, id, now).await? {
            let event = events::by_actor(actor, account, AuditAction::SsoSetupLinkRevoked)
                .target("setup_link", id);
            audit::append(&mut tx, &event, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Opens a setup link, once: its setup session's secret (for a cookie) and grant. A link
    /// used, revoked, expired or unknown is "not found" alike.
    pub async fn open_setup_link(
        &self,
        token: &str,
        meta: &Meta,
    ) -> Result<(String, SetupGrant), AppError> {
        let secret = random_token();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let link = store::open(
            &mut tx,
            &hash_token(token),
            &hash_token(&secret),
            &meta.ip,
            now,
        )
        .await?
        .ok_or(AppError::NotFound)?;
        let grant = grant(link, meta);
        let event =
            setup_event(&grant, AuditAction::SsoSetupLinkUsed).target("setup_link", &grant.link_id);
        audit::append(&mut tx, &event, now).await?;
        if let Some(account) = accounts::get(&mut tx, grant.account).await? {
            let what = format!(
                "The single sign-on setup link sent to {} was opened; it works until {} UTC",
                grant.email,
                grant.expires_at.rfc3339_secs()
            );
            let by = format!("the setup link sent to {}", grant.email);
            self.alert_system(&mut tx, &account, &what, &by, &meta.ip, now)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok((secret, grant))
    }

    /// The grant of a setup session's secret while its link is live (else `Unauthenticated`).
    pub async fn setup_grant(&self, secret: &str, meta: &Meta) -> Result<SetupGrant, AppError> {
        let mut c = self.store().read().await?;
        store::by_session(&mut c, &hash_token(secret))
            .await?
            .filter(|l| l.live(self.now()))
            .map(|l| grant(l, meta))
            .ok_or(AppError::Unauthenticated)
    }

    /// The Owner behind a setup session: the account's Owner who sent the link, still the
    /// Owner, on the paid plan, the link still live. Their membership is the session's authority.
    pub(crate) async fn setup_authority(
        &self,
        c: &mut Conn,
        grant: &SetupGrant,
        account: AccountId,
    ) -> Result<crate::access::Access, AppError> {
        if grant.account != account {
            return Err(AppError::NotFound);
        }
        let link = store::get(&mut *c, account, &grant.link_id)
            .await?
            .filter(|l| l.live(self.now()))
            .ok_or(AppError::Unauthenticated)?;
        let member = watchword_store::members::of_person(&mut *c, account, link.created_by)
            .await?
            .filter(|m| m.grants_access(self.now()) && m.role.is_owner())
            .ok_or_else(|| {
                DomainError::forbidden(
                    "setup_link_stopped",
                    "the person who sent this setup link is no longer the account's Owner",
                )
            })?;
        let account = accounts::get(&mut *c, account)
            .await?
            .ok_or(AppError::NotFound)?;
        if account.plan != Plan::Paid {
            return Err(DomainError::forbidden(
                "plan_required",
                "single sign-on comes with the paid plan",
            )
            .into());
        }
        Ok(crate::access::Access { account, member })
    }
}

fn grant(l: SetupLinkRow, meta: &Meta) -> SetupGrant {
    SetupGrant {
        link_id: l.id,
        account: l.account_id,
        email: l.email,
        created_by: l.created_by,
        expires_at: l.expires_at,
        meta: meta.clone(),
    }
}

/// An event of a setup session: no person of the account behind it, the link's address as the
/// actor's email (the link's id is the target of its `sso.setup_link_used`).
pub(crate) fn setup_event(g: &SetupGrant, action: AuditAction) -> watchword_store::audit::NewEvent {
    watchword_store::audit::NewEvent {
        actor_email: Some(g.email.clone()),
        ip: Some(g.meta.ip.clone()),
        user_agent: Some(g.meta.user_agent.clone()),
        ..events::system(Some(g.account), action)
    }
}
