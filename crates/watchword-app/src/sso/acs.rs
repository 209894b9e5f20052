//! SAML sign-ins: the AuthnRequest sent (SP-initiated), and the IdP's response at the
//! connection's Assertion Consumer Service.
//!
//! A response that comes with the `RelayState` of a live request answers that request: the
//! browser must hold its state (as with OIDC), the response must answer the request's ID, and
//! the request is spent only by a response whose signature verified (a forged post leaves the
//! real answer working). Any other response is unsolicited (IdP-initiated) and accepted only
//! when the connection turns that on. Each assertion id is accepted once per connection, on any
//! node (the database remembers it until the assertion expires). Every refusal after the
//! connection is known is audited as `sso.login_failed`.
//!
//! Verification runs the C libraries: on the blocking pool, at most `saml_verify_concurrency`
//! at once per node, within `saml_verify_timeout_ms` (waiting for a turn included), else
//! `saml_verification_timeout`.

use super::oidc::Failure;
use super::saml::{IdpMetadata, SamlSp, Verified};
use super::signin::{Asserted, Pending};
use super::{SsoFinish, SsoStart};
use crate::sessions::SessionMode;
use crate::{App, AppError, Meta};
use watchword_domain::sso::authn_context_is_mfa;
use watchword_domain::token::{constant_time_eq, hash_token, random_token};
use watchword_domain::*;
use watchword_store::sso::{self as store, ConnectionRow};

/// The attribute read for the email when the NameID is not an email address and the
/// connection names no other.
pub const DEFAULT_EMAIL_ATTRIBUTE: &str = "email";
/// Attribute names read for the person's name.
const NAME: &[&str] = &[
    "displayName",
    "name",
    "cn",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
];
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// The IdP's POST to a connection's ACS.
pub struct AcsPost<'a> {
    pub connection: &'a str,
    pub saml_response: &'a str,
    pub relay_state: Option<&'a str>,
    /// The state the browser kept (its cookie), when it started the sign-in here.
    pub browser_state: Option<&'a str>,
}

impl App {
    /// How this watchword presents itself to a connection's IdP.
    pub fn saml_sp(&self, connection: &str) -> SamlSp {
        let base = self.settings().public_url.trim_end_matches('/').to_owned();
        SamlSp {
            entity_id: format!("{base}/sso/saml/{connection}/metadata"),
            acs_url: format!("{base}/sso/saml/{connection}/acs"),
        }
    }

    /// watchword's SAML metadata for a SAML connection (public: the IdP's admin copies it).
    pub async fn saml_sp_metadata(&self, connection: &str) -> Result<String, AppError> {
        let mut c = self.store().read().await?;
        store::connection(&mut c, connection)
            .await?
            .filter(|r| r.kind == "saml")
            .ok_or(AppError::NotFound)?;
        Ok(super::saml::sp_metadata(&self.saml_sp(connection)))
    }

    pub(crate) async fn begin_saml(
        &self,
        conn: &ConnectionRow,
        mode: SessionMode,
        test: bool,
        link: Option<PersonId>,
    ) -> Result<SsoStart, AppError> {
        let idp = idp_of(conn).map_err(|f| DomainError::conflict(f.reason, f.message))?;
        let state = random_token();
        let request_id = format!("_{}", random_token());
        let url = idp
            .sign_in_url(&self.saml_sp(&conn.id), &request_id, &state)
            .map_err(|f| DomainError::conflict(f.reason, f.message))?;
        let start = SsoStart {
            redirect_url: url,
            state,
        };
        let pending = Pending {
            verifier: "",
            nonce: &request_id,
            mode,
            test,
            link,
        };
        self.save_request(conn, &start, pending).await?;
        Ok(start)
    }

    /// The IdP's response at the ACS of `post.connection`.
    pub async fn finish_saml(&self, post: AcsPost<'_>, meta: &Meta) -> Result<SsoFinish, AppError> {
        let now = self.now();
        let mut c = self.store().read().await?;
        let conn = store::connection(&mut c, post.connection)
            .await?
            .filter(|r| r.kind == "saml")
            .ok_or(AppError::NotFound)?;
        drop(c);
        let relay = post.relay_state.filter(|r| !r.is_empty());
        let request = match relay {
            Some(r) => {
                let mut c = self.store().read().await?;
                let live = store::live_request(&mut c, &hash_token(r), now).await?;
                live.filter(|q| q.connection_id == conn.id)
            }
            None => None,
        };
        let test = request.as_ref().is_some_and(|q| q.test);
        let link = request.as_ref().and_then(|q| q.link_person);
        let mode = request
            .as_ref()
            .map_or(SessionMode::Cookie, |q| SessionMode::parse(&q.mode));
        let checked = self
            .check_response(&conn, &post, request.as_ref(), now)
            .await;
        let verified = match checked {
            Ok(v) => v,
            Err(f) if test => {
                return Ok(SsoFinish::Test {
                    claims: serde_json::Value::Null,
                    problem: Some(format!("{}: {}", f.reason, f.message)),
                });
            }
            // A response that matched no live request can be posted by anyone who knows the
            // (public) ACS URL: its refusal is audited at most once a minute per connection and
            // reason on this node, so the account's log cannot be flooded.
            Err(f)
                if request.is_none()
                    && !self.inner.keys.failure_due(
                        &format!("saml:{}", conn.id),
                        f.reason,
                        now,
                    ) =>
            {
                return Err(DomainError::forbidden(f.reason, f.message).into());
            }
            Err(f) => return Err(self.sso_failed(&conn, None, f, meta).await),
        };
        let who = asserted(&conn, &verified);
        self.conclude(&conn, who, test, link, mode, meta).await
    }

