//! Reminders before a credential expires: 14 and 2 days before an API key or SCIM token expires,
//! its creator (while an active member) and the account's Security Contact are emailed once each,
//! with a link to rotate it. Several nodes may run the job at once: each reminder is claimed by
//! inserting its row first (`reminders`), so it goes once. SAML signing certificates have their
//! own warnings (`sso::certificates`, 30, 14, 7 and 2 days). OAuth app secrets do not expire.

use crate::events::{self, EventExt};
use crate::mail::{self, CredentialExpiring};
use crate::{App, AppError};
use watchword_domain::api_key::KeyKind;
use watchword_domain::audit::AuditAction;
use watchword_domain::*;
use watchword_store::api_keys::{self, KeyRow};
use watchword_store::{Conn, accounts, audit, members, reminders};

/// Days before expiry that reminders go, farthest first.
pub const EXPIRY_REMINDER_DAYS: [i64; 2] = [14, 2];
const DAY_MS: i64 = 86_400_000;

/// A credential that expires within 14 days (the access review lists them).
#[derive(Debug, Clone)]
pub struct Expiring {
    /// `api_key` or `scim_token`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub expires_at: Millis,
    pub created_by_email: String,
}

impl App {
    /// Sends the reminders due at `now`; returns how many credentials were reminded of.
    pub async fn expiry_reminders_once(&self, now: Millis) -> Result<usize, AppError> {
        let horizon = now.plus_secs(EXPIRY_REMINDER_DAYS[0] * 86_400);
        let keys = {
            let mut c = self.store().read().await?;
            api_keys::expiring(&mut c, None, now, horizon).await?
        };
        let mut sent = 0;
        for k in keys {
            if self.remind_key(&k, now).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    async fn remind_key(&self, k: &KeyRow, now: Millis) -> Result<bool, AppError> {
        let Some(expires_at) = k.expires_at else {
            return Ok(false);
        };
        // The nearest threshold the key is inside: a key made with 1 day left gets only the last.
        let days = EXPIRY_REMINDER_DAYS
            .into_iter()
            .rev()
            .find(|d| expires_at.0 - now.0 <= d * DAY_MS)
            .unwrap_or(EXPIRY_REMINDER_DAYS[0]);
        let mut tx = self.store().begin().await?;
        if !reminders::claim(&mut tx, "key_expiry", &k.id, &days.to_string(), now).await? {
            return Ok(false);
        }
        let Some(account) = accounts::get(&mut tx, k.account_id).await? else {
            return Ok(false);
        };
        let kind = kind_of(k);
        let what = format!(
            "The {} \"{}\" ({})",
            if kind == "scim_token" {
                "SCIM token"
            } else {
                "API key"
            },
            k.name,
            k.id
        );
        let base = self.settings().public_url.trim_end_matches('/').to_owned();
        let rotate_url = if kind == "scim_token" {
            format!("{base}/accounts/{}/settings/sso/scim", account.id)
        } else {
            format!("{base}/accounts/{}/api-keys", account.id)
        };
        let mut told = Vec::new();
        if let Some(maker) = k.created_by
            && let Some(m) = members::of_person(&mut tx, account.id, maker).await?
            && m.grants_access(now)
        {
            told.push(m);
        }
        if let Some(contact) = self.contact_member(&mut tx, account.id).await?
            && !told.iter().any(|m| m.id == contact.id)
        {
            told.push(contact);
        }
        let written = self.now();
        for m in &told {
            let t = CredentialExpiring {
                name: m.name.as_deref().unwrap_or(&m.email),
                account: &account.name,
                what: &what,
                expires_at,
                days,
                rotate_url: &rotate_url,
            };
            mail::enqueue(&mut tx, Some(account.id), &m.email, &t, written).await?;
        }
        let event = events::system(Some(account.id), AuditAction::CredentialExpiring)
            .target(kind, &k.id)
            .details(serde_json::json!({
                "name": k.name, "expires_at": expires_at.rfc3339(), "days": days,
                "told": told.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
            }));
        audit::append(&mut tx, &event, written).await?;
        tx.commit().await?;
        self.committed();
        Ok(true)
    }

    /// The account's credentials that expire within 14 days of `now`, soonest first.
    pub(crate) async fn expiring_in(
        &self,
        c: &mut Conn,
        account: AccountId,
        now: Millis,
    ) -> Result<Vec<Expiring>, AppError> {
        let horizon = now.plus_secs(EXPIRY_REMINDER_DAYS[0] * 86_400);
        Ok(api_keys::expiring(c, Some(account), now, horizon)
            .await?
            .into_iter()
            .map(|k| Expiring {
                kind: kind_of(&k),
                expires_at: k.expires_at.unwrap_or(now),
                id: k.id,
                name: k.name,
                created_by_email: k.created_by_email,
            })
            .collect())
    }
}

fn kind_of(k: &KeyRow) -> &'static str {
    match k.kind {
        KeyKind::Scim => "scim_token",
        KeyKind::Api => "api_key",
    }
}
