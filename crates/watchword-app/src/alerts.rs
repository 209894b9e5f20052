//! Security alerts routed to an account's Security Contact (seed 002): changes that widen who
//! administers the account or weaken its protection. Written to the outbox in the change's own
//! transaction. Abnormal login attempts are in `login_guard`, exposed API keys in `api_keys`.

use crate::mail::{self, AccountActivity};
use crate::{Actor, App, AppError};
use watchword_domain::{AccountId, Millis};
use watchword_store::rows::{AccountRow, MemberRow};
use watchword_store::{Conn, contacts, members};

impl App {
    /// The account's Security Contact as a member, when it has one.
    pub(crate) async fn contact_member(
        &self,
        c: &mut Conn,
        account: AccountId,
    ) -> Result<Option<MemberRow>, AppError> {
        let Some(id) = contacts::get(&mut *c, account)
            .await?
            .and_then(|r| r.membership)
        else {
            return Ok(None);
        };
        Ok(members::get(c, account, id).await?)
    }

    /// Alerts the Security Contact when a change gives administrative permissions (`gained`):
    /// `what` says what happened, the permissions are named after it. Nothing when none.
    pub(crate) async fn alert_administration(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        actor: &Actor,
        gained: &[watchword_domain::Permission],
        what: String,
        now: Millis,
    ) -> Result<(), AppError> {
        if gained.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = gained.iter().map(|p| p.as_str()).collect();
        let what = format!("{what} ({})", names.join(", "));
        self.alert_contact(c, account, actor, &what, now).await
    }

    /// Emails the Security Contact that `what` happened in `account`, unless the contact did it.
    pub(crate) async fn alert_contact(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        actor: &Actor,
        what: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        let Some(contact) = self.contact_member(&mut *c, account.id).await? else {
            return Ok(());
        };
        if contact.person_id == Some(actor.person) {
            return Ok(());
        }
        let by = format!("{} <{}>", actor.name, actor.email);
        self.send_alert(c, account, &contact, what, &by, &actor.meta.ip, now)
            .await
    }

    /// Emails the Security Contact that `what` happened in `account`, done by `by`.
    pub(crate) async fn alert_by(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        by: crate::events::By<'_>,
        what: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        use crate::events::By;
        match by {
            By::Person(actor) => self.alert_contact(c, account, actor, what, now).await,
            By::Key(key, meta) => {
                let who = format!("the SCIM token {key}");
                self.alert_system(c, account, what, &who, &meta.ip, now)
                    .await
            }
            By::Setup(g) => {
                let who = format!("the setup link sent to {}", g.email);
                self.alert_system(c, account, what, &who, &g.meta.ip, now)
                    .await
            }
        }
    }

    /// Emails the Security Contact that `what` happened in `account` with nobody of the account
    /// behind it (`by` says who or what did).
    pub(crate) async fn alert_system(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        what: &str,
        by: &str,
        ip: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        let Some(contact) = self.contact_member(&mut *c, account.id).await? else {
            return Ok(());
        };
        self.send_alert(c, account, &contact, what, by, ip, now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_alert(
        &self,
        c: &mut Conn,
        account: &AccountRow,
        contact: &MemberRow,
        what: &str,
        by: &str,
        ip: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        let audit_url = format!(
            "{}/accounts/{}/audit",
            self.settings().public_url.trim_end_matches('/'),
            account.id
        );
        let t = AccountActivity {
            name: contact.name.as_deref().unwrap_or(&contact.email),
            account: &account.name,
            what,
            actor: by,
            ip,
            at: now,
            audit_url: &audit_url,
        };
        mail::enqueue(c, Some(account.id), &contact.email, &t, now).await?;
        Ok(())
    }
}
