//! Devices and new sign-ins. A browser that signs in holds a long-lived random device cookie
//! (kept as its SHA-256, per person). A sign-in from a browser the person has not used before
//! emails them ("New sign-in to watchword": when, browser and OS, IP) with a single-use
//! "This wasn't me" link — except for a person's first sign-in ever, and at most
//! [`NOTICES_PER_DAY`] a day per person (never folded by kind of browser: a second Chrome is a
//! second alarm). A token-mode sign-in (an API client) has no cookie: its device is its user
//! agent and client network (/24, /48), announced the same way. Following
//! the link and pressing its button ends that session and every session of that browser,
//! requires a password reset, is audited in every account of the person and alerts the Security
//! Contact of every account they administer. People list their devices and forget one (its
//! sessions end).

use crate::events::{self, EventExt};
use crate::mail::{self, NewSignIn};
use crate::sessions::SessionMode;
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::devices::{self as store, DeviceRow, ReportRow};
use watchword_store::rows::PersonRow;
use watchword_store::{Conn, members, persons, sessions};

/// A "This wasn't me" link works this long.
pub const REPORT_TTL_SECS: i64 = 7 * 86_400;
/// New sign-in emails one person gets at most in a day.
pub const NOTICES_PER_DAY: i64 = 5;

/// Browser and OS from a user agent, e.g. "Chrome on Linux" (PyPI-independent Project Woothee
/// rules, `woothee`).
pub fn device_label(user_agent: &str) -> String {
    let known = |s: &str| !s.is_empty() && s != "UNKNOWN";
    match woothee::parser::Parser::new().parse(user_agent) {
        Some(r) if known(r.name) && known(r.os) => format!("{} on {}", r.name, r.os),
        Some(r) if known(r.name) => r.name.to_owned(),
        _ => "Unknown browser".to_owned(),
    }
}

/// A device as its person sees it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub row: DeviceRow,
    /// The device of the session asking.
    pub current: bool,
}

/// What a "This wasn't me" link is about, for its confirmation page.
#[derive(Debug, Clone)]
pub struct SignInReport {
    pub device: String,
    pub ip: String,
    pub at: Millis,
}

impl App {
    /// Records the device of a browser session `session` opened for `person` (in the gate's
    /// transaction) and, for a browser not seen before, emails the person.
    pub(crate) async fn sign_in_device(
        &self,
        c: &mut Conn,
        person: &PersonRow,
        session: SessionId,
        mode: SessionMode,
        meta: &Meta,
        now: Millis,
    ) -> Result<(), AppError> {
        let hash = match (meta.device.token(), mode) {
            (Some(token), _) => hash_token(token),
            // No cookie to hold: the client's kind and network stand for its device.
            (None, SessionMode::Token) => hash_token(&format!(
                "token-mode\n{}\n{}",
                meta.user_agent,
                client_network(&meta.ip)
            )),
            (None, SessionMode::Cookie) => return Ok(()),
        };
        let label = device_label(&meta.user_agent);
        if let Some(d) = store::find(&mut *c, person.id, &hash).await? {
            store::seen(&mut *c, &d.id, &label, &meta.user_agent, &meta.ip, now).await?;
            store::attach_session(&mut *c, session, &d.id).await?;
            return Ok(());
        }
        let device = DeviceRow {
            id: format!("dev_{}", uuid::Uuid::now_v7().simple()),
            person_id: person.id,
            label: label.clone(),
            user_agent: meta.user_agent.clone(),
            first_seen_at: now,
            last_seen_at: now,
            last_ip: meta.ip.clone(),
        };
        store::insert(&mut *c, &device, &hash).await?;
        store::attach_session(&mut *c, session, &device.id).await?;
        let first_ever = person.last_login_at.is_none();
        let since = now.plus_secs(-86_400);
        if first_ever || store::notices_since(&mut *c, person.id, since).await? >= NOTICES_PER_DAY {
            return Ok(());
        }
        store::mark_notified(&mut *c, &device.id, now).await?;
        let token = random_token();
        let report = ReportRow {
            person_id: person.id,
            session_id: session.to_string(),
            device_id: device.id.clone(),
            created_at: now,
            expires_at: now.plus_secs(REPORT_TTL_SECS),
            used_at: None,
        };
        store::insert_report(&mut *c, &hash_token(&token), &report).await?;
        let link = format!(
            "{}/sign-ins/not-me?token={token}",
            self.settings().public_url.trim_end_matches('/')
        );
        let email = NewSignIn {
            name: &person.name,
            device: &label,
            ip: &meta.ip,
            at: now,
            link: &link,
        };
        mail::enqueue(c, None, &person.email, &email, now).await
    }

