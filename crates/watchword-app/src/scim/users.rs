//! SCIM Users: a User is a membership of a person in the account. Created only within the
//! account's verified domains; `active=false` suspends the membership (every credential of the
//! member in the account stops, data kept) without ever undoing an Owner's deactivation.

use super::json::{self, ENTERPRISE_SCHEMA, LIST_SCHEMA, ListQuery, PatchRequest, USER_SCHEMA};
use super::{Room, ScimCaller, ScimError};
use crate::access::NO_PASSWORD;
use crate::events::{By, EventExt};
use crate::members::Letter;
use crate::{App, AppError};
use serde_json::{Map, Value, json};
use watchword_domain::audit::AuditAction;
use watchword_domain::role::check_grant;
use watchword_domain::sso::email_domain;
use watchword_domain::*;
use watchword_store::rows::MemberRow;
use watchword_store::scim::{self as store, Cond, ScimUserRow, UserAttributes};
use watchword_store::{Conn, audit, members, persons, sso};

/// The most a member's kept SCIM attributes may weigh.
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// Attributes watchword derives itself; what an IdP sends for them is not kept.
const DERIVED: [&str; 6] = ["schemas", "id", "meta", "userName", "active", "groups"];

/// A User document as the IdP sent it (POST, PUT, or the result of a PATCH).
struct UserInput {
    user_name: EmailAddress,
    active: bool,
    external_id: Option<String>,
    display_name: Option<String>,
    attributes: Value,
}

fn string(doc: &Value, name: &str) -> Result<Option<String>, ScimError> {
    match json::get_ci(doc, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!("{name} is a string"))),
    }
}

impl UserInput {
    fn parse(doc: &Value) -> Result<Self, ScimError> {
        let Value::Object(obj) = doc else {
            return Err(ScimError::new(
                400,
                Some("invalidSyntax"),
                "a User is a JSON object",
            ));
        };
        if json::get_ci(doc, "password").is_some() {
            return Err(ScimError::new(
                400,
                Some("mutability"),
                "watchword does not take passwords from the identity provider",
            ));
        }
        let user_name = string(doc, "userName")?
            .ok_or_else(|| ScimError::invalid_value("userName (the member's email) is required"))?;
        let user_name = EmailAddress::parse(&user_name)
            .map_err(|_| ScimError::invalid_value("userName is the member's email address"))?;
        let active = match json::get_ci(doc, "active") {
            None | Some(Value::Null) => true,
            Some(v) => json::boolean(v, "active")?,
        };
        let external_id = string(doc, "externalId")?;
        let display_name = match string(doc, "displayName")? {
            Some(d) => Some(d),
            None => json::get_ci(doc, "name").and_then(|n| {
                string(n, "formatted").ok().flatten().or_else(|| {
                    let given = string(n, "givenName").ok().flatten().unwrap_or_default();
                    let family = string(n, "familyName").ok().flatten().unwrap_or_default();
                    let full = format!("{given} {family}").trim().to_owned();
                    (!full.is_empty()).then_some(full)
                })
            }),
        };
        let mut attributes = Map::new();
        for (k, v) in obj {
            if DERIVED.iter().any(|d| d.eq_ignore_ascii_case(k))
                || k.eq_ignore_ascii_case("externalId")
            {
                continue;
            }
            if !v.is_null() {
                attributes.insert(k.clone(), v.clone());
            }
        }
        // Entra sends the manager as its id alone; RFC 7643 keeps it as {"value": id}.
        if let Some(Value::Object(ext)) = attributes.get_mut(ENTERPRISE_SCHEMA)
            && let Some(m) = ext.get_mut("manager")
        {
            match m {
                Value::String(id) => *m = json!({ "value": id }),
                Value::Object(_) | Value::Null => {}
                _ => {
                    return Err(ScimError::invalid_value(
                        "manager is an object with a value",
                    ));
                }
            }
        }
        let attributes = Value::Object(attributes);
        if attributes.to_string().len() > MAX_ATTRIBUTES_BYTES {
            return Err(ScimError::invalid_value(
                "the User's attributes are too large",
            ));
        }
        Ok(Self {
            user_name,
            active,
            external_id,
            display_name,
            attributes,
        })
    }
}

fn active(row: &ScimUserRow) -> bool {
    row.member.status != MembershipStatus::Deactivated && row.member.suspended_at.is_none()
}

