//! The periodic Security Contact check: a contact who no longer qualifies (or has not logged in
//! within the window) reverts to the default; one about to lapse is warned once. Runs as of an
//! instant, as a dry run, and once per account across nodes.

use super::*;
use crate::mail::{self};
use crate::{App, AppError};
use watchword_domain::*;
use watchword_store::contacts::{self, ContactRow};
use watchword_store::rows::MemberRow;
use watchword_store::{Conn, members};

impl App {
    /// Runs the check over every account once, as of `as_of`: reverts invalid contacts and warns
    /// contacts about to lapse. Each account is changed in its own transaction, guarded by a
    /// compare-and-set, so concurrent runs on several nodes change and notify each account once.
    pub async fn contact_check_once(
        &self,
        as_of: Millis,
        dry_run: bool,
    ) -> Result<CheckReport, AppError> {
        let rules = self.contact_rules();
        let login_cutoff = Millis(as_of.0 - rules.window_ms());
        let warn_cutoff = login_cutoff.plus_secs(self.settings().contact_warning_days * 86_400);
        let blocked = self.settings().blocked_staff_roles.clone();
        let mut report = CheckReport {
            as_of,
            dry_run,
            ..Default::default()
        };
        let mut after: Option<AccountId> = None;
        loop {
            let page = {
                let mut c = self.store().read().await?;
                contacts::sweep_page(
                    &mut c,
                    after,
                    SWEEP_PAGE,
                    login_cutoff,
                    warn_cutoff,
                    &blocked,
                )
                .await?
            };
            let Some(last) = page.last() else { break };
            after = Some(last.account);
            let full = page.len() as i64 == SWEEP_PAGE;
            for row in page {
                if dry_run {
                    // A preview needs no transaction: the page row has all the rules look at.
                    let (r, w) = self.preview(&row, as_of);
                    report.reverted.extend(r);
                    report.warned.extend(w);
                    continue;
                }
                match self.check_account(row.account, row.contact, as_of).await {
                    Ok((reverted, warned)) => {
                        report.reverted.extend(reverted);
                        report.warned.extend(warned);
                    }
                    Err(AppError::Domain(DomainError::Conflict { .. })) => {} // another checker won
                    Err(e) => {
                        tracing::error!(account = %row.account, error = %e, "security contact check failed")
                    }
                }
            }
            if !full {
                break;
            }
        }
        if !dry_run && (!report.reverted.is_empty() || !report.warned.is_empty()) {
            self.committed();
        }
        Ok(report)
    }

    /// What the check would do for one flagged account, from the sweep row alone.
    pub(super) fn preview(
        &self,
        row: &watchword_store::contacts::SweepRow,
        at: Millis,
    ) -> (Option<Reverted>, Option<Warned>) {
        let reasons: Vec<&'static str> = match &row.member {
            None => vec!["removed"],
            Some(m) => self.reasons(m, at).iter().map(|r| r.code()).collect(),
        };
        let owner = row.owner.clone();
        if !reasons.is_empty() {
            return match owner {
                Some((id, email)) if Some(id) != row.contact => (
                    Some(Reverted {
                        account: row.account,
                        account_name: row.account_name.clone(),
                        previous_email: row.member.as_ref().map(|m| m.email.clone()),
                        new_email: email,
                        reasons,
                    }),
                    None,
                ),
                _ => (None, None),
            };
        }
        if row.warned_at.is_some() {
            return (None, None);
        }
        let warned = row.member.as_ref().and_then(|m| {
            let lapses_at = self.lapse_warning_due(m.last_login_at?, at)?;
            Some(Warned {
                account: row.account,
                account_name: row.account_name.clone(),
                contact_email: m.email.clone(),
                lapses_at,
            })
        });
        (None, warned)
    }

    /// Re-reads one flagged account in a transaction and acts on it.
    pub(super) async fn check_account(
        &self,
        account: AccountId,
        seen: Option<MembershipId>,
        now: Millis,
    ) -> Result<(Option<Reverted>, Option<Warned>), AppError> {
        let mut tx = self.store().begin().await?;
        let Some(current) = contacts::get(&mut tx, account).await? else {
            return Ok((None, None));
        };
        if current.membership != seen {
            return Ok((None, None)); // changed since the sweep read it
        }
        let member = match current.membership {
            Some(id) => members::get(&mut tx, account, id).await?,
            None => None,
        };
        if let Some(r) = self
            .revert_if_invalid(&mut tx, &current, member.clone(), now, None, None)
            .await?
        {
            tx.commit().await?;
            return Ok((Some(r), None));
        }
        let warned = match member {
            Some(m) if current.warned_at.is_none() => {
                self.warn_if_lapsing(&mut tx, &current, &m, now).await?
            }
            _ => None,
        };
        tx.commit().await?;
        Ok((None, warned))
    }

    pub(super) async fn warn_if_lapsing(
        &self,
        c: &mut Conn,
        current: &ContactRow,
        m: &MemberRow,
        now: Millis,
    ) -> Result<Option<Warned>, AppError> {
        let Some(last) = m.last_login_at else {
            return Ok(None);
        };
        let Some(lapses_at) = self.lapse_warning_due(last, now) else {
            return Ok(None);
        };
        let w = Warned {
            account: current.account,
            account_name: current.account_name.clone(),
            contact_email: m.email.clone(),
            lapses_at,
        };
        let written = self.now();
        if !contacts::mark_warned(&mut *c, current.account, m.id, written).await? {
            return Ok(None);
        }
        let login_url = format!("{}/login", self.settings().public_url.trim_end_matches('/'));
        let name = m.name.clone().unwrap_or_default();
        let t = mail::ContactWarning {
            name: &name,
            account: &current.account_name,
            window_days: self.settings().contact_login_window_days,
            last_login: last,
            lapses_at,
            login_url: &login_url,
        };
        mail::enqueue(&mut *c, Some(current.account), &m.email, &t, written).await?;
        Ok(Some(w))
    }

    /// Runs the check every `interval` until the process ends.
    pub async fn run_contact_checks(self, interval: std::time::Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let checked = self.contact_check_once(self.now(), false).await;
            crate::metrics::job_run("security_contact_check", checked.is_ok());
            match checked {
                Ok(r) if !r.reverted.is_empty() || !r.warned.is_empty() => {
                    tracing::info!(
                        reverted = r.reverted.len(),
                        warned = r.warned.len(),
                        "security contact check"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "security contact check failed"),
            }
            match self.review_reminders_once(self.now()).await {
                Ok(r) if !r.is_empty() => {
                    tracing::info!(accounts = r.len(), "access review reminders sent")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "access review reminders failed"),
            }
            if let Err(e) = self.sso_domain_checks_once(self.now()).await {
                tracing::error!(error = %e, "SSO domain checks failed");
            }
            match self.saml_certificate_warnings_once(self.now()).await {
                Ok(w) if !w.is_empty() => {
                    tracing::info!(
                        connections = w.len(),
                        "SAML certificate expiry warnings sent"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "SAML certificate warnings failed"),
            }
            match self.expiry_reminders_once(self.now()).await {
                Ok(n) if n > 0 => tracing::info!(credentials = n, "expiry reminders sent"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "expiry reminders failed"),
            }
            if let Err(e) = self.factor_policy_notices_once(self.now()).await {
                tracing::error!(error = %e, "factor policy notices failed");
            }
        }
    }
}