    /// Everything that must hold before the response's content is believed: the request it
    /// answers (or an unsolicited response allowed), the browser, the signature and conditions,
    /// then, in one transaction, the request spent and a first use of the assertion id.
    async fn check_response(
        &self,
        conn: &ConnectionRow,
        post: &AcsPost<'_>,
        request: Option<&store::RequestRow>,
        now: Millis,
    ) -> Result<Verified, Failure> {
        let idp = idp_of(conn)?;
        let sp = self.saml_sp(&conn.id);
        let request_id = match request {
            Some(q) => {
                let same_browser = match (post.browser_state, post.relay_state) {
                    (Some(b), Some(r)) => constant_time_eq(&hash_token(b), &hash_token(r)),
                    _ => false,
                };
                if !q.test && !same_browser {
                    return Err(Failure::new(
                        "state_mismatch",
                        "this sign-in was started in another browser; start again here",
                    ));
                }
                Some(q.nonce.as_str())
            }
            None if post.relay_state.is_some_and(|r| !r.is_empty()) && !conn.idp_initiated => {
                return Err(Failure::new(
                    "invalid_state",
                    "this sign-in expired or was used already; start again",
                ));
            }
            None if !conn.idp_initiated => {
                return Err(Failure::new(
                    "unsolicited_response",
                    "this connection accepts only sign-ins started at watchword",
                ));
            }
            None => None,
        };
        if !request.is_some_and(|q| q.test) && !conn.enabled {
            return Err(Failure::new(
                "connection_disabled",
                "the connection is disabled",
            ));
        }
        let verified = self
            .verify_saml(idp, sp, post.saml_response, request_id, now)
            .await?;
        let relay = post.relay_state.filter(|_| request.is_some());
        let spent = async {
            let mut tx = self.store().begin().await?;
            if let Some(r) = relay
                && store::take_request(&mut tx, &hash_token(r), now)
                    .await?
                    .is_none()
            {
                return Ok(Some(Failure::new(
                    "invalid_state",
                    "this sign-in expired or was used already; start again",
                )));
            }
            let fresh = store::spend_assertion(
                &mut tx,
                &conn.id,
                &verified.assertion_id,
                verified.expires_at,
                now,
            )
            .await?;
            if !fresh {
                return Ok(Some(Failure::new(
                    "replayed_assertion",
                    "this assertion was presented before",
                )));
            }
            tx.commit().await?;
            Ok::<Option<Failure>, AppError>(None)
        };
        match spent.await {
            Ok(None) => Ok(verified),
            Ok(Some(f)) => Err(f),
            Err(e) => Err(Failure::new("storage", e.to_string())),
        }
    }

    /// [`IdpMetadata::verify`] on the blocking pool, bounded in number and time.
    async fn verify_saml(
        &self,
        idp: IdpMetadata,
        sp: SamlSp,
        response: &str,
        request_id: Option<&str>,
        now: Millis,
    ) -> Result<Verified, Failure> {
        let limit = std::time::Duration::from_millis(self.settings().saml_verify_timeout_ms);
        let slots = self.inner.saml_verifications.clone();
        let response = response.to_owned();
        let request_id = request_id.map(str::to_owned);
        let run = async move {
            let slot = slots.acquire_owned().await.ok()?;
            let work = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                idp.verify(&sp, &response, request_id.as_deref(), now)
            });
            work.await.ok()
        };
        let too_late = || {
            Failure::new(
                "saml_verification_timeout",
                "the SAML response could not be verified in time; try again",
            )
        };
        let started = std::time::Instant::now();
        match tokio::time::timeout(limit, run).await {
            // Finished, but past the limit (the timer and the work can end together).
            Ok(Some(_)) if started.elapsed() > limit => Err(too_late()),
            Ok(Some(verified)) => verified,
            Ok(None) => Err(Failure::new("storage", "the verification did not finish")),
            Err(_) => Err(too_late()),
        }
    }
}

/// The connection's IdP metadata, read and checked.
pub(crate) fn idp_of(conn: &ConnectionRow) -> Result<IdpMetadata, Failure> {
    let xml = conn
        .saml_metadata
        .as_deref()
        .ok_or_else(|| Failure::new("configuration", "the connection has no IdP metadata"))?;
    super::saml::parse_metadata(xml).map_err(|e| Failure::new("configuration", e.to_string()))
}

/// What a verified assertion says, in the terms every IdP answer is read in.
fn asserted(conn: &ConnectionRow, v: &Verified) -> Asserted {
    let first = |names: &[&str]| v.attribute(names).and_then(|x| x.first()).cloned();
    // One source, never a choice between several: the NameID when it is an email address,
    // else the one attribute the connection names.
    let email = if v.name_id_format.as_deref() == Some(EMAIL_FORMAT) {
        Some(v.subject.clone())
    } else {
        let name = conn
            .email_attribute
            .as_deref()
            .unwrap_or(DEFAULT_EMAIL_ATTRIBUTE);
        first(&[name])
    };
    let groups = conn
        .groups_claim
        .as_deref()
        .or(Some("groups"))
        .and_then(|g| v.attribute(&[g]))
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    Asserted {
        subject: v.subject.clone(),
        email,
        email_verified: None,
        name: first(NAME),
        groups,
        mfa: v.contexts.iter().any(|c| authn_context_is_mfa(c)),
        phishing_resistant: v
            .contexts
            .iter()
            .any(|c| watchword_domain::sso::authn_context_is_phishing_resistant(c)),
        how: serde_json::json!({ "authn_context": v.contexts }),
        all: v.all(),
    }
}
