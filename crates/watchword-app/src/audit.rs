//! Reading the audit log.

use crate::{App, AppError, Caller};
use watchword_domain::scope::{Resource, Scope};
use watchword_domain::{AccountId, AuditEventId, Permission};
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
        self.may_read_audit(&mut c, caller, account).await?;
        filter.limit = filter.limit.clamp(1, MAX_PAGE);
        let rows = audit::page(&mut c, account, &filter).await?;
        let next = (rows.len() as i64 == filter.limit)
            .then(|| rows.last().map(|r| r.id.to_string()))
            .flatten();
        Ok((rows, next))
    }

    /// One event of an account, for its detail view.
    pub async fn audit_event(
        &self,
        caller: &Caller,
        account: AccountId,
        id: AuditEventId,
    ) -> Result<EventRow, AppError> {
        let mut c = self.store().read().await?;
        self.may_read_audit(&mut c, caller, account).await?;
        audit::one(&mut c, account, id)
            .await?
            .ok_or(AppError::NotFound)
    }

    async fn may_read_audit(
        &self,
        c: &mut watchword_store::Conn,
        caller: &Caller,
        account: AccountId,
    ) -> Result<(), AppError> {
        let (p, scope) = (Permission::AuditLogRead, Scope::Read(Resource::AuditLog));
        self.authorize(c, caller, account, p, scope)
            .await
            .map(|_| ())
    }
}
