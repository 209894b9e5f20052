//! Warnings before a SAML IdP's signing certificate expires: the account's Security Contact is
//! emailed 30, 14, 7 and 2 days before (once each; when the metadata first arrives inside a window,
//! only that window's warning goes). Several nodes may run this at once: each warning is claimed by
//! a conditional update first, so it goes once.

use crate::events::{self, EventExt};
use crate::mail::{self, CertificateExpiring};
use crate::{App, AppError};
use watchword_domain::audit::AuditAction;
use watchword_domain::sso::CERT_WARNINGS;
use watchword_domain::*;
use watchword_store::sso as store;
use watchword_store::{accounts, audit};

impl App {
    /// Sends the certificate warnings due at `now` (what is due; the warnings are written at the
    /// clock's time); returns the connections warned.
    pub async fn saml_certificate_warnings_once(
        &self,
        now: Millis,
    ) -> Result<Vec<String>, AppError> {
        let mut warned = Vec::new();
        // The nearer threshold first: a connection inside both windows gets only that one.
        let mut thresholds = CERT_WARNINGS;
        thresholds.sort_unstable();
        for days in thresholds {
            let before = now.plus_secs(days * 86_400);
            let rows = {
                let mut c = self.store().read().await?;
                store::certificates_to_warn(&mut c, before, days).await?
            };
            for row in rows {
                if self.warn_certificate(&row, days).await? {
                    warned.push(row.id);
                }
            }
        }
        Ok(warned)
    }

    async fn warn_certificate(
        &self,
        row: &store::ConnectionRow,
        days: i64,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let Some(account) = AccountId::parse(&row.account_id) else {
            return Ok(false);
        };
        let mut tx = self.store().begin().await?;
        if !store::claim_certificate_warning(&mut tx, &row.id, row.cert_warned, days).await? {
            return Ok(false);
        }
        let expires_at = row.cert_expires_at.unwrap_or(now);
        let event = events::system(Some(account), AuditAction::SsoCertificateExpiring)
            .target("sso_connection", &row.id)
            .details(serde_json::json!({
                "name": row.name, "expires_at": expires_at.rfc3339(), "days": days,
            }));
        audit::append(&mut tx, &event, now).await?;
        let contact = self.contact_member(&mut tx, account).await?;
        let acc = accounts::get(&mut tx, account).await?;
        if let (Some(contact), Some(acc)) = (contact, acc) {
            let settings_url = format!(
                "{}/accounts/{}/settings/sso",
                self.settings().public_url.trim_end_matches('/'),
                account
            );
            let mail = CertificateExpiring {
                name: contact.name.as_deref().unwrap_or(&contact.email),
                account: &acc.name,
                connection: &row.name,
                expires_at,
                days,
                settings_url: &settings_url,
            };
            mail::enqueue(&mut tx, Some(account), &contact.email, &mail, now).await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(true)
    }
}
