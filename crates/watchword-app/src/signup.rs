//! Signing up: the typed email is proven by a link before anything depends on it. A request
//! answers the same whether the address has a login or not; following the link creates the
//! person, their account (as Owner and Security Contact) and a session. A signed-in person adds
//! further accounts with [`App::create_account`].

use crate::events::{self, EventExt};
use crate::gate::SignInProof;
use crate::limits::{
    ACCOUNTS_PER_PERSON, Limit, SIGNUP_MAILS_PER_EMAIL, SIGNUPS_PER_IP, too_many_mails,
};
use crate::mail;
use crate::sessions::{IssuedSession, SessionMode};
use crate::{Actor, App, AppError, Meta};
use watchword_domain::audit::AuditAction;
use watchword_domain::password::{self, Password};
use watchword_domain::token::{hash_token, random_token};
use watchword_domain::*;
use watchword_store::signups::{self, NewSignup};
use watchword_store::{Conn, accounts, members, persons};

/// How long a signup link works.
const SIGNUP_TTL_SECS: i64 = 24 * 3600;

pub struct SignupInput {
    pub account_name: String,
    pub name: String,
    pub email: String,
    pub password: Password,
}

pub struct Signup {
    pub account: AccountId,
    pub person: PersonId,
    pub membership: MembershipId,
    pub session: IssuedSession,
}

impl App {
    /// Asks for a new account. Every well-formed request gets the same answer after the same
    /// work (one Argon2 hash): the address is sent a link when it has no login, or a note that
    /// it has one (log in and add the account from there) — never a session.
    pub async fn request_signup(&self, input: SignupInput, meta: &Meta) -> Result<(), AppError> {
        let account_name = AccountName::parse(&input.account_name)?;
        let name = PersonName::parse(&input.name)?;
        let email = EmailAddress::parse(&input.email)?;
        password::check_policy(&input.password, &email, name.as_str())?;
        let per_ip = Limit {
            max: self.settings().signups_per_ip_per_hour,
            ..SIGNUPS_PER_IP
        };
        self.take_slot(
            &[
                (per_ip, &meta.ip),
                (
                    SIGNUP_MAILS_PER_EMAIL,
                    &hex::encode(hash_token(email.as_str())),
                ),
            ],
            too_many_mails,
        )
        .await?;
        let pw = input.password;
        let password_hash = self.hashing(move |h| h.hash(&pw)).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        match persons::by_email(&mut tx, email.as_str()).await? {
            Some(person) => {
                self.notify(
                    &mut tx,
                    &person,
                    "You already have a watchword login",
                    "Someone asked to sign up to watchword with this address. It has a login already, so no new login was made",
                    "To create another account, log in and choose \"New account\" in the account switcher. If it was not you, nothing changed and you need do nothing.",
                    meta,
                    now,
                )
                .await?;
            }
            None => {
                let token = random_token();
                signups::insert(
                    &mut tx,
                    NewSignup {
                        token_hash: &hash_token(&token),
                        email: email.as_str(),
                        name: name.as_str(),
                        account_name: account_name.as_str(),
                        password_hash: &password_hash,
                    },
                    now,
                    now.plus_secs(SIGNUP_TTL_SECS),
                )
                .await?;
                let link = format!(
                    "{}/signup/confirm?token={token}",
                    self.settings().public_url.trim_end_matches('/')
                );
                let t = mail::SignupLink {
                    name: name.as_str(),
                    link: &link,
                };
                mail::enqueue(&mut tx, None, email.as_str(), &t, now).await?;
            }
        }
        tx.commit().await?;
        self.committed();
        Ok(())
    }

    /// The email and account name a live signup link would create, for its page (None when
    /// unknown, used or expired).
    pub async fn signup_preview(&self, token: &str) -> Result<Option<(String, String)>, AppError> {
        let mut c = self.store().read().await?;
        Ok(signups::peek(&mut c, &hash_token(token), self.now()).await?)
    }

    /// Follows a signup link (once, within a day): creates the person, the account with them as
    /// Owner and Security Contact, and a session.
    pub async fn confirm_signup(
        &self,
        token: &str,
        mode: SessionMode,
        meta: &Meta,
    ) -> Result<Signup, AppError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = signups::spend(&mut tx, &hash_token(token), now)
            .await?
            .ok_or_else(|| {
                AppError::from(DomainError::field(
                    "invalid_signup_token",
                    "token",
                    "this signup link is invalid, used or expired; sign up again",
                ))
            })?;
        let created = self
            .insert_new_person(&mut tx, &row.email, &row.name, &row.password_hash, now)
            .await?;
        let proof = SignInProof::new_person(created);
        let person = proof.person();
        let (account, membership) = self
            .insert_account(
                &mut tx,
                person,
                &row.email,
                &row.account_name,
                meta,
                now,
                true,
            )
            .await?;
        let session = self.open_session(&mut tx, proof, mode, meta, now).await?;
        tx.commit().await?;
        self.committed();
        Ok(Signup {
            account,
            person,
            membership,
            session,
        })
    }

    /// A signed-in person creates a further account, which they own.
    #[tracing::instrument(skip_all, fields(person = %actor.person))]
    pub async fn create_account(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(AccountId, MembershipId), AppError> {
        let account_name = AccountName::parse(name)?;
        self.take_slot(&[(ACCOUNTS_PER_PERSON, &actor.person.to_string())], |l| {
            AppError::RateLimited(
                "too_many_accounts",
                format!("a person creates at most {} accounts a day", l.max),
            )
        })
        .await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let ids = self
            .insert_account(
                &mut tx,
                actor.person,
                &actor.email,
                account_name.as_str(),
                &actor.meta,
                now,
                false,
            )
            .await?;
        tx.commit().await?;
        self.committed();
        Ok(ids)
    }

    /// A new account with `person` as its Owner and default Security Contact, audited.
    #[allow(clippy::too_many_arguments)]
    async fn insert_account(
        &self,
        c: &mut Conn,
        person: PersonId,
        email: &str,
        account_name: &str,
        meta: &Meta,
        now: Millis,
        new_person: bool,
    ) -> Result<(AccountId, MembershipId), AppError> {
        let account = AccountId::new();
        let membership = MembershipId::new();
        accounts::insert(&mut *c, account, account_name, Plan::Free, now).await?;
        members::insert(
            &mut *c,
            members::NewMembership {
                id: membership,
                account,
                person: Some(person),
                email,
                role: RoleRef::Builtin(BuiltinRole::Owner),
                status: MembershipStatus::Active,
                invited_by: None,
            },
            now,
        )
        .await?;
        watchword_store::contacts::set(
            &mut *c,
            account,
            None,
            membership,
            watchword_domain::contact::ContactSource::Default.as_str(),
            None,
            now,
        )
        .await?;
        let event = events::by_person(
            person,
            email,
            meta,
            Some(account),
            AuditAction::AccountCreated,
        )
        .target("account", account)
        .details(serde_json::json!({ "account_name": account_name, "new_person": new_person }));
        watchword_store::audit::append(&mut *c, &event, now).await?;
        Ok((account, membership))
    }
}
