//! What the operator reads of every account (the CLI's `watchword accounts list|show`): no
//! person's session is involved; the operator runs the command on the host.

use crate::{App, AppError};
use watchword_domain::*;
use watchword_store::rows::AccountRow;
use watchword_store::{accounts, members};

/// One account as the operator sees it.
#[derive(Debug, Clone)]
pub struct AccountSummary {
    pub account: AccountRow,
    pub owner: Option<String>,
    pub contact: Option<String>,
    /// Active members (invitations and deactivated members aside).
    pub members: usize,
}

impl App {
    /// Every account, or the one `only` names (none when it does not exist).
    pub async fn operator_accounts(
        &self,
        only: Option<AccountId>,
    ) -> Result<Vec<AccountSummary>, AppError> {
        let mut c = self.store().read().await?;
        let rows = match only {
            Some(id) => accounts::get(&mut c, id).await?.into_iter().collect(),
            None => accounts::all(&mut c).await?,
        };
        let now = self.now();
        let mut out = Vec::with_capacity(rows.len());
        for account in rows {
            let all = members::list(&mut c, account.id).await?;
            let owner = all
                .iter()
                .find(|m| m.role.is_owner())
                .map(|m| m.email.clone());
            let contact = self
                .contact_member(&mut c, account.id)
                .await?
                .map(|m| m.email);
            let members = all.iter().filter(|m| m.grants_access(now)).count();
            out.push(AccountSummary {
                account,
                owner,
                contact,
                members,
            });
        }
        Ok(out)
    }
}
