//! Signing in through an account's identity provider (SP-initiated OIDC and SAML; the SAML
//! answer itself is read in `acs`).
//!
//! `start_sso` routes an email by its domain alone: to the IdP of the account that verified the
//! domain when it has an enabled connection, else nowhere — the same answer whether or not the
//! person exists. `finish_oidc` spends the request (once, before anything else), exchanges the
//! code and verifies the ID token, then maps the identity to a person: by (connection, subject)
//! after the first sign-in, by email only at the first one and only for an email in one of the
//! account's verified domains. A person deactivated in the account stays out whatever the IdP
//! says. The session opens at the one gate; every refusal is audited as `sso.login_failed`.

use super::oidc::{Failure, IdClaims, Settings};
use crate::events::{self, EventExt};
use crate::gate::{AfterPassword, IdpAsserted, SignInProof};
use crate::limits::SSO_STARTS_PER_IP;
use crate::sessions::{IssuedSession, SessionMode};
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::sso::{Protocol, REQUEST_TTL_SECS, amr_is_mfa, email_domain};
use watchword_domain::text::EmailAddress;
use watchword_domain::token::hash_token;
use watchword_domain::*;
use watchword_store::sso::{self as store, ConnectionRow, NewRequest};
use watchword_store::{Conn, accounts, audit, members, persons};

/// What an IdP asserted about the person, whatever the protocol: verified before it gets here.
#[derive(Debug, Clone)]
pub(crate) struct Asserted {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    /// The values of the connection's groups claim or attribute.
    pub groups: Vec<String>,
    /// Whether the IdP says the person passed MFA (`amr`, or an AuthnContextClassRef).
    pub mfa: bool,
    /// Whether it says the method was phishing-resistant (a security key, a smart card).
    pub phishing_resistant: bool,
    /// The IdP's own words on how the person signed in (audited).
    pub how: serde_json::Value,
    /// Everything it said (shown by a test sign-in).
    pub all: serde_json::Value,
}

impl Asserted {
    fn from_oidc(conn: &ConnectionRow, claims: &IdClaims) -> Self {
        let all = claims.all();
        let groups = match conn.groups_claim.as_deref().map(|g| &all[g]) {
            Some(serde_json::Value::Array(v)) => v
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(g)) => vec![g.clone()],
            _ => Vec::new(),
        };
        Asserted {
            subject: claims.subject.clone(),
            email: claims.email.clone(),
            email_verified: claims.email_verified,
            name: claims.name.clone(),
            groups,
            mfa: amr_is_mfa(&claims.amr),
            phishing_resistant: watchword_domain::sso::amr_is_phishing_resistant(&claims.amr),
            how: serde_json::json!({ "amr": claims.amr }),
            all,
        }
    }
}

/// The role of a person provisioned through `conn`: the first mapping whose group the IdP
/// asserted, else the connection's default.
fn provisioned_role(conn: &ConnectionRow, who: &Asserted) -> String {
    super::connections::mappings(conn)
        .into_iter()
        .find(|(g, _)| who.groups.contains(g))
        .map(|(_, role)| role)
        .unwrap_or_else(|| conn.default_role.clone())
}

use crate::access::NO_PASSWORD;

/// Where to send the browser, and the `state` the browser keeps (a cookie) to prove at the
/// callback that it started this sign-in.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub redirect_url: String,
    pub state: String,
}

/// What the answer to a sign-in is checked against: the PKCE verifier and nonce (OIDC) or the
/// AuthnRequest's ID (SAML, as `nonce`), and how the session is kept.
pub(crate) struct Pending<'a> {
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub mode: SessionMode,
    pub test: bool,
    /// The person linking their login to the connection (from their own session).
    pub link: Option<PersonId>,
}

/// The provider's answer at the redirect URI, with the `state` the browser kept.
pub struct Callback<'a> {
    pub state: &'a str,
    pub browser_state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The provider's `error`, when it refused.
    pub error: Option<&'a str>,
    /// The provider's `iss` (RFC 9207), when it names itself.
    pub iss: Option<&'a str>,
}

