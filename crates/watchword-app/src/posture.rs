//! The security overview of an account (Owners and Admins, `users:manage`): a score and the
//! checks behind it, computed live from a handful of set-based counts, with the trend of daily
//! snapshots. The daily run snapshots every account page by page, resumably and on one node at a
//! time, writing a row only when an account's score or findings changed.

use crate::{Actor, App, AppError};
use std::collections::HashMap;
use watchword_domain::contact::Candidate;
use watchword_domain::oauth::ADMIN_SCOPES;
use watchword_domain::posture::{self, ContactFact, Facts, Posture, SNAPSHOT_KEEP_DAYS};
use watchword_domain::{
    AccountId, BuiltinRole, MembershipStatus, Millis, Permission, PermissionSet,
};
use watchword_store::posture::{self as store, RawFacts};

/// Accounts per page of the daily run.
const PAGE: i64 = 4000;
/// How long a node holds the daily run without progress before another may take it over.
const LEASE_MS: i64 = 5 * 60 * 1000;

pub struct Overview {
    pub posture: Posture,
    /// The daily scores of the last year where they changed (day number, score), oldest first.
    pub trend: Vec<(i64, u8)>,
    pub computed_at: Millis,
}

/// What one call of the daily run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct SnapshotRun {
    pub day: i64,
    pub accounts: u64,
    pub written: u64,
    pub finished: bool,
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn security_overview(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Overview, AppError> {
        let now = self.now();
        let mut c = self.store().read().await?;
        let access = self.access(&mut c, actor, account).await?;
        access.require(Permission::UsersManage)?;
        let raw = store::facts_of(&mut c, account, now)
            .await?
            .ok_or(AppError::NotFound)?;
        let posture = posture::evaluate(&self.posture_facts(&raw, now), now);
        let today = posture::day_of(now);
        let trend = store::snapshots(&mut c, account, today - SNAPSHOT_KEEP_DAYS + 1).await?;
        Ok(Overview {
            posture,
            trend,
            computed_at: now,
        })
    }

    /// The domain's facts from the stored counts: administrators by role, apps with
    /// administrative scopes, and the Security Contact's eligibility.
    fn posture_facts(&self, r: &RawFacts, now: Millis) -> Facts {
        let custom: HashMap<&str, PermissionSet> = r
            .custom_roles
            .iter()
            .map(|(id, p)| (id.as_str(), PermissionSet::decode(p).unwrap_or_default()))
            .collect();
        let permissions = |key: &str| {
            BuiltinRole::parse(key)
                .map(|b| b.permissions())
                .or_else(|| custom.get(key).copied())
                .unwrap_or_default()
        };
        let members = r.members_by_role.iter().map(|(_, n)| n).sum();
        let admins = r
            .members_by_role
            .iter()
            .filter(|(key, _)| permissions(key).iter().any(Permission::administers))
            .map(|(_, n)| n)
            .sum();
        let admin_apps = r
            .grant_scopes
            .iter()
            .filter(|s| s.split_whitespace().any(|w| ADMIN_SCOPES.contains(&w)))
            .count() as u32;
        let contact = match &r.contact {
            None => ContactFact::Invalid,
            Some(c) => {
                let rules = self.contact_rules();
                let candidate = Candidate {
                    role_key: &c.role_key,
                    permissions: permissions(&c.role_key),
                    membership: if c.membership_active {
                        MembershipStatus::Active
                    } else {
                        MembershipStatus::Deactivated
                    },
                    person_active: c.person_active,
                    last_login_at: c.last_login_at,
                };
                let warn_ms = self.settings().contact_warning_days * 86_400_000;
                if !rules.check(&candidate, now).is_empty() {
                    ContactFact::Invalid
                } else if c
                    .last_login_at
                    .is_some_and(|t| rules.lapses_at(t).0 - now.0 <= warn_ms)
                {
                    ContactFact::Lapsing
                } else {
                    ContactFact::Valid
                }
            }
        };
        Facts {
            created_at: Millis(r.created_at),
            paid: r.paid,
            mfa_required: r.mfa_required,
            sso_connections: r.sso_connections,
            sso_required: r.sso_required,
            admin_passkey_enforced: r.admin_passkey_from.is_some_and(|from| now >= from),
            members,
            with_mfa: r.with_mfa,
            with_passkey: r.with_passkey,
            admins,
            inactive: r.inactive,
            stale_invitations: r.stale_invitations,
            keys: r.keys,
            keys_unused: r.keys_unused,
            keys_past_rotation: r.keys_past_rotation,
            keys_expiring: r.keys_expiring,
            keys_exposed: r.keys_exposed,
            admin_apps,
            contact,
            last_review_at: r.last_review_at,
        }
    }

    /// Runs (or resumes) the snapshot of `now`'s day over every account, page by page; each
    /// page's snapshots and the run's cursor commit together. Returns None when the day's run is
    /// finished or another node holds it.
    pub async fn posture_snapshots_once(
        &self,
        now: Millis,
    ) -> Result<Option<SnapshotRun>, AppError> {
        let day = posture::day_of(now);
        let mut cursor = {
            let mut tx = self.store().begin().await?;
            let claimed = store::claim_run(&mut tx, day, self.now(), LEASE_MS).await?;
            tx.commit().await?;
            match claimed {
                Some(c) => c,
                None => return Ok(None),
            }
        };
        let mut run = SnapshotRun {
            day,
            ..Default::default()
        };
        // The next page is read while this one is written (a read connection and the writer).
        let fetch = |after: String| {
            let store = self.store().clone();
            tokio::spawn(async move {
                store::daily_page(&mut *store.read().await?, &after, PAGE, now).await
            })
        };
        let mut next = Some(fetch(cursor.clone()));
        while let Some(reading) = next.take() {
            let (page, latest) = reading
                .await
                .map_err(|e| AppError::internal(format!("snapshot page read: {e}")))??;
            let Some(last) = page.last().map(|f| f.account.clone()) else {
                break;
            };
            let n = page.len() as i64;
            if n == PAGE {
                next = Some(fetch(last.clone()));
            }
            let mut rows = Vec::new();
            for raw in &page {
                let p = posture::evaluate(&self.posture_facts(raw, now), now);
                let findings = p.findings();
                let same = latest
                    .get(&raw.account)
                    .is_some_and(|(s, f)| *s == p.score && *f == findings);
                if !same {
                    rows.push((raw.account.clone(), p.score, findings));
                }
            }
            let mut tx = self.store().begin().await?;
            store::insert_snapshots(&mut tx, day, &rows).await?;
            let lease = Millis(self.now().0 + LEASE_MS);
            if !store::advance_run(&mut tx, day, &cursor, &last, n, rows.len() as i64, lease)
                .await?
            {
                if let Some(reading) = next {
                    reading.abort();
                }
                return Ok(None); // another node took the run over
            }
            tx.commit().await?;
            run.accounts += page.len() as u64;
            run.written += rows.len() as u64;
            cursor = last;
        }
        let mut tx = self.store().begin().await?;
        if store::finish_run(&mut tx, day, &cursor, self.now()).await? {
            store::prune(&mut tx, day - SNAPSHOT_KEEP_DAYS + 1).await?;
            run.finished = true;
        }
        tx.commit().await?;
        Ok(Some(run))
    }

    /// Snapshots every account once a day (checked every `every`) until the process ends.
    pub async fn run_posture_snapshots(self, every: std::time::Duration) {
        loop {
            tokio::time::sleep(every).await;
            let taken = self.posture_snapshots_once(self.now()).await;
            crate::metrics::job_run("posture_snapshots", taken.is_ok());
            match taken {
                Ok(Some(r)) => tracing::info!(
                    day = r.day,
                    accounts = r.accounts,
                    written = r.written,
                    "security posture snapshots"
                ),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "security posture snapshots failed"),
            }
        }
    }
}
