//! SMS as a second factor: a verified phone number, codes sent through the outbox to an SMS
//! provider, rate limits on sending, and the check of a code at login or step-up.
//!
//! Two providers: an HTTP webhook (POSTs JSON to the operator's SMS gateway, signed with
//! HMAC-SHA256 when a secret is set; failures are retried by the outbox), and the embedded
//! default that writes each message as a JSON file under the data directory and logs that it did.

use crate::factors::Confirmed;
use crate::mfa::{confirmed, factor_name};
use crate::{Actor, App, AppError, Meta};
use std::path::PathBuf;
use std::time::Duration;
use watchword_domain::sms::{self as rules, PhoneNumber};
use watchword_domain::token::constant_time_eq;
use watchword_domain::{DomainError, MessageId, Millis, PersonId};
use watchword_store::mfa::{self as factors, FactorRow, NewFactor};
use watchword_store::{Conn, outbox, sms as store};

/// A person is sent at most one code per this many seconds...
const MIN_INTERVAL_SECS: i64 = 30;
/// ...and at most this many per hour; one IP asks for at most `PER_IP_PER_HOUR`.
const PER_PERSON_PER_HOUR: i64 = 5;
const PER_IP_PER_HOUR: i64 = 20;
/// An SMS enrolment never confirmed is dropped after this long.
const PENDING_TTL_MS: i64 = 3_600_000;

/// Where SMS go.
#[derive(Clone)]
pub enum SmsSender {
    /// The operator's SMS gateway.
    Webhook {
        client: reqwest::Client,
        url: String,
        secret: Option<crate::Secret>,
    },
    /// The embedded default: one JSON file per message in this directory.
    Files { dir: PathBuf },
}

/// The body POSTed to a webhook and written to a file.
#[derive(serde::Serialize)]
struct Payload<'a> {
    id: String,
    to: &'a str,
    text: &'a str,
}