/// A member's SCIM document.
fn render(row: &ScimUserRow, base: &str, groups: &[(String, String)]) -> Value {
    let m = &row.member;
    let mut doc = match &row.attributes {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    let mut schemas = vec![USER_SCHEMA];
    if doc.contains_key(ENTERPRISE_SCHEMA) {
        schemas.push(ENTERPRISE_SCHEMA);
    }
    doc.insert("schemas".into(), json!(schemas));
    doc.insert("id".into(), json!(m.id.to_string()));
    if let Some(x) = &row.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("userName".into(), json!(m.email));
    // A member SCIM manages shows what the IdP keeps, and nothing it removed; any other member
    // shows their name and login email.
    let display = match row.provisioned {
        true => row.display_name.clone(),
        false => m.name.clone(),
    };
    if let Some(d) = display {
        doc.insert("displayName".into(), json!(d));
    }
    if !row.provisioned && !doc.contains_key("emails") {
        doc.insert(
            "emails".into(),
            json!([{ "value": m.email, "type": "work", "primary": true }]),
        );
    }
    doc.insert("active".into(), json!(active(row)));
    if !groups.is_empty() {
        let gs: Vec<Value> = groups
            .iter()
            .map(|(id, name)| json!({ "value": id, "display": name, "$ref": format!("{base}/Groups/{id}") }))
            .collect();
        doc.insert("groups".into(), Value::Array(gs));
    }
    let mut doc = Value::Object(doc);
    let version = json::etag(&doc);
    doc["meta"] = json!({
        "resourceType": "User",
        "created": row.created_at.rfc3339(),
        "lastModified": row.updated_at.rfc3339(),
        "location": format!("{base}/Users/{}", m.id),
        "version": version,
    });
    doc
}

/// The token acts with its maker's authority: it changes no member who holds a permission the
/// maker lacks (`403`), as a member could not through the console.
pub(super) fn may_manage(room: &Room, m: &MemberRow) -> Result<(), ScimError> {
    check_grant(room.held, m.permissions).map_err(|_| {
        ScimError::new(
            403,
            None,
            "this member holds permissions the token's maker does not",
        )
    })
}

fn membership_id(id: &str) -> Result<MembershipId, ScimError> {
    MembershipId::parse(id).ok_or_else(ScimError::not_found)
}

impl App {
    async fn scim_user_doc(
        &self,
        c: &mut Conn,
        room: &Room,
        id: MembershipId,
    ) -> Result<(ScimUserRow, Value), ScimError> {
        let row = store::user(&mut *c, room.account.id, id)
            .await?
            .ok_or_else(ScimError::not_found)?;
        let groups = store::groups_of(&mut *c, room.account.id, id).await?;
        let doc = render(&row, &self.scim_base_url(room.account.id), &groups);
        Ok((row, doc))
    }

    pub(crate) async fn scim_get_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let mut c = self.store().read().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut c, caller, account).await?;
        let (_, mut doc) = self
            .scim_user_doc(&mut c, &room, membership_id(id)?)
            .await?;
        json::project(&mut doc, q, &[USER_SCHEMA, ENTERPRISE_SCHEMA]);
        Ok(doc)
    }

    pub(crate) async fn scim_list_users(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let cond = match q.filter.as_deref().map(str::trim) {
            None | Some("") => Cond::All,
            Some(f) => json::user_cond(&json::parse_filter(f)?)?,
        };
        let (start, count) = q.page();
        let mut c = self.store().read().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut c, caller, account).await?;
        let (rows, total) = store::users(&mut c, account, &cond, start - 1, count).await?;
        let base = self.scim_base_url(account);
        let ids: Vec<MembershipId> = rows.iter().map(|r| r.member.id).collect();
        let mut groups = store::groups_of_many(&mut c, room.account.id, &ids).await?;
        let mut resources = Vec::with_capacity(rows.len());
        for row in &rows {
            let of = groups.remove(&row.member.id).unwrap_or_default();
            let mut doc = render(row, &base, &of);
            json::project(&mut doc, q, &[USER_SCHEMA, ENTERPRISE_SCHEMA]);
            resources.push(doc);
        }
        Ok(json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }))
    }

    /// Provisions a member: a new login (no password: the IdP signs them in) linked to the
    /// membership, or — for an email that has a login of its own — an invitation that login
    /// accepts as itself, never a takeover by email alone.
    pub(crate) async fn scim_create_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        body: &Value,
    ) -> Result<Value, ScimError> {
        let input = UserInput::parse(body)?;
        let email = &input.user_name;
        // The checks read on a reader connection, so the writer (SQLite has one) is held only
        // for the writes: the request is as if it ran at the moment of its checks. A login or
        // membership another request makes meanwhile is caught by the unique emails (`409`),
        // and the whole transaction rolls back.
        let (room, role, existing) = {
            let mut c = self.store().read().await.map_err(AppError::from)?;
            let room = self.scim_room(&mut c, caller, account).await?;
            self.scim_check_domain(&mut c, account, email).await?;
            let role = self.scim_default_role(&mut c, &room).await?;
            let existing = persons::by_email(&mut c, email.as_str()).await?;
            (room, role, existing)
        };
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let id = MembershipId::new();
        let known = existing.is_some();
        let (person, status) = match existing {
            // Made by this account's IdP before (its domain is this account's): the IdP's own.
            Some(p) if p.password_hash == NO_PASSWORD => (Some(p.id), MembershipStatus::Active),
            Some(_) => (None, MembershipStatus::Invited),
            None => {
                let p = PersonId::new();
                let name = input
                    .display_name
                    .as_deref()
                    .and_then(|n| text::PersonName::parse(n).ok())
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_else(|| email.local_part().to_owned());
                persons::insert(&mut tx, p, email.as_str(), &name, NO_PASSWORD, now)
                    .await
                    .map_err(|e| match e.is_unique() {
                        true => {
                            ScimError::new(409, Some("uniqueness"), "this userName was just taken")
                        }
                        false => e.into(),
                    })?;
                (Some(p), MembershipStatus::Active)
            }
        };
        let new = members::NewMembership {
            id,
            account,
            person,
            email: email.as_str(),
            role: role.role,
            status,
            invited_by: None,
        };
        members::insert(&mut tx, new, now)
            .await
            .map_err(|e| match e.is_unique() {
                true => {
                    ScimError::new(409, Some("uniqueness"), "this userName is already a member")
                }
                false => e.into(),
            })?;
        if status == MembershipStatus::Invited {
            let letter = Letter {
                inviter: "your organisation's identity provider",
                account_name: &room.account.name,
                role: &role.name,
            };
            self.send_invitation(&mut tx, account, id, email, letter, now)
                .await?;
        }
        self.scim_store_user(&mut tx, account, id, &input, now)
            .await?;
        if !input.active {
            store::set_suspended(&mut tx, account, id, Some(now), now).await?;
        }
        let event = By::Key(&room.token, &room.meta)
            .event(account, AuditAction::ScimUserProvisioned)
            .target("membership", id)
            .details(json!({
                "email": email.as_str(), "role": role.role.encode(), "role_name": role.name,
                "status": status.as_str(), "active": input.active,
            }));
        audit::append(&mut tx, &event, now).await?;
        let row = ScimUserRow {
            member: MemberRow {
                id,
                account_id: account,
                person_id: person,
                email: email.as_str().to_owned(),
                name: None,
                role: role.role,
                role_name: role.name.clone(),
                permissions: role.permissions,
                status,
                person_active: true,
                last_login_at: None,
                created_at: now,
                staff_expires_at: None,
                suspended_at: (!input.active).then_some(now),
            },
            external_id: input.external_id.clone(),
            display_name: input.display_name.clone(),
            attributes: input.attributes.clone(),
            provisioned: true,
            created_at: now,
            updated_at: now,
        };
        let doc = render(&row, &self.scim_base_url(account), &[]);
        // A new membership narrows no credential; only a login that existed may have cached
        // answers, and only an invitation has mail to send.
        tx.commit().await.map_err(AppError::from)?;
        if known {
            self.committed();
        }
        Ok(doc)
    }

    pub(crate) async fn scim_replace_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        let id = membership_id(id)?;
        self.scim_update_user(caller, account, id, if_match, |_| Ok(body.clone()))
            .await
    }

    pub(crate) async fn scim_patch_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        req: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<Value, ScimError> {
        let id = membership_id(id)?;
        self.scim_update_user(caller, account, id, if_match, |current| {
            let mut doc = current.clone();
            json::apply_patch(&mut doc, req, &[USER_SCHEMA, ENTERPRISE_SCHEMA])?;
            Ok(doc)
        })
        .await
    }

    /// A PUT, or a PATCH turned into the document it leaves: validated whole, then applied in
    /// one transaction.
    async fn scim_update_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: MembershipId,
        if_match: Option<&str>,
        next: impl FnOnce(&Value) -> Result<Value, ScimError>,
    ) -> Result<Value, ScimError> {
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut tx, caller, account).await?;
        let dialect = self.store().dialect();
        store::lock_member(&mut tx, dialect, account, id).await?;
        let (row, current) = self.scim_user_doc(&mut tx, &room, id).await?;
        json::check_if_match(if_match, &current)?;
        let doc = next(&current)?;
        if let Some(given) = json::get_ci(&doc, "id").and_then(Value::as_str)
            && given != id.to_string()
        {
            return Err(ScimError::new(400, Some("mutability"), "id cannot change"));
        }
        let input = UserInput::parse(&doc)?;
        if input.user_name.as_str() != row.member.email {
            self.scim_rename(&mut tx, &room, &row, &input.user_name, now)
                .await?;
        }
        let by = By::Key(&room.token, &room.meta);
        let switched = input.active != active(&row);
        if switched {
            self.scim_set_active(&mut tx, &room, &row, input.active, now)
                .await?;
        }
        self.scim_store_user(&mut tx, account, id, &input, now)
            .await?;
        let event = by
            .event(account, AuditAction::ScimUserUpdated)
            .target("membership", id)
            .details(json!({ "email": row.member.email }));
        audit::append(&mut tx, &event, now).await?;
        let (_, doc) = self.scim_user_doc(&mut tx, &room, id).await?;
        // Only a suspension or its end moves anyone's authority: an attribute sync (what IdPs
        // send most) leaves every node's credential caches alone.
        if switched {
            self.authority_moved(&mut tx, account).await?;
        }
        tx.commit().await.map_err(AppError::from)?;
        if switched {
            self.authority_committed();
        } else {
            self.committed();
        }
        Ok(doc)
    }

    /// A new userName: only for a login the IdP made and that is in this account alone (a login
    /// of its own changes its email itself), within the verified domains.
    async fn scim_rename(
        &self,
        tx: &mut Conn,
        room: &Room,
        row: &ScimUserRow,
        to: &EmailAddress,
        now: Millis,
    ) -> Result<(), ScimError> {
        let account = room.account.id;
        let own = || {
            ScimError::new(
                400,
                Some("mutability"),
                "userName is this member's own login email: the person changes it themselves",
            )
        };
        self.scim_check_domain(tx, account, to).await?;
        may_manage(room, &row.member)?;
        let person = match row.member.person_id {
            Some(p) => persons::get(&mut *tx, p).await?.ok_or_else(own)?,
            None => return Err(own()),
        };
        let elsewhere = members::of_person_all(&mut *tx, person.id).await?.len() > 1;
        if person.password_hash != NO_PASSWORD || elsewhere {
            return Err(own());
        }
        let taken = || ScimError::new(409, Some("uniqueness"), "this userName is taken");
        match persons::set_email(&mut *tx, person.id, to.as_str(), now).await {
            Ok(true) => {}
            Ok(false) => return Err(taken()),
            Err(e) if e.is_unique() => return Err(taken()),
            Err(e) => return Err(e.into()),
        }
        store::set_member_email(&mut *tx, account, row.member.id, to.as_str(), now)
            .await
            .map_err(|e| if e.is_unique() { taken() } else { e.into() })?;
        let event = By::Key(&room.token, &room.meta)
            .event(account, AuditAction::ScimUserUpdated)
            .target("membership", row.member.id)
            .details(json!({ "user_name": { "from": row.member.email, "to": to.as_str() } }));
        audit::append(tx, &event, now).await?;
        Ok(())
    }

    /// `400 invalidValue` unless `email` is in one of the account's verified domains.
    async fn scim_check_domain(
        &self,
        c: &mut Conn,
        account: AccountId,
        email: &EmailAddress,
    ) -> Result<(), ScimError> {
        let domain = sso::verified_domain(c, email_domain(email.as_str())).await?;
        if domain.is_none_or(|d| d.account_id != account.to_string()) {
            return Err(ScimError::invalid_value(
                "userName is outside this account's verified domains",
            ));
        }
        Ok(())
    }

    async fn scim_store_user(
        &self,
        tx: &mut Conn,
        account: AccountId,
        id: MembershipId,
        input: &UserInput,
        now: Millis,
    ) -> Result<(), ScimError> {
        let a = UserAttributes {
            external_id: input.external_id.as_deref(),
            display_name: input.display_name.as_deref(),
            attributes: &input.attributes,
        };
        store::put_user(tx, account, id, a, now).await?;
        Ok(())
    }

    /// Suspends or restores a membership. The Owner is never suspended; a member an Owner
    /// deactivated is never restored by the IdP (`409`, recorded for the console).
    async fn scim_set_active(
        &self,
        tx: &mut Conn,
        room: &Room,
        row: &ScimUserRow,
        active: bool,
        now: Millis,
    ) -> Result<(), ScimError> {
        let m = &row.member;
        let account = room.account.id;
        let by = By::Key(&room.token, &room.meta);
        if !active && m.role.is_owner() {
            return Err(ScimError::conflict(
                "the account's Owner cannot be suspended by the identity provider",
            ));
        }
        may_manage(room, m)?;
        if active && m.status == MembershipStatus::Deactivated {
            self.scim_refused(room, m.id, &m.email, "deactivated_by_owner")
                .await;
            return Err(ScimError::conflict(
                "an Owner deactivated this member in watchword: only an Owner can reactivate them",
            ));
        }
        if active {
            store::set_suspended(tx, account, m.id, None, now).await?;
        } else {
            store::set_suspended(tx, account, m.id, Some(now), now).await?;
            self.recheck_contact(tx, account, now, AuditAction::ScimUserSuspended)
                .await?;
        }
        let action = if active {
            AuditAction::ScimUserRestored
        } else {
            AuditAction::ScimUserSuspended
        };
        let event = by
            .event(account, action)
            .target("membership", m.id)
            .details(json!({ "email": m.email }));
        audit::append(tx, &event, now).await?;
        Ok(())
    }

    /// Records an IdP request watchword refused, in a transaction of its own (the request's
    /// own rolls back).
    async fn scim_refused(&self, room: &Room, id: MembershipId, email: &str, why: &str) {
        let event = By::Key(&room.token, &room.meta)
            .event(room.account.id, AuditAction::ScimUserRefused)
            .target("membership", id)
            .details(json!({ "email": email, "reason": why }));
        let now = self.now();
        self.write_in_background("audit a refused SCIM change", move |c| {
            Box::pin(async move { audit::append(c, &event, now).await.map(|_| ()) })
        });
    }

    /// Removes a member: their credentials in the account are revoked, a Security Contact
    /// reverts to the Owner. The Owner is never removed by the IdP.
    pub(crate) async fn scim_delete_user(
        &self,
        caller: &ScimCaller,
        account: AccountId,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let id = membership_id(id)?;
        let now = self.now();
        let mut tx = self.store().begin().await.map_err(AppError::from)?;
        let room = self.scim_room(&mut tx, caller, account).await?;
        store::lock_member(&mut tx, self.store().dialect(), account, id).await?;
        let (row, current) = self.scim_user_doc(&mut tx, &room, id).await?;
        json::check_if_match(if_match, &current)?;
        let m = &row.member;
        if m.role.is_owner() {
            return Err(ScimError::conflict(
                "the account's Owner cannot be removed by the identity provider",
            ));
        }
        may_manage(&room, m)?;
        let by = By::Key(&room.token, &room.meta);
        self.settle_credentials(&mut tx, by, &room.account, m, None, true, now)
            .await?;
        self.release_contact(&mut tx, account, m, AuditAction::ScimUserRemoved)
            .await?;
        members::delete(&mut tx, account, id).await?;
        let event = by
            .event(account, AuditAction::ScimUserRemoved)
            .target("membership", id)
            .details(json!({ "email": m.email, "role": m.role.encode() }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await.map_err(AppError::from)?;
        self.authority_committed();
        Ok(())
    }

    /// The role a provisioned member starts with: the account's SSO connection's default role
    /// (Analyst without a connection), never beyond what the token's maker holds.
    async fn scim_default_role(
        &self,
        c: &mut Conn,
        room: &Room,
    ) -> Result<crate::members::ResolvedRole, ScimError> {
        let key = sso::connections(&mut *c, room.account.id)
            .await?
            .into_iter()
            .map(|x| x.default_role)
            .next()
            .unwrap_or_else(|| BuiltinRole::Analyst.key().to_owned());
        let role = self.resolve_role(c, room.account.id, &key).await?;
        if role.role.is_owner() || role.role.is_staff() {
            return Err(ScimError::invalid_value(
                "the default role cannot be given by SCIM",
            ));
        }
        check_grant(room.held, role.permissions).map_err(AppError::from)?;
        Ok(role)
    }
}
