//! Custom roles: named permission sets an account defines beside the built-in ones.

use crate::events::{self, EventExt};
use crate::{Actor, App, AppError, Caller};
use watchword_domain::audit::AuditAction;
use watchword_domain::role::check_grant;
use watchword_domain::scope::{Resource, Scope};
use watchword_domain::*;
use watchword_store::rows::RoleRow;
use watchword_store::{accounts, audit};

impl App {
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn list_roles(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> Result<Vec<RoleRow>, AppError> {
        let mut c = self.store().read().await?;
        self.authorize(
            &mut c,
            caller,
            account,
            Permission::UsersRead,
            Scope::Read(Resource::Roles),
        )
        .await?;
        Ok(accounts::roles(&mut c, account).await?)
    }

    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn create_role(
        &self,
        actor: &Actor,
        account: AccountId,
        name: &str,
        permissions: &[String],
    ) -> Result<RoleRow, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(DomainError::field(
                "invalid_name",
                "name",
                "a role name has 1 to 60 characters",
            )
            .into());
        }
        if BuiltinRole::ALL
            .iter()
            .any(|b| b.name().eq_ignore_ascii_case(name) || b.key().eq_ignore_ascii_case(name))
        {
            return Err(
                DomainError::conflict("role_name_taken", "a built-in role has this name").into(),
            );
        }
        let perms =
            PermissionSet::parse_all(permissions.iter().map(String::as_str)).map_err(|p| {
                DomainError::field(
                    "unknown_permission",
                    "permissions",
                    format!("unknown permission {p:?}"),
                )
            })?;
        if perms == PermissionSet::EMPTY {
            return Err(DomainError::field(
                "required",
                "permissions",
                "a role needs at least one permission",
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let access = self.access(&mut tx, actor, account).await?;
        access.require(Permission::RolesManage)?;
        check_grant(access.permissions(), perms)?;
        let id = RoleId::new();
        accounts::insert_role(&mut tx, account, id, name, perms, actor.person, now)
            .await
            .map_err(|e| match e.is_unique() {
                true => {
                    DomainError::conflict("role_name_taken", "a role with this name exists").into()
                }
                false => AppError::from(e),
            })?;
        let event = events::by_actor(actor, account, AuditAction::RoleCreated)
            .target("role", id)
            .details(serde_json::json!({ "name": name, "permissions": perms.to_strings() }));
        audit::append(&mut tx, &event, now).await?;
        let row = accounts::role(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        tx.commit().await?;
        self.committed();
        Ok(row)
    }
}
