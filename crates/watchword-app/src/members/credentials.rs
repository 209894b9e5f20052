//! What a member made that acts without them: API keys, OAuth grants they consented to, and
//! the private apps they registered (client credentials). When a member leaves (removed or
//! deactivated) these stop — or move, in the same request, to a member who holds their scopes.

use crate::events::{By, EventExt};
use crate::{App, AppError};
use watchword_domain::api_key::KeyKind;
use watchword_domain::audit::AuditAction;
use watchword_domain::scope::{Preset, ScopeSet};
use watchword_domain::*;
use watchword_store::rows::{AccountRow, MemberRow};
use watchword_store::{Conn, api_keys, audit, members, oauth};

/// What kind of credential a member made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ApiKey,
    OauthGrant,
    OauthApp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiKey => "api_key",
            Kind::OauthGrant => "oauth_grant",
            Kind::OauthApp => "oauth_app",
        }
    }
}

/// One credential a member made (an OAuth grant is named by its app's id).
#[derive(Debug, Clone)]
pub struct Made {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    pub scopes: ScopeSet,
}

impl App {
    /// The live credentials `person` made in `account`.
    pub(crate) async fn made_by(
        &self,
        c: &mut Conn,
        account: AccountId,
        person: PersonId,
    ) -> Result<Vec<Made>, AppError> {
        let now = self.now();
        let me = Some(person.to_string());
        let mut keys = api_keys::list(&mut *c, account).await?;
        keys.extend(api_keys::list_kind(&mut *c, account, KeyKind::Scim).await?);
        let mut made: Vec<Made> = keys
            .into_iter()
            .filter(|k| k.created_by == Some(person) && k.revoked_at.is_none())
            .filter(|k| k.expires_at.is_none_or(|e| e > now))
            .map(|k| Made {
                kind: Kind::ApiKey,
                id: k.id,
                name: k.name,
                scopes: k.scopes,
            })
            .collect();
        made.extend(
            oauth::grants_of(&mut *c, account)
                .await?
                .into_iter()
                .filter(|g| g.installed_by == me)
                .map(|g| Made {
                    kind: Kind::OauthGrant,
                    name: g.app_id.clone(),
                    id: g.id,
                    scopes: g.scopes,
                }),
        );
        made.extend(
            oauth::apps_of(&mut *c, account)
                .await?
                .into_iter()
                .filter(|a| a.created_by == me && a.disabled_at.is_none())
                .map(|a| Made {
                    kind: Kind::OauthApp,
                    id: a.id,
                    name: a.name,
                    scopes: a.scopes,
                }),
        );
        Ok(made)
    }

    /// Called in the transaction that removes or deactivates `target`: hands their credentials
    /// to the active member `transfer_to` (who must hold every scope of every one, `422
    /// transfer_scope` otherwise), or stops them — keys and grants revoked on removal; on
    /// deactivation they act with nothing until the member is back. Each is audited, and the
    /// Security Contact is told.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn settle_credentials(
        &self,
        tx: &mut Conn,
        by: By<'_>,
        account: &AccountRow,
        target: &MemberRow,
        transfer_to: Option<MembershipId>,
        removed: bool,
        now: Millis,
    ) -> Result<(), AppError> {
        let Some(person) = target.person_id else {
            return Ok(());
        };
        let made = self.made_by(&mut *tx, account.id, person).await?;
        if let Some(to) = transfer_to {
            let heir = members::get(&mut *tx, account.id, to)
                .await?
                .filter(|m| m.grants_access(now) && m.id != target.id && !m.role.is_staff())
                .ok_or_else(|| {
                    DomainError::field(
                        "invalid_transfer",
                        "transfer_credentials_to",
                        "credentials go to another active member of the account",
                    )
                })?;
            let heir_person = heir.person_id.ok_or(AppError::NotFound)?;
            let held = ScopeSet::preset(Preset::Full, heir.permissions);
            if let Some(m) = made.iter().find(|m| m.scopes.intersect(held) != m.scopes) {
                return Err(DomainError::field(
                    "transfer_scope",
                    "transfer_credentials_to",
                    format!(
                        "{} lacks scopes of {} {:?}",
                        heir.email,
                        m.kind.as_str(),
                        m.name
                    ),
                )
                .into());
            }
            for m in &made {
                match m.kind {
                    Kind::ApiKey => {
                        api_keys::set_maker(&mut *tx, &m.id, heir_person, &heir.email).await?
                    }
                    Kind::OauthGrant => {
                        oauth::set_grant_installer(&mut *tx, &m.id, heir_person).await?
                    }
                    Kind::OauthApp => oauth::set_app_maker(&mut *tx, &m.id, heir_person).await?,
                }
                let event = by
                    .event(account.id, AuditAction::CredentialsTransferred)
                    .target(m.kind.as_str(), &m.id)
                    .details(serde_json::json!({
                        "name": m.name, "from": target.email, "to": heir.email,
                    }));
                audit::append(&mut *tx, &event, now).await?;
            }
        } else {
            for m in &made {
                if removed {
                    match m.kind {
                        Kind::ApiKey => {
                            api_keys::revoke(&mut *tx, &m.id, "maker_removed", now).await?;
                        }
                        Kind::OauthGrant => {
                            oauth::revoke_grant(&mut *tx, &m.id, "maker_removed", now).await?;
                        }
                        // Its client-credentials tokens follow its maker: nothing now.
                        Kind::OauthApp => {}
                    }
                }
                let event = by
                    .event(account.id, AuditAction::CredentialsStopped)
                    .target(m.kind.as_str(), &m.id)
                    .details(serde_json::json!({
                        "name": m.name, "maker": target.email,
                        "why": if removed { "maker_removed" } else { "maker_deactivated" },
                    }));
                audit::append(&mut *tx, &event, now).await?;
            }
        }
        self.authority_moved(&mut *tx, account.id).await?;
        if !made.is_empty() {
            let list: Vec<String> = made
                .iter()
                .map(|m| format!("{} {:?}", m.kind.as_str().replace('_', " "), m.name))
                .collect();
            let what = match transfer_to {
                Some(_) => format!(
                    "The credentials {} made were handed to another member: {}",
                    target.email,
                    list.join(", ")
                ),
                None => format!(
                    "The credentials {} made stopped working: {}",
                    target.email,
                    list.join(", ")
                ),
            };
            self.alert_by(&mut *tx, account, by, &what, now).await?;
        }
        Ok(())
    }
}
