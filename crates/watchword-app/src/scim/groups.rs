//! SCIM Groups: the IdP's groups, stored per account. A group grants a role only through the
//! SSO connection's `group → role` table; a group with no mapping grants nothing.

use super::json::{self, ADSCIM_GROUP_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, ListQuery, PatchRequest};
use super::{Room, ScimCaller, ScimError};
use crate::events::{By, EventExt};
use crate::{App, AppError};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use watchword_domain::audit::AuditAction;
use watchword_domain::role::check_grant;
use watchword_domain::*;
use watchword_store::scim::{self as store, GroupRow};
use watchword_store::{Conn, audit, members, sso};

const SCHEMAS: [&str; 2] = [GROUP_SCHEMA, ADSCIM_GROUP_SCHEMA];
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// The most members one group may list.
const MAX_MEMBERS: usize = 10_000;

fn render(g: &GroupRow, base: &str) -> Value {
    let mut doc = match &g.attributes {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    let mut schemas = vec![GROUP_SCHEMA];
    if doc.contains_key(ADSCIM_GROUP_SCHEMA) {
        schemas.push(ADSCIM_GROUP_SCHEMA);
    }
    doc.insert("schemas".into(), json!(schemas));
    doc.insert("id".into(), json!(g.id));
    doc.insert("displayName".into(), json!(g.display_name));
    if let Some(x) = &g.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|(id, _)| {
            json!({ "value": id.to_string(), "type": "User", "$ref": format!("{base}/Users/{id}") })
        })
        .collect();
    doc.insert("members".into(), Value::Array(members));
    let mut doc = Value::Object(doc);
    let version = json::etag(&doc);
    doc["meta"] = json!({
        "resourceType": "Group",
        "created": g.created_at.rfc3339(),
        "lastModified": g.updated_at.rfc3339(),
        "location": format!("{base}/Groups/{}", g.id),
        "version": version,
    });
    doc
}

/// A Group document as sent (POST, PUT, or the result of a PATCH).
struct GroupInput {
    display_name: String,
    external_id: Option<String>,
    members: Vec<MembershipId>,
    attributes: Value,
}

impl GroupInput {
    fn parse(doc: &Value) -> Result<Self, ScimError> {
        let Value::Object(obj) = doc else {
            return Err(ScimError::new(
                400,
                Some("invalidSyntax"),
                "a Group is a JSON object",
            ));
        };
        let display_name = match json::get_ci(doc, "displayName") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => s.clone(),
            _ => {
                return Err(ScimError::invalid_value(
                    "displayName is required (1 to 200 characters)",
                ));
            }
        };
        let external_id = match json::get_ci(doc, "externalId") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(ScimError::invalid_value("externalId is a string")),
        };
        let mut members = Vec::new();
        match json::get_ci(doc, "members") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for i in items {
                    let id = json::get_ci(i, "value")
                        .and_then(Value::as_str)
                        .and_then(MembershipId::parse)
                        .ok_or_else(|| {
                            ScimError::invalid_value("each member is {\"value\": a User's id}")
                        })?;
                    if !members.contains(&id) {
                        members.push(id);
                    }
                }
            }
            Some(_) => return Err(ScimError::invalid_value("members is a list")),
        }
        if members.len() > MAX_MEMBERS {
            return Err(ScimError::invalid_value(format!(
                "a group lists at most {MAX_MEMBERS} members"
            )));
        }
        let mut attributes = Map::new();
        for (k, v) in obj {
            let derived = [
                "schemas",
                "id",
                "meta",
                "displayName",
                "externalId",
                "members",
            ]
            .iter()
            .any(|d| d.eq_ignore_ascii_case(k));
            if !derived && !v.is_null() {
                attributes.insert(k.clone(), v.clone());
            }
        }
        let attributes = Value::Object(attributes);
        if attributes.to_string().len() > MAX_ATTRIBUTES_BYTES {
            return Err(ScimError::invalid_value(
                "the Group's attributes are too large",
            ));
        }
        Ok(Self {
            display_name,
            external_id,
            members,
            attributes,
        })
    }
}

