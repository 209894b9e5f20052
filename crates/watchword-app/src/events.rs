//! Building audit events from who acted and where from.

use crate::{Actor, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::{AccountId, Millis, PersonId};
use watchword_store::audit::{self, NewEvent};
use watchword_store::rows::PersonRow;
use watchword_store::{Conn, StoreError, members};

pub(crate) fn by_actor(actor: &Actor, account: AccountId, action: AuditAction) -> NewEvent {
    by_person(
        actor.person,
        &actor.email,
        &actor.meta,
        Some(account),
        action,
    )
}

/// An event of a person's own login, not of an account (fanned out to their accounts).
pub(crate) fn by_self(actor: &Actor, action: AuditAction) -> NewEvent {
    by_person(actor.person, &actor.email, &actor.meta, None, action)
}

/// An event of a person found by the request (a login, a reset), not of an account.
pub(crate) fn of_person(person: &PersonRow, meta: &Meta, action: AuditAction) -> NewEvent {
    by_person(person.id, &person.email, meta, None, action)
}

pub(crate) fn by_person(
    person: PersonId,
    email: &str,
    meta: &Meta,
    account: Option<AccountId>,
    action: AuditAction,
) -> NewEvent {
    NewEvent {
        account,
        actor_person: Some(person),
        actor_email: Some(email.to_owned()),
        actor_key: None,
        action: action.as_str(),
        target_kind: None,
        target_id: None,
        ip: Some(meta.ip.clone()),
        user_agent: Some(meta.user_agent.clone()),
        details: serde_json::json!({}),
    }
}

/// An event with no person behind it: the automatic checks, the operator's CLI, and attempts by
/// someone not (yet) known.
pub(crate) fn system(account: Option<AccountId>, action: AuditAction) -> NewEvent {
    NewEvent {
        account,
        actor_person: None,
        actor_email: None,
        actor_key: None,
        action: action.as_str(),
        target_kind: None,
        target_id: None,
        ip: None,
        user_agent: None,
        details: serde_json::json!({}),
    }
}

/// Who caused a change: a signed-in person, or a credential of the account (a SCIM token).
#[derive(Clone, Copy)]
pub(crate) enum By<'a> {
    Person(&'a Actor),
    Key(&'a str, &'a Meta),
    /// An Owner's setup link, opened by the customer's IT admin.
    Setup(&'a crate::sso::SetupGrant),
}

impl By<'_> {
    pub(crate) fn event(self, account: AccountId, action: AuditAction) -> NewEvent {
        match self {
            By::Person(a) => by_actor(a, account, action),
            By::Key(key, meta) => by_key(key, meta, account, action),
            By::Setup(g) => crate::sso::setup_event(g, action),
        }
    }
}

/// An event caused by a request authenticated with an API key.
pub(crate) fn by_key(key: &str, meta: &Meta, account: AccountId, action: AuditAction) -> NewEvent {
    NewEvent {
        actor_key: Some(key.to_owned()),
        ip: Some(meta.ip.clone()),
        user_agent: Some(meta.user_agent.clone()),
        ..system(Some(account), action)
    }
}

pub(crate) trait EventExt {
    fn target(self, kind: &'static str, id: impl ToString) -> Self;
    fn details(self, details: serde_json::Value) -> Self;
}

impl EventExt for NewEvent {
    fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }
    fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Records a person-level event (login, logout, password change, session revocation) in the log
/// of every account the person belongs to, so each account's admins see it; in no account's log
/// (account NULL) when the person belongs to none.
pub(crate) async fn fan_out(
    c: &mut Conn,
    person: PersonId,
    event: NewEvent,
    now: Millis,
) -> Result<(), StoreError> {
    let accounts: Vec<AccountId> = members::of_person_all(&mut *c, person)
        .await?
        .into_iter()
        .map(|(a, _)| a.id)
        .collect();
    if accounts.is_empty() {
        audit::append(c, &event, now).await?;
    }
    for account in accounts {
        let e = NewEvent {
            account: Some(account),
            ..event.clone()
        };
        audit::append(&mut *c, &e, now).await?;
    }
    Ok(())
}