/// What the answer carried besides its state.
struct Answer<'a> {
    same_browser: bool,
    iss: Option<&'a str>,
    code: Option<&'a str>,
    idp_error: Option<&'a str>,
}

/// How a sign-in through an IdP ended.
#[derive(Debug)]
pub enum SsoFinish {
    Session(IssuedSession),
    /// The person's own second factor is due (the provider's MFA is not trusted or not done).
    SecondFactor {
        challenge_id: String,
        methods: Vec<&'static str>,
    },
    /// A test sign-in of a connection: what came back and the first problem found.
    Test {
        claims: serde_json::Value,
        problem: Option<String>,
    },
}

impl App {
    /// The IdP sign-in for `email`, when its domain is verified by an account (on a paid plan)
    /// with an enabled connection; None otherwise.
    pub async fn start_sso(
        &self,
        email: &str,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<Option<SsoStart>, AppError> {
        let email = EmailAddress::parse(email)?;
        self.take_slot(
            &[(SSO_STARTS_PER_IP, &meta.ip)],
            crate::limits::too_many_mails,
        )
        .await?;
        let conn = {
            let mut c = self.store().read().await?;
            self.route(&mut c, email_domain(email.as_str())).await?
        };
        match conn {
            Some(conn) => self.begin(&conn, mode, false, None).await.map(Some),
            None => Ok(None),
        }
    }

    /// Starts a test sign-in of a connection (enabled or not) for its administrators.
    #[tracing::instrument(skip_all, fields(account = %account))]
    pub async fn test_sso_connection<'a>(
        &self,
        by: impl Into<crate::access::SsoBy<'a>>,
        account: AccountId,
        id: &str,
    ) -> Result<SsoStart, AppError> {
        let conn = {
            let mut c = self.store().read().await?;
            self.sso_admin(&mut c, by.into(), account, crate::access::SsoAdmin::Change)
                .await?;
            store::connection(&mut c, id)
                .await?
                .filter(|r| r.account_id == account.to_string())
                .ok_or(AppError::NotFound)?
        };
        self.begin(&conn, SessionMode::Cookie, true, None).await
    }

