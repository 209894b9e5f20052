//! Verified domains: an account claims an email domain and proves it holds it with a DNS TXT
//! record `watchword-verification=<token>` at the domain. A domain is verified by one account
//! only; only people whose email is in a verified domain are routed to, or provisioned by, that
//! account's identity provider. A subdomain of a domain another account verified cannot be
//! claimed, and verified domains are checked again daily (`sso_domain_checks_once`).

use crate::access::{SsoAdmin, SsoBy};
use crate::events::{self, EventExt};
use crate::{App, AppError};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use std::time::Duration;
use watchword_domain::audit::AuditAction;
use watchword_domain::sso::{TXT_PREFIX, parent_domains, parse_domain, txt_record};
use watchword_domain::token::random_token;
use watchword_domain::*;
use watchword_store::audit;
use watchword_store::sso::{self as store, DomainRow};

/// Domains one account may claim.
pub const MAX_DOMAINS: usize = 20;
/// Days a verified domain's TXT record may be missing before the domain stops routing.
pub const RECHECK_GRACE_DAYS: i64 = 7;

/// A claimed domain with the record that proves it.
#[derive(Debug, Clone)]
pub struct DomainView {
    pub id: String,
    pub domain: String,
    /// The TXT record to publish at `domain`.
    pub txt_value: String,
    pub verified_at: Option<Millis>,
    pub created_at: Millis,
}

impl From<&DomainRow> for DomainView {
    fn from(d: &DomainRow) -> Self {
        Self {
            id: d.id.clone(),
            domain: d.domain.clone(),
            txt_value: txt_record(&d.token),
            verified_at: d.verified_at,
            created_at: d.created_at,
        }
    }
}