impl SmsSender {
    /// `http(s)://…`; each POST carries `X-Watchword-Signature: sha256=<hex HMAC-SHA256 of the
    /// body>` when `secret` is set.
    pub fn webhook(url: &str, secret: Option<String>) -> Result<Self, String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("invalid SMS webhook URL: {e}"))?;
        if !["http", "https"].contains(&parsed.scheme()) {
            return Err("the SMS webhook URL must start with http:// or https://".into());
        }
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the SMS webhook client: {e}"))?;
        Ok(SmsSender::Webhook {
            client,
            url: url.to_owned(),
            secret: secret.map(crate::Secret),
        })
    }

    pub fn files(dir: PathBuf) -> Self {
        SmsSender::Files { dir }
    }

    pub(crate) async fn deliver(&self, m: &outbox::Message) -> Result<(), String> {
        let payload = Payload {
            id: m.id.to_string(),
            to: &m.recipient,
            text: &m.body_text,
        };
        let body = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
        match self {
            SmsSender::Webhook {
                client,
                url,
                secret,
            } => {
                let mut req = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", payload.id.as_str())
                    .body(body.clone());
                if let Some(s) = secret {
                    req = req.header("x-watchword-signature", signature(&s.0, &body));
                }
                // The error names the gateway, never the number or the code.
                let res = req
                    .send()
                    .await
                    .map_err(|e| format!("SMS webhook: {}", e.without_url()))?;
                if res.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("SMS webhook answered {}", res.status()))
                }
            }
            SmsSender::Files { dir } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("sms dir: {e}"))?;
                let path = dir.join(format!("{}.json", m.id));
                tokio::fs::write(&path, &body)
                    .await
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
                tracing::info!(message_id = %m.id, file = %path.display(), "SMS written to file");
                Ok(())
            }
        }
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`, as the exposed-key reports are signed.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug)]
pub struct SmsEnrolment {
    pub factor_id: String,
    /// The number's last digits, as the page shows them.
    pub phone_hint: String,
}

impl App {
    /// Refuses a send beyond the limits: one per 30 s and 5 per hour per person, 20 per hour
    /// per IP.
    async fn sms_allowed(
        &self,
        c: &mut Conn,
        person: PersonId,
        ip: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        // Counted and written one at a time per person and per IP, so parallel requests cannot
        // both see room (the code is inserted on the same transaction).
        let keys = [format!("sms-person:{person}"), format!("sms-ip:{ip}")];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        watchword_store::limits::lock(&mut *c, self.store().dialect(), &keys).await?;
        let (by_person, by_ip, latest) =
            store::sent_since(c, person, ip, now.minus_secs(3600)).await?;
        if latest.is_some_and(|t| now.0 - t.0 < MIN_INTERVAL_SECS * 1000) {
            return Err(AppError::RateLimited(
                "sms_rate_limited",
                format!("a code was sent less than {MIN_INTERVAL_SECS} seconds ago; wait for it"),
            ));
        }
        if by_person >= PER_PERSON_PER_HOUR || by_ip >= PER_IP_PER_HOUR {
            return Err(AppError::RateLimited(
                "sms_rate_limited",
                "too many codes were sent lately; wait an hour or use another method".into(),
            ));
        }
        Ok(())
    }

    /// Writes a new code for `factor` to the outbox, on the caller's transaction.
    async fn send_code(
        &self,
        c: &mut Conn,
        factor: &FactorRow,
        purpose: &str,
        ip: &str,
        now: Millis,
    ) -> Result<(), AppError> {
        self.sms_allowed(&mut *c, factor.person_id, ip, now).await?;
        let phone = self.open_phone(factor)?;
        let id = uuid::Uuid::now_v7().to_string();
        let code = rules::new_code();
        store::insert(
            &mut *c,
            store::NewCode {
                id: &id,
                person: factor.person_id,
                factor_id: &factor.id,
                purpose,
                code_hash: &rules::hash_code(&id, &code),
                ip,
                expires_at: now.plus_secs(rules::CODE_TTL_SECS),
            },
            now,
        )
        .await?;
        let m = outbox::Message {
            id: MessageId::new(),
            account: None,
            channel: "sms",
            recipient: phone,
            subject: String::new(),
            body_text: rules::message(&code),
            body_html: String::new(),
            attempts: 0,
        };
        outbox::enqueue(c, &m, now).await?;
        Ok(())
    }

    fn open_phone(&self, f: &FactorRow) -> Result<String, AppError> {
        let (Some(key_id), Some(sealed)) = (&f.key_id, &f.secret_sealed) else {
            return Err(AppError::internal("SMS factor without a sealed number"));
        };
        let plain = self
            .open_sealed(key_id, sealed, &f.id)
            .map_err(|e| AppError::internal(format!("factor {}: {e}", f.id)))?;
        String::from_utf8(plain).map_err(|_| AppError::internal("sealed number is not text"))
    }

    /// Starts adding a phone number (authentication within 15 minutes): a code is sent to it,
    /// and the number counts once that code comes back.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn start_sms(
        &self,
        actor: &Actor,
        phone: &str,
        name: Option<&str>,
    ) -> Result<SmsEnrolment, AppError> {
        self.require_own_sign_in(actor, "add a second factor")
            .await?;
        let phone = PhoneNumber::parse(phone)?;
        let hint = phone.hint();
        let name = factor_name(name, &format!("Phone {hint}"))?;
        let id = format!("mfa_{}", uuid::Uuid::new_v4().simple());
        let (key_id, sealed) = self.keyring().seal(phone.as_str().as_bytes(), &id);
        let now = self.now();
        let mut tx = self.store().begin().await?;
        factors::delete_pending(&mut tx, actor.person, Millis(now.0 - PENDING_TTL_MS)).await?;
        let new = NewFactor {
            id: &id,
            person: actor.person,
            kind: "sms",
            name: &name,
            sealed: Some((&key_id, &sealed)),
            passkey: None,
            phone_hint: Some(&hint),
        };
        factors::insert_factor(&mut tx, new, now).await?;
        let row = FactorRow {
            id: id.clone(),
            person_id: actor.person,
            kind: "sms".into(),
            name,
            secret_sealed: Some(sealed),
            key_id: Some(key_id),
            last_step: None,
            credential: None,
            credential_id: None,
            phone_hint: Some(hint.clone()),
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
        };
        self.send_code(&mut tx, &row, "enrol", &actor.meta.ip, now)
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(SmsEnrolment {
            factor_id: id,
            phone_hint: hint,
        })
    }

    /// Confirms a phone number with the code sent to it (`factor_id`, or the latest pending).
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn confirm_sms(
        &self,
        actor: &Actor,
        factor_id: Option<&str>,
        code: &str,
    ) -> Result<Confirmed, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let person = self.person(&mut tx, actor.person).await?;
        let all = factors::factors(&mut tx, actor.person).await?;
        let live = store::live(
            &mut tx,
            actor.person,
            "enrol",
            rules::CODE_MAX_FAILURES,
            now,
        )
        .await?
        .filter(|l| factor_id.is_none_or(|id| id == l.factor_id));
        let pending = live.as_ref().and_then(|l| {
            all.iter()
                .find(|f| f.id == l.factor_id && f.kind == "sms" && f.confirmed_at.is_none())
        });
        let (Some(live), Some(pending)) = (live.as_ref(), pending) else {
            return Err(DomainError::conflict(
                "no_pending_enrolment",
                "start adding a phone first (POST /api/v1/me/mfa/sms); its code may have expired",
            )
            .into());
        };
        if !constant_time_eq(&rules::hash_code(&live.id, code), &live.code_hash)
            || !store::spend(&mut tx, &live.id, now).await?
        {
            store::failed(&mut tx, actor.person, "enrol", now).await?;
            tx.commit().await?;
            return Err(AppError::InvalidCode);
        }
        store::confirm_factor(&mut tx, &pending.id, now).await?;
        let what = format!(
            "A phone number ending {} was added to your watchword login for text-message codes",
            pending.phone_hint.as_deref().unwrap_or("")
        );
        self.finish_enrolment(tx, actor, &person, &all, pending, &what, now)
            .await
    }

    /// The confirmed SMS factor to text: `factor_id`, or the most recently added.
    async fn sms_factor(
        &self,
        c: &mut Conn,
        person: PersonId,
        factor_id: Option<&str>,
    ) -> Result<FactorRow, AppError> {
        let all = factors::factors(c, person).await?;
        confirmed(&all)
            .filter(|f| f.kind == "sms" && factor_id.is_none_or(|id| id == f.id))
            .max_by_key(|f| f.created_at)
            .cloned()
            .ok_or_else(|| {
                DomainError::field(
                    "method_not_enrolled",
                    "method",
                    "you have not set up text-message codes",
                )
                .into()
            })
    }

    /// Texts a code for the second step of a login. Returns the number's hint.
    pub async fn send_login_sms(
        &self,
        challenge_id: &str,
        factor_id: Option<&str>,
        meta: &Meta,
    ) -> Result<String, AppError> {
        let person = self
            .challenge_person(challenge_id)
            .await?
            .ok_or(AppError::InvalidCode)?;
        self.text_code(person, factor_id, meta).await
    }

    /// Texts a code for a step-up (a sensitive action). Returns the number's hint.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn send_step_up_sms(
        &self,
        actor: &Actor,
        factor_id: Option<&str>,
    ) -> Result<String, AppError> {
        self.text_code(actor.person, factor_id, &actor.meta).await
    }

    async fn text_code(
        &self,
        person: PersonId,
        factor_id: Option<&str>,
        meta: &Meta,
    ) -> Result<String, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let f = self.sms_factor(&mut tx, person, factor_id).await?;
        self.send_code(&mut tx, &f, "verify", &meta.ip, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(f.phone_hint.unwrap_or_default())
    }

    /// Checks a texted code at login or step-up and spends it; false when wrong.
    pub(crate) async fn check_sms(
        &self,
        c: &mut Conn,
        person: PersonId,
        code: &str,
        now: Millis,
    ) -> Result<bool, AppError> {
        let Some(live) =
            store::live(&mut *c, person, "verify", rules::CODE_MAX_FAILURES, now).await?
        else {
            return Ok(false);
        };
        let factor_ok = confirmed(&factors::factors(&mut *c, person).await?)
            .any(|f| f.id == live.factor_id && f.kind == "sms");
        if !factor_ok || !constant_time_eq(&rules::hash_code(&live.id, code), &live.code_hash) {
            return Ok(false);
        }
        if !store::spend(&mut *c, &live.id, now).await? {
            return Ok(false);
        }
        store::confirm_factor(c, &live.factor_id, now).await?;
        Ok(true)
    }

    /// Counts a wrong texted code against the code itself (it dies after five).
    pub(crate) async fn sms_failed(&self, c: &mut Conn, person: PersonId) -> Result<(), AppError> {
        store::failed(c, person, "verify", self.now()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_urls_are_http() {
        assert!(SmsSender::webhook("ftp://x", None).is_err());
        assert!(SmsSender::webhook("not a url", None).is_err());
        assert!(SmsSender::webhook("https://sms.example.com/send", None).is_ok());
    }
}