    /// Starts linking the actor's own login to the account's IdP: the actor's email must be in
    /// a domain the account verified, with an enabled connection; the session must be the
    /// person's own (password, and their second factor when they have one) and recent. The
    /// IdP's answer then links its subject to this person and signs them in.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn start_sso_link(
        &self,
        actor: &Actor,
        account: AccountId,
        mode: SessionMode,
    ) -> Result<SsoStart, AppError> {
        self.require_own_sign_in(actor, "link your company sign-in")
            .await?;
        // Each start writes a request row, as a sign-in's start does: the same limit.
        self.take_slot(
            &[(SSO_STARTS_PER_IP, &actor.meta.ip)],
            crate::limits::too_many_mails,
        )
        .await?;
        let conn = {
            let mut c = self.store().read().await?;
            match self.access(&mut c, actor, account).await {
                // SSO-only refuses this very session: linking is how it gets through.
                Ok(_)
                | Err(AppError::Domain(DomainError::Forbidden {
                    code: "sso_required",
                    ..
                })) => {}
                Err(e) => return Err(e),
            }
            let has_factor = !self.methods(&mut c, actor.person).await?.is_empty();
            if has_factor && actor.mfa_at.is_none() {
                return Err(DomainError::forbidden(
                    "mfa_verification_required",
                    "confirm your second factor (POST /api/v1/me/reauthenticate) to link your company sign-in",
                )
                .into());
            }
            self.route(&mut c, email_domain(&actor.email))
                .await?
                .filter(|x| x.account_id == account.to_string())
                .ok_or_else(|| {
                    DomainError::conflict(
                        "sso_not_available",
                        "this account has no enabled connection for your email's domain",
                    )
                })?
        };
        self.begin(&conn, mode, false, Some(actor.person)).await
    }

    /// The enabled connection serving `domain`, if an account on a paid plan verified it.
    async fn route(&self, c: &mut Conn, domain: &str) -> Result<Option<ConnectionRow>, AppError> {
        let Some(d) = store::verified_domain(&mut *c, domain).await? else {
            return Ok(None);
        };
        let Some(account) = AccountId::parse(&d.account_id) else {
            return Ok(None);
        };
        let paid = accounts::get(&mut *c, account)
            .await?
            .is_some_and(|a| a.plan == Plan::Paid);
        let conns = store::connections(&mut *c, account).await?;
        Ok(conns.into_iter().find(|x| paid && x.enabled))
    }

    fn oidc_settings<'a>(
        &self,
        conn: &'a ConnectionRow,
        redirect: &'a str,
    ) -> Result<Settings<'a>, AppError> {
        Ok(Settings {
            issuer: conn.issuer.as_deref().unwrap_or_default(),
            client_id: conn.client_id.as_deref().unwrap_or_default(),
            client_secret: self.client_secret(conn)?,
            scopes: &conn.scopes,
            redirect_uri: redirect,
        })
    }

    async fn begin(
        &self,
        conn: &ConnectionRow,
        mode: SessionMode,
        test: bool,
        link: Option<PersonId>,
    ) -> Result<SsoStart, AppError> {
        if conn.kind == Protocol::Saml.as_str() {
            return self.begin_saml(conn, mode, test, link).await;
        }
        let redirect = self.sso_redirect_uri();
        let settings = self.oidc_settings(conn, &redirect)?;
        let auth = self.oidc().authorize(&settings).await.map_err(|f| {
            DomainError::conflict(
                "idp_unavailable",
                format!("the identity provider: {}", f.message),
            )
        })?;
        let start = SsoStart {
            redirect_url: auth.url,
            state: auth.state,
        };
        let pending = Pending {
            verifier: &auth.verifier,
            nonce: &auth.nonce,
            mode,
            test,
            link,
        };
        self.save_request(conn, &start, pending).await?;
        Ok(start)
    }

    /// Records a sign-in sent to `conn`'s IdP, found again by the hash of its state.
    pub(crate) async fn save_request(
        &self,
        conn: &ConnectionRow,
        start: &SsoStart,
        p: Pending<'_>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let request = NewRequest {
            state_hash: &hash_token(&start.state),
            connection: &conn.id,
            verifier: p.verifier,
            nonce: p.nonce,
            mode: p.mode.as_str(),
            test: p.test,
            link_person: p.link,
            expires_at: now.plus_secs(REQUEST_TTL_SECS),
        };
        store::insert_request(&mut tx, &request, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The end of every verified IdP answer: a test shows what came back; a sign-in maps the
    /// identity to a person and opens the session, or is refused and audited.
    pub(crate) async fn conclude(
        &self,
        conn: &ConnectionRow,
        who: Asserted,
        test: bool,
        link: Option<PersonId>,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<SsoFinish, AppError> {
        if test {
            let mut c = self.store().read().await?;
            let problem = self
                .verified_email(&mut c, conn, &who)
                .await?
                .err()
                .map(|f| format!("{}: {}", f.reason, f.message));
            return Ok(SsoFinish::Test {
                claims: who.all,
                problem,
            });
        }
        match self
            .sso_sign_in(conn, &who, link, mode, meta, self.now())
            .await?
        {
            Ok(done) => Ok(done),
            Err(f) => Err(self.sso_failed(conn, Some(&who.subject), f, meta).await),
        }
    }

    /// The provider's answer at the redirect URI: `state`, and `code` or the IdP's `error`.
    /// `browser_state` is what the browser kept at the start: a sign-in (not a test) finishes
    /// only in the browser that started it, so nobody can sign a victim into their own identity.
    pub async fn finish_oidc(&self, cb: Callback<'_>, meta: &Meta) -> Result<SsoFinish, AppError> {
        let Callback {
            state,
            browser_state,
            code,
            error: idp_error,
            iss,
        } = cb;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let request = store::take_request(&mut tx, &hash_token(state), now).await?;
        tx.commit().await?;
        let Some(request) = request else {
            return Err(DomainError::field(
                "invalid_state",
                "state",
                "this sign-in expired or was used already; start again",
            )
            .into());
        };
        let mut c = self.store().read().await?;
        let conn = store::connection(&mut c, &request.connection_id)
            .await?
            .ok_or(AppError::NotFound)?;
        drop(c);
        let same_browser = browser_state.is_some_and(|b| {
            watchword_domain::token::constant_time_eq(&hash_token(b), &hash_token(state))
        });
        let answer = Answer {
            same_browser,
            iss,
            code,
            idp_error,
        };
        let claims = match self.check_answer(&conn, &request, answer, now).await {
            Ok(c) => c,
            Err(f) if request.test => {
                return Ok(SsoFinish::Test {
                    claims: serde_json::Value::Null,
                    problem: Some(format!("{}: {}", f.reason, f.message)),
                });
            }
            Err(f) => return Err(self.sso_failed(&conn, None, f, meta).await),
        };
        let who = Asserted::from_oidc(&conn, &claims);
        let mode = SessionMode::parse(&request.mode);
        self.conclude(&conn, who, request.test, request.link_person, mode, meta)
            .await
    }

    /// Checks the provider's answer to a spent request (the browser, the issuer it names, its
    /// error or code, the connection enabled unless testing), then exchanges the code and
    /// verifies the ID token.
    async fn check_answer(
        &self,
        conn: &ConnectionRow,
        request: &store::RequestRow,
        a: Answer<'_>,
        now: Millis,
    ) -> Result<IdClaims, Failure> {
        if !request.test && !a.same_browser {
            return Err(Failure::new(
                "state_mismatch",
                "this sign-in was started in another browser; start again here",
            ));
        }
        // RFC 9207: a provider that names itself in the answer must be this connection's (a
        // mix-up between providers is refused).
        if let Some(iss) = a.iss
            && Some(iss.trim_end_matches('/')) != conn.issuer.as_deref()
        {
            return Err(Failure::new(
                "issuer_mismatch",
                "the answer came from another identity provider",
            ));
        }
        if let Some(e) = a.idp_error {
            let e: String = e.chars().filter(|c| !c.is_control()).take(100).collect();
            return Err(Failure::new(
                "idp_error",
                format!("the provider answered {e}"),
            ));
        }
        let code = a
            .code
            .ok_or_else(|| Failure::new("missing_code", "no code came back"))?;
        if !request.test && !conn.enabled {
            return Err(Failure::new(
                "connection_disabled",
                "the connection is disabled",
            ));
        }
        let redirect = self.sso_redirect_uri();
        let settings = self
            .oidc_settings(conn, &redirect)
            .map_err(|e| Failure::new("configuration", e.to_string()))?;
        let (verifier, nonce) = (&request.verifier, &request.nonce);
        self.oidc()
            .finish(&settings, code, verifier, nonce, now.0 / 1000)
            .await
    }

    /// The claims' email when it is in one of the connection's account's verified domains and
    /// the provider did not say it is unverified.
    async fn verified_email(
        &self,
        c: &mut Conn,
        conn: &ConnectionRow,
        claims: &Asserted,
    ) -> Result<Result<EmailAddress, Failure>, AppError> {
        let Some(email) = claims
            .email
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok())
        else {
            return Ok(Err(Failure::new(
                "missing_email",
                "the provider sent no usable email claim (ask for the email scope)",
            )));
        };
        if claims.email_verified == Some(false) {
            return Ok(Err(Failure::new(
                "email_not_verified",
                "the provider says the email is not verified",
            )));
        }
        let ours = store::verified_domain(c, email_domain(email.as_str()))
            .await?
            .is_some_and(|d| d.account_id == conn.account_id);
        if !ours {
            return Ok(Err(Failure::new(
                "unverified_domain",
                format!(
                    "{} is not in a domain this account verified",
                    email.as_str()
                ),
            )));
        }
        Ok(Ok(email))
    }

    /// Maps the identity to a person and member (linking or provisioning them), then opens the
    /// session at the gate, all in one transaction. A refusal comes back as a `Failure`.
    async fn sso_sign_in(
        &self,
        conn: &ConnectionRow,
        claims: &Asserted,
        link: Option<PersonId>,
        mode: SessionMode,
        meta: &Meta,
        now: Millis,
    ) -> Result<Result<SsoFinish, Failure>, AppError> {
        let account = AccountId::parse(&conn.account_id)
            .ok_or_else(|| AppError::internal("connection with a bad account id"))?;
        let mut tx = self.store().begin().await?;
        let email = match self.verified_email(&mut tx, conn, claims).await? {
            Ok(e) => e,
            Err(f) => return Ok(Err(f)),
        };
        let linked = store::identity(&mut tx, &conn.id, &claims.subject).await?;
        let someone_else = || {
            Failure::new(
                "link_mismatch",
                "the identity provider signed in someone else than the login being linked",
            )
        };
        let person = match linked {
            Some(p) if link.is_some_and(|l| l != p) => return Ok(Err(someone_else())),
            Some(p) => p,
            None => {
                let existing = persons::by_email(&mut tx, email.as_str()).await?;
                // A login SCIM made for this account (its domain is the account's) and no IdP
                // has signed in yet: it has no password of its own to protect.
                let provisioned = match &existing {
                    Some(p) if link.is_none() && p.password_hash == NO_PASSWORD => {
                        !store::has_identity(&mut tx, p.id).await?
                    }
                    _ => false,
                };
                let p = match existing {
                    Some(p) if provisioned => p.id,
                    // Only the person links their own login, from a session of their own.
                    Some(p) if link == Some(p.id) => {
                        let event = events::by_person(
                            p.id,
                            email.as_str(),
                            meta,
                            Some(account),
                            AuditAction::SsoIdentityLinked,
                        )
                        .target("sso_connection", &conn.id)
                        .details(serde_json::json!({ "subject": claims.subject }));
                        audit::append(&mut tx, &event, now).await?;
                        p.id
                    }
                    Some(_) if link.is_some() => return Ok(Err(someone_else())),
                    Some(_) => {
                        return Ok(Err(Failure::new(
                            "sso_link_required",
                            "this email has a login of its own: sign in with your password and second factor once, open the account and press \"Link your company sign-in\"",
                        )));
                    }
                    None if link.is_some() => return Ok(Err(someone_else())),
                    None if conn.jit => {
                        let name = claims
                            .name
                            .as_deref()
                            .and_then(|n| text::PersonName::parse(n).ok())
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_else(|| email.local_part().to_owned());
                        let id = PersonId::new();
                        persons::insert(&mut tx, id, email.as_str(), &name, NO_PASSWORD, now)
                            .await?;
                        id
                    }
                    None => {
                        return Ok(Err(Failure::new(
                            "not_provisioned",
                            "no login for this email and the connection does not provision people",
                        )));
                    }
                };
                store::link_identity(&mut tx, &conn.id, &claims.subject, p, now).await?;
                p
            }
        };
        let member = members::of_person(&mut tx, account, person).await?;
        let member = match member {
            Some(m) => Some(m),
            None => members::by_email(&mut tx, account, email.as_str()).await?,
        };
        match member {
            Some(m) if m.status == MembershipStatus::Deactivated => {
                return Ok(Err(Failure::new(
                    "member_deactivated",
                    "this member is deactivated in the account",
                )));
            }
            Some(m) if m.status == MembershipStatus::Invited => {
                members::activate_for(&mut tx, account, m.id, person, now).await?;
                let event = events::by_person(
                    person,
                    email.as_str(),
                    meta,
                    Some(account),
                    AuditAction::InvitationAccepted,
                )
                .target("membership", m.id)
                .details(serde_json::json!({ "email": email.as_str(), "sso_connection": conn.id }));
                audit::append(&mut tx, &event, now).await?;
            }
            Some(_) => {}
            None if conn.jit => {
                let key = provisioned_role(conn, claims);
                let role = self.resolve_role(&mut tx, account, &key).await?;
                let id = MembershipId::new();
                let m = members::NewMembership {
                    id,
                    account,
                    person: Some(person),
                    email: email.as_str(),
                    role: role.role,
                    status: MembershipStatus::Active,
                    invited_by: None,
                };
                members::insert(&mut tx, m, now).await?;
                let event = events::system(Some(account), AuditAction::SsoMemberProvisioned)
                    .target("membership", id)
                    .details(serde_json::json!({
                        "email": email.as_str(), "role": role.name, "sso_connection": conn.id,
                    }));
                audit::append(&mut tx, &event, now).await?;
            }
            None => {
                return Ok(Err(Failure::new(
                    "not_a_member",
                    "this person is not a member and the connection does not provision members",
                )));
            }
        }
        let asserted = IdpAsserted {
            person,
            mfa: conn.trust_idp_mfa && claims.mfa,
            phishing_resistant: conn.trust_idp_mfa && claims.phishing_resistant,
        };
        store::touch_identity(&mut tx, &conn.id, &claims.subject, now).await?;
        let event = events::by_person(
            person,
            email.as_str(),
            meta,
            Some(account),
            AuditAction::SsoLogin,
        )
        .target("sso_connection", &conn.id)
        .details(serde_json::json!({
            "subject": claims.subject, "idp": claims.how, "idp_mfa": asserted.mfa,
        }));
        audit::append(&mut tx, &event, now).await?;
        let finish = match self.after_sso(&mut tx, asserted, mode, now).await? {
            AfterPassword::Proven(proof) => {
                let session = self
                    .open_sso_session(&mut tx, proof, conn, mode, meta, now)
                    .await?;
                SsoFinish::Session(session)
            }
            AfterPassword::SecondFactor {
                challenge_id,
                methods,
            } => {
                let hash = hash_token(&challenge_id);
                watchword_store::mfa::set_challenge_sso(&mut tx, &hash, &conn.id).await?;
                SsoFinish::SecondFactor {
                    challenge_id,
                    methods,
                }
            }
        };
        tx.commit().await?;
        self.committed();
        Ok(Ok(finish))
    }

    async fn open_sso_session(
        &self,
        c: &mut Conn,
        proof: SignInProof,
        conn: &ConnectionRow,
        mode: SessionMode,
        meta: &Meta,
        now: Millis,
    ) -> Result<IssuedSession, AppError> {
        let session = self.open_session(&mut *c, proof, mode, meta, now).await?;
        store::mark_session(c, session.session, &conn.id).await?;
        Ok(session)
    }

    /// Records a refused SSO sign-in in the connection's account (its own transaction) and
    /// returns the error to show: the reason is the code.
    pub(crate) async fn sso_failed(
        &self,
        conn: &ConnectionRow,
        subject: Option<&str>,
        f: Failure,
        meta: &Meta,
    ) -> AppError {
        tracing::info!(connection = %conn.id, reason = f.reason, message = %f.message, "SSO sign-in refused");
        let write = async {
            let account = AccountId::parse(&conn.account_id)
                .ok_or_else(|| AppError::internal("connection with a bad account id"))?;
            let mut tx = self.store().begin().await?;
            let mut event = events::system(Some(account), AuditAction::SsoLoginFailed)
                .target("sso_connection", &conn.id)
                .details(serde_json::json!({ "reason": f.reason, "subject": subject }));
            event.ip = Some(meta.ip.clone());
            event.user_agent = Some(meta.user_agent.clone());
            audit::append(&mut tx, &event, self.now()).await?;
            tx.commit().await?;
            Ok::<(), AppError>(())
        };
        if let Err(e) = write.await {
            return e;
        }
        DomainError::forbidden(f.reason, f.message).into()
    }
}
