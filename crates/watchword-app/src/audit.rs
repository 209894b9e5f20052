//! Reading the audit log.

use crate::{App, AppError, Caller};
use watchword_domain::scope::{Resource, Scope};
use watchword_domain::{AccountId, Permission};
use watchword_store::audit::{self, EventRow, Filter};

pub const MAX_PAGE: i64 = 1000;

impl App {
    /// One page of an account's audit events, newest first, and the cursor of the next page.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn audit_events(
        &self,
        caller: &Caller,
        account: AccountId,
        mut filter: Filter,
    ) -> Result<(Vec<EventRow>, Option<String>), AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::AuditLogRead,
            Scope::Read(Resource::AuditLog),
        )
        .await?;
        filter.limit = filter.limit.clamp(1, MAX_PAGE);
        let rows = audit::page(&mut c, account, &filter).await?;
        let next = (rows.len() as i64 == filter.limit)
            .then(|| rows.last().map(|r| r.id.to_string()))
            .flatten();
        Ok((rows, next))
    }
}