    /// What a live "This wasn't me" link is about (None: unknown, used or expired). Changes
    /// nothing: mail scanners follow links.
    pub async fn sign_in_report(&self, token: &str) -> Result<Option<SignInReport>, AppError> {
        let now = self.now();
        let mut c = self.store().read().await?;
        let Some(r) = store::report(&mut c, &hash_token(token)).await? else {
            return Ok(None);
        };
        if r.used_at.is_some() || r.expires_at <= now {
            return Ok(None);
        }
        let device = store::get(&mut c, r.person_id, &r.device_id).await?;
        Ok(Some(SignInReport {
            device: device
                .as_ref()
                .map_or_else(|| "a browser".to_owned(), |d| d.label.clone()),
            ip: device.map(|d| d.last_ip).unwrap_or_default(),
            at: r.created_at,
        }))
    }

    /// "This wasn't me", confirmed: the session and every session of its device end, the
    /// device is forgotten, password logins wait for a reset; audited in every account of the
    /// person, and the Security Contact of every account they administer is alerted. False when
    /// the link is unknown, used or expired.
    pub async fn report_sign_in(&self, token: &str, meta: &Meta) -> Result<bool, AppError> {
        let hash = hash_token(token);
        let now = self.now();
        // Read first: an unknown link (anyone may post one) never takes the write lock.
        let known = store::report(&mut *self.store().read().await?, &hash).await?;
        if !known.is_some_and(|r| r.used_at.is_none() && r.expires_at > now) {
            return Ok(false);
        }
        let mut tx = self.store().begin().await?;
        let Some(r) = store::report(&mut tx, &hash).await? else {
            return Ok(false);
        };
        if !store::use_report(&mut tx, &hash, now).await? {
            return Ok(false);
        }
        let person = persons::get(&mut tx, r.person_id)
            .await?
            .ok_or_else(|| AppError::internal("report of a missing person"))?;
        let session = SessionId::parse(&r.session_id)
            .ok_or_else(|| AppError::internal("report with a bad session id"))?;
        let this_one = sessions::revoke(&mut tx, person.id, session, now).await?;
        let ended = u64::from(this_one) + store::end_sessions(&mut tx, &r.device_id, now).await?;
        store::delete(&mut tx, person.id, &r.device_id).await?;
        persons::require_password_reset(&mut tx, person.id, Some(now)).await?;
        let event = events::of_person(
            &person,
            meta,
            AuditAction::SecurityUnrecognisedSignInReported,
        )
        .target("session", session)
        .details(serde_json::json!({ "device": r.device_id, "sessions_ended": ended }));
        events::fan_out(&mut tx, person.id, event, now).await?;
        let what = format!(
            "{} reported a sign-in to their login that was not theirs: its sessions are ended \
             and their password must be reset",
            person.email
        );
        for (account, member) in members::of_person_all(&mut tx, person.id).await? {
            let administers = !member
                .permissions
                .administration_gained(PermissionSet::EMPTY)
                .is_empty();
            if administers {
                let by = format!("{} <{}>", person.name, person.email);
                self.alert_system(&mut tx, &account, &what, &by, &meta.ip, now)
                    .await?;
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(true)
    }

    /// The person's devices, the most recently seen first.
    pub async fn my_devices(&self, actor: &Actor) -> Result<Vec<DeviceView>, AppError> {
        let mut c = self.store().read().await?;
        let current = sessions::device_of(&mut c, actor.session).await?;
        Ok(store::list(&mut c, actor.person)
            .await?
            .into_iter()
            .map(|row| DeviceView {
                current: current.as_deref() == Some(row.id.as_str()),
                row,
            })
            .collect())
    }

    /// Forgets one of the person's devices: its sessions end; its next sign-in is a new
    /// device's. 404 when it is not theirs.
    pub async fn forget_device(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !store::delete(&mut tx, actor.person, id).await? {
            return Err(AppError::NotFound);
        }
        let ended = store::end_sessions(&mut tx, id, now).await?;
        let event = events::by_self(actor, AuditAction::DeviceForgotten)
            .target("device", id)
            .details(serde_json::json!({ "sessions_ended": ended }));
        events::fan_out(&mut tx, actor.person, event, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(())
    }
}

/// The network a client address belongs to, as a device of a token-mode sign-in: its /24
/// (IPv4) or /48 (IPv6); the text itself when it is not an address.
fn client_network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => ip.to_owned(),
    }
}