impl App {
    pub(crate) async fn scim_list_groups(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let filter = match q.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(json::parse_filter(f)?),
        };
        let (start, count) = q.page();
        let mut c = self.store().read().await.map_err(AppError::from)?;
        self.scim_room(&mut c, caller, account).await?;
        let base = self.scim_base_url(account);
        let matching: Vec<Value> = store::groups(&mut c, account)
            .await?
            .iter()
            .map(|g| render(g, &base))
            .filter(|d| {
                filter
                    .as_ref()
                    .is_none_or(|f| json::doc_matches(d, f, &SCHEMAS))
            })
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip((start - 1) as usize)
            .take(count as usize)
            .map(|mut d| {
                json::project(&mut d, q, &SCHEMAS);
                d
            })
            .collect();
        Ok(json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }))
    }

    pub(crate) async fn scim_get_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let mut c = self.store().read().await.map_err(AppError::from)?;
        self.scim_room(&mut c, caller, account).await?;
        let g = store::group(&mut c, account, id)
            .await?
            .ok_or_else(ScimError::not_found)?;
        let mut doc = render(&g, &self.scim_base_url(account));
        json::project(&mut doc, q, &SCHEMAS);
        Ok(doc)
    }

    pub(crate) async fn scim_create_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        body: &Value,
    ) -> Result<Value, ScimError> {
        let input = GroupInput::parse(body)?;
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut tx, caller, account).await?;
        let g = GroupRow {
            id: uuid::Uuid::now_v7().to_string(),
            display_name: String::new(),
            external_id: None,
            attributes: json!({}),
            members: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let (doc, moved) = self
            .scim_write_group(&mut tx, &room, g, input, true, now)
            .await?;
        tx.commit().await.map_err(AppError::from)?;
        self.after_group_write(moved);
        Ok(doc)
    }

    pub(crate) async fn scim_replace_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        self.scim_update_group(caller, account, id, if_match, |_| Ok(body.clone()))
            .await
    }

    pub(crate) async fn scim_patch_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        req: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        self.scim_update_group(caller, account, id, if_match, |current| {
            let mut doc = current.clone();
            json::apply_patch(&mut doc, req, &SCHEMAS)?;
            Ok(doc)
        })
        .await
    }

    async fn scim_update_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        if_match: Option<&str>,
        next: impl FnOnce(&Value) -> Result<Value, ScimError>,
    ) -> Result<Value, ScimError> {
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut tx, caller, account).await?;
        let (g, current) = self.locked_group(&mut tx, account, id, if_match).await?;
        let doc = next(&current)?;
        if json::get_ci(&doc, "id")
            .and_then(Value::as_str)
            .is_some_and(|given| given != id)
        {
            return Err(ScimError::new(400, Some("mutability"), "id cannot change"));
        }
        let input = GroupInput::parse(&doc)?;
        let (doc, moved) = self
            .scim_write_group(&mut tx, &room, g, input, false, now)
            .await?;
        tx.commit().await.map_err(AppError::from)?;
        self.after_group_write(moved);
        Ok(doc)
    }

    /// Writes a group and moves the roles of the members it gained or lost.
    async fn scim_write_group(
        &self,
        tx: &mut Conn,
        room: &Room,
        before: GroupRow,
        input: GroupInput,
        created: bool,
        now: Millis,
    ) -> Result<(Value, bool), ScimError> {
        let account = room.account.id;
        let mut members = Vec::with_capacity(input.members.len());
        for id in &input.members {
            let m = members::get(&mut *tx, account, *id)
                .await?
                .filter(|m| !m.role.is_staff())
                .ok_or_else(|| ScimError::invalid_value(format!("no User {id} in this account")))?;
            members.push((m.id, m.email));
        }
        let old: BTreeSet<MembershipId> = before.members.iter().map(|(m, _)| *m).collect();
        let new: BTreeSet<MembershipId> = members.iter().map(|(m, _)| *m).collect();
        // Whose role may move: who joined or left, and everyone in it when it is renamed (the
        // new name may match another mapping).
        let touched: Vec<MembershipId> = if input.display_name != before.display_name && !created {
            old.union(&new).copied().collect()
        } else {
            old.symmetric_difference(&new).copied().collect()
        };
        let names_before = self.member_group_names(&mut *tx, account, &touched).await?;
        let g = GroupRow {
            display_name: input.display_name,
            external_id: input.external_id,
            attributes: input.attributes,
            members,
            updated_at: now,
            ..before
        };
        store::put_group(&mut *tx, account, &g)
            .await
            .map_err(|e| match e.is_unique() {
                true => ScimError::new(
                    409,
                    Some("uniqueness"),
                    "a group of that displayName exists",
                ),
                false => e.into(),
            })?;
        let event = By::Key(&room.token, &room.meta)
            .event(account, AuditAction::ScimGroupChanged)
            .target("scim_group", &g.id)
            .details(json!({
                "display_name": g.display_name, "created": created,
                "added": new.difference(&old).map(|m| m.to_string()).collect::<Vec<_>>(),
                "removed": old.difference(&new).map(|m| m.to_string()).collect::<Vec<_>>(),
            }));
        audit::append(&mut *tx, &event, now).await?;
        let moved = self
            .scim_roles_after(tx, room, &touched, names_before, now)
            .await?;
        Ok((render(&g, &self.scim_base_url(account)), moved))
    }

    pub(crate) async fn scim_delete_group(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut tx, caller, account).await?;
        let (g, _) = self.locked_group(&mut tx, account, id, if_match).await?;
        let before: Vec<MembershipId> = g.members.iter().map(|(m, _)| *m).collect();
        let names = self.member_group_names(&mut tx, account, &before).await?;
        store::delete_group(&mut tx, account, id).await?;
        let event = By::Key(&room.token, &room.meta)
            .event(account, AuditAction::ScimGroupRemoved)
            .target("scim_group", id)
            .details(json!({ "display_name": g.display_name }));
        audit::append(&mut tx, &event, now).await?;
        let moved = self
            .scim_roles_after(&mut tx, &room, &before, names, now)
            .await?;
        tx.commit().await.map_err(AppError::from)?;
        self.after_group_write(moved);
        Ok(())
    }

    /// After a group's commit: every node drops its credential caches only when a role moved.
    fn after_group_write(&self, moved: bool) {
        if moved {
            self.authority_committed();
        } else {
            self.committed();
        }
    }

    /// A group about to change, locked, with its document; `412` when `if_match` names another
    /// version.
    async fn locked_group(
        &self,
        tx: &mut Conn,
        account: AccountId,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(GroupRow, Value), ScimError> {
        store::lock_group(&mut *tx, self.store().dialect(), account, id).await?;
        let g = store::group(&mut *tx, account, id)
            .await?
            .ok_or_else(ScimError::not_found)?;
        let doc = render(&g, &self.scim_base_url(account));
        json::check_if_match(if_match, &doc)?;
        Ok((g, doc))
    }

    async fn member_group_names(
        &self,
        c: &mut Conn,
        account: AccountId,
        ids: &[MembershipId],
    ) -> Result<Vec<Vec<String>>, ScimError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let names = store::groups_of(&mut *c, account, *id)
                .await?
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            out.push(names);
        }
        Ok(out)
    }

    /// Gives each member the role their groups map to now; a member who lost the group whose
    /// mapping gave their role falls back to the connection's default role. The Owner and staff
    /// are never touched; a role beyond what the token's maker holds fails the request.
    async fn scim_roles_after(
        &self,
        tx: &mut Conn,
        room: &Room,
        ids: &[MembershipId],
        names_before: Vec<Vec<String>>,
        now: Millis,
    ) -> Result<bool, ScimError> {
        let account = room.account.id;
        let mut moved = false;
        let connections = sso::connections(&mut *tx, account).await?;
        let mapped = |names: &[String]| -> Option<String> {
            connections.iter().find_map(|c| {
                crate::sso::group_mappings(c)
                    .into_iter()
                    .find(|(g, _)| names.iter().any(|n| n.eq_ignore_ascii_case(g)))
                    .map(|(_, role)| role)
            })
        };
        let default = connections.first().map(|c| c.default_role.clone());
        for (id, before) in ids.iter().zip(names_before) {
            let Some(m) = members::get(&mut *tx, account, *id).await? else {
                continue;
            };
            if m.role.is_owner() || m.role.is_staff() {
                continue;
            }
            let now_names: Vec<String> = store::groups_of(&mut *tx, account, *id)
                .await?
                .into_iter()
                .map(|(_, n)| n)
                .collect();
            let current = m.role.encode();
            let target = match mapped(&now_names) {
                Some(r) => Some(r),
                None if mapped(&before).as_deref() == Some(current.as_str()) => default.clone(),
                None => None,
            };
            let Some(target) = target.filter(|t| *t != current) else {
                continue;
            };
            let role = self.resolve_role(&mut *tx, account, &target).await?;
            if role.role.is_owner() || role.role.is_staff() {
                continue;
            }
            check_grant(room.held, role.permissions).map_err(AppError::from)?;
            super::users::may_manage(room, &m)?;
            members::set_role(&mut *tx, account, m.id, role.role, now).await?;
            moved = true;
            let event = By::Key(&room.token, &room.meta)
                .event(account, AuditAction::MemberRoleChanged)
                .target("membership", m.id)
                .details(json!({
                    "email": m.email, "from": current, "from_name": m.role_name,
                    "to": role.role.encode(), "to_name": role.name, "via": "scim_group",
                }));
            audit::append(&mut *tx, &event, now).await?;
            self.recheck_contact(&mut *tx, account, now, AuditAction::MemberRoleChanged)
                .await?;
        }
        // Only a role that changed moves anyone's authority (and every node's caches).
        if moved {
            self.authority_moved(tx, account).await?;
        }
        Ok(moved)
    }
}