impl App {
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn sso_domains<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
    ) -> Result<Vec<DomainView>, AppError> {
        let by: SsoBy<'a> = by.into();
        let mut c = self.store().read().await?;
        self.sso_admin(&mut c, by, account, SsoAdmin::Read).await?;
        let rows = store::domains(&mut c, account).await?;
        Ok(rows.iter().map(DomainView::from).collect())
    }

    /// Claims a domain; it routes nobody until verified.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn add_sso_domain<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        domain: &str,
    ) -> Result<DomainView, AppError> {
        let by: SsoBy<'a> = by.into();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let domain = parse_domain(domain)?;
        if store::domains(&mut tx, account).await?.len() >= MAX_DOMAINS {
            return Err(DomainError::conflict(
                "too_many_domains",
                format!("an account claims at most {MAX_DOMAINS} domains"),
            )
            .into());
        }
        let row = DomainRow {
            id: format!("dom_{}", uuid::Uuid::now_v7().simple()),
            account_id: account.to_string(),
            domain,
            token: random_token(),
            created_at: now,
            verified_at: None,
            failing_since: None,
        };
        self.refuse_under_another(&mut tx, account, &row.domain)
            .await?;
        store::insert_domain(&mut tx, &row).await.map_err(|e| {
            if e.is_unique() {
                DomainError::conflict("domain_exists", "the account claimed this domain already")
                    .into()
            } else {
                AppError::from(e)
            }
        })?;
        let event = by
            .by()
            .event(account, AuditAction::SsoDomainAdded)
            .target("sso_domain", &row.id)
            .details(serde_json::json!({ "domain": row.domain }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(DomainView::from(&row))
    }

    /// Looks the TXT record up now; verified when it holds the claim's token. A domain another
    /// account verified first is refused (`domain_taken`).
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn verify_sso_domain<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<DomainView, AppError> {
        let by: SsoBy<'a> = by.into();
        let row = {
            let mut c = self.store().read().await?;
            self.sso_admin(&mut c, by, account, SsoAdmin::Change)
                .await?;
            store::domain(&mut c, account, id)
                .await?
                .ok_or(AppError::NotFound)?
        };
        if row.verified_at.is_some() {
            return Ok(DomainView::from(&row));
        }
        let expected = txt_record(&row.token);
        let found = self.txt_records(&row.domain).await;
        if !found.iter().any(|t| t.trim() == expected) {
            let seen = found.iter().filter(|t| t.starts_with(TXT_PREFIX)).count();
            return Err(DomainError::field(
                "verification_failed",
                "domain",
                format!(
                    "no TXT record \"{expected}\" at {} ({seen} other watchword records found); DNS changes can take a while to show",
                    row.domain
                ),
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self
            .sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        self.refuse_under_another(&mut tx, account, &row.domain)
            .await?;
        match store::mark_verified(&mut tx, &row.id, now).await {
            Ok(_) => {}
            Err(e) if e.is_unique() => {
                return Err(DomainError::conflict(
                    "domain_taken",
                    "another account has verified this domain",
                )
                .into());
            }
            Err(e) => return Err(e.into()),
        }
        let event = by
            .by()
            .event(account, AuditAction::SsoDomainVerified)
            .target("sso_domain", &row.id)
            .details(serde_json::json!({ "domain": row.domain }));
        audit::append(&mut tx, &event, now).await?;
        let what = format!("The domain {} was verified for single sign-on", row.domain);
        self.alert_by(&mut tx, &access.account, by.by(), &what, now)
            .await?;
        let row = store::domain(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        tx.commit().await?;
        self.committed();
        Ok(DomainView::from(&row))
    }

    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn remove_sso_domain<'a>(
        &self,
        by: impl Into<SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<(), AppError> {
        let by: SsoBy<'a> = by.into();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.sso_admin(&mut tx, by, account, SsoAdmin::Change)
            .await?;
        let row = store::domain(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        store::delete_domain(&mut tx, account, id).await?;
        let event = by
            .by()
            .event(account, AuditAction::SsoDomainRemoved)
            .target("sso_domain", id)
            .details(serde_json::json!({ "domain": row.domain }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A subdomain of a domain another account verified is that account's to route: refused
    /// (`409 domain_taken`).
    async fn refuse_under_another(
        &self,
        c: &mut watchword_store::Conn,
        account: AccountId,
        domain: &str,
    ) -> Result<(), AppError> {
        for parent in parent_domains(domain) {
            if store::verified_domain(&mut *c, parent)
                .await?
                .is_some_and(|d| d.account_id != account.to_string())
            {
                return Err(DomainError::conflict(
                    "domain_taken",
                    format!("{parent} is verified by another account"),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Checks the verified domains again, each about once a day (several nodes may run this:
    /// each domain is claimed first). A missing TXT record tells the Security Contact the first
    /// time; after [`RECHECK_GRACE_DAYS`] days of failures the domain is no longer verified, so
    /// it routes no sign-in. `now` is the time checks are due against (the clock's, or a later
    /// one in tests). Returns the domains checked.
    pub async fn sso_domain_checks_once(&self, now: Millis) -> Result<usize, AppError> {
        let due = {
            let mut tx = self.store().begin().await?;
            let due = store::claim_domain_checks(&mut tx, now.plus_secs(-86_400), now).await?;
            tx.commit().await?;
            due
        };
        for d in &due {
            let found = self.txt_records(&d.domain).await;
            let ok = found.iter().any(|t| t.trim() == txt_record(&d.token));
            self.domain_checked(d, ok, now).await?;
        }
        Ok(due.len())
    }

    async fn domain_checked(&self, d: &DomainRow, ok: bool, now: Millis) -> Result<(), AppError> {
        let Some(account) = AccountId::parse(&d.account_id) else {
            return Ok(());
        };
        let mut tx = self.store().begin().await?;
        let acc = watchword_store::accounts::get(&mut tx, account)
            .await?
            .ok_or(AppError::NotFound)?;
        let (action, what) = match (ok, d.failing_since) {
            (true, None) => return Ok(()),
            (true, Some(_)) => {
                store::set_domain_failing(&mut tx, &d.id, None).await?;
                (AuditAction::SsoDomainChecked, None)
            }
            (false, None) => {
                store::set_domain_failing(&mut tx, &d.id, Some(now)).await?;
                let what = format!(
                    "The DNS record that proves {} is missing: publish it again within {RECHECK_GRACE_DAYS} days or the domain stops routing single sign-on",
                    d.domain
                );
                (AuditAction::SsoDomainCheckFailed, Some(what))
            }
            (false, Some(since)) if now.0 - since.0 >= RECHECK_GRACE_DAYS * 86_400_000 => {
                store::unverify_domain(&mut tx, &d.id).await?;
                let what = format!(
                    "{} is no longer verified (its DNS record was missing for {RECHECK_GRACE_DAYS} days): it routes no single sign-on until verified again",
                    d.domain
                );
                (AuditAction::SsoDomainUnverified, Some(what))
            }
            (false, Some(_)) => return Ok(()),
        };
        // Written at the clock's time (`now` is what the check is due against).
        let at = self.now();
        let event = events::system(Some(account), action)
            .target("sso_domain", &d.id)
            .details(serde_json::json!({ "domain": d.domain }));
        watchword_store::audit::append(&mut tx, &event, at).await?;
        if let Some(what) = what {
            self.alert_system(&mut tx, &acc, &what, "the daily domain check", "", at)
                .await?;
        }
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// The TXT strings at `domain`, through the configured resolver (`dns_resolver`) or the
    /// system's; none when the lookup fails. Nothing is cached: a record just published counts.
    async fn txt_records(&self, domain: &str) -> Vec<String> {
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        let builder = match self.settings().dns_resolver {
            Some(addr) => {
                let mut config = ResolverConfig::new();
                config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
                Resolver::builder_with_config(config, TokioConnectionProvider::default())
            }
            None => match Resolver::builder_tokio() {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "the system's DNS configuration could not be read");
                    return Vec::new();
                }
            },
        };
        let resolver = builder.with_options(opts).build();
        match resolver.txt_lookup(format!("{domain}.")).await {
            Ok(lookup) => lookup
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect(),
            Err(e) => {
                tracing::info!(domain, error = %e, "TXT lookup found nothing");
                Vec::new()
            }
        }
    }
}
