//! Outbound email: templates (plain text + HTML), the outbox they are written to inside the
//! change's transaction, and delivery by SMTP or to `.eml` files (the dispatcher is `outbox`).

use crate::AppError;
use askama::Template as _;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;
use watchword_domain::{AccountId, MessageId, Millis};
use watchword_store::Conn;
use watchword_store::outbox;

/// Every email watchword sends.
pub enum Template<'a> {
    Invitation {
        inviter: &'a str,
        account: &'a str,
        role: &'a str,
        link: &'a str,
    },
    PasswordChanged {
        name: &'a str,
        ip: &'a str,
        at: Millis,
    },
    /// A change to a person's own security (factors, recovery codes, password reset): what
    /// happened and, optionally, what to do about it.
    SecurityNotice {
        name: &'a str,
        subject: &'a str,
        what: &'a str,
        advice: &'a str,
        ip: &'a str,
        at: Millis,
    },
    PasswordReset {
        name: &'a str,
        link: &'a str,
    },
    /// To the address typed at signup: the link that creates the account.
    SignupLink {
        name: &'a str,
        link: &'a str,
    },
    /// To the new address of a requested email change: the link that confirms it.
    EmailChange {
        name: &'a str,
        link: &'a str,
    },
    ContactChanged(&'a ContactChanged<'a>),
    ContactWarning {
        name: &'a str,
        account: &'a str,
        window_days: i64,
        last_login: Millis,
        lapses_at: Millis,
        login_url: &'a str,
    },
    KeyExposed(&'a KeyExposed<'a>),
    /// To an account's Security Contact: repeated failed sign-ins to one of its members.
    LoginAttempts(&'a LoginAttempts<'a>),
    /// To an account's Security Contact: a change that widens who administers the account or
    /// weakens its protection.
    AccountActivity(&'a AccountActivity<'a>),
    /// To an account's Owners and Admins: an access review is due.
    ReviewDue {
        name: &'a str,
        account: &'a str,
        every_days: i64,
        review_url: &'a str,
    },
}

/// What the Security Contact's alert about a change in the account says.
pub struct AccountActivity<'a> {
    pub name: &'a str,
    pub account: &'a str,
    /// What happened, as a sentence without its final stop.
    pub what: &'a str,
    /// Who did it (name and email).
    pub actor: &'a str,
    pub ip: &'a str,
    pub at: Millis,
    pub audit_url: &'a str,
}

/// What the Security Contact's alert about abnormal login attempts says.
pub struct LoginAttempts<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub member: &'a str,
    pub failures: i64,
    pub window_minutes: i64,
    pub ip: &'a str,
    pub at: Millis,
    pub audit_url: &'a str,
}

/// What the email about an exposed API key says.
pub struct KeyExposed<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub key_name: &'a str,
    pub key_id: &'a str,
    pub url: &'a str,
    pub source: &'a str,
    pub revoked: bool,
    pub keys_url: &'a str,
}

/// What the two emails of a Security Contact change say.
pub struct ContactChanged<'a> {
    pub account: &'a str,
    pub new_name: &'a str,
    pub new_email: &'a str,
    pub previous: Option<String>,
    /// A person's name and email, or "automatic check".
    pub actor: String,
    pub at: Millis,
    pub reason: Option<String>,
    pub review_url: String,
}

mod views {
    use askama::Template;

    #[derive(Template)]
    #[template(path = "invitation.txt")]
    pub struct InvitationTxt<'a> {
        pub inviter: &'a str,
        pub account: &'a str,
        pub role: &'a str,
        pub link: &'a str,
    }
    #[derive(Template)]
    #[template(path = "invitation.html")]
    pub struct InvitationHtml<'a> {
        pub inviter: &'a str,
        pub account: &'a str,
        pub role: &'a str,
        pub link: &'a str,
    }
    #[derive(Template)]
    #[template(path = "password_changed.txt")]
    pub struct PasswordChangedTxt<'a> {
        pub name: &'a str,
        pub ip: &'a str,
        pub at: String,
    }
    #[derive(Template)]
    #[template(path = "password_changed.html")]
    pub struct PasswordChangedHtml<'a> {
        pub name: &'a str,
        pub ip: &'a str,
        pub at: String,
    }

    macro_rules! security_notice {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub what: &'a str,
                pub advice: &'a str,
                pub ip: &'a str,
                pub at: String,
            }
        };
    }
    security_notice!(SecurityNoticeTxt, "security_notice.txt");
    security_notice!(SecurityNoticeHtml, "security_notice.html");

    macro_rules! password_reset {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub link: &'a str,
            }
        };
    }
    password_reset!(PasswordResetTxt, "password_reset.txt");
    password_reset!(PasswordResetHtml, "password_reset.html");
    password_reset!(EmailChangeTxt, "email_change.txt");
    password_reset!(SignupLinkTxt, "signup_link.txt");
    password_reset!(SignupLinkHtml, "signup_link.html");
    password_reset!(EmailChangeHtml, "email_change.html");

    macro_rules! contact_changed {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub account: &'a str,
                pub new_name: &'a str,
                pub new_email: &'a str,
                pub previous: &'a Option<String>,
                pub actor: &'a str,
                pub at: String,
                pub reason: &'a Option<String>,
                pub review_url: &'a str,
            }
        };
    }
    contact_changed!(ContactChangedTxt, "contact_changed.txt");
    contact_changed!(ContactChangedHtml, "contact_changed.html");

    macro_rules! contact_warning {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub account: &'a str,
                pub window_days: i64,
                pub last_login: String,
                pub lapses_at: String,
                pub login_url: &'a str,
            }
        };
    }
    contact_warning!(ContactWarningTxt, "contact_warning.txt");
    contact_warning!(ContactWarningHtml, "contact_warning.html");

    macro_rules! key_exposed {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub account: &'a str,
                pub key_name: &'a str,
                pub key_id: &'a str,
                pub url: &'a str,
                pub source: &'a str,
                pub revoked: bool,
                pub keys_url: &'a str,
            }
        };
    }
    key_exposed!(KeyExposedTxt, "key_exposed.txt");
    key_exposed!(KeyExposedHtml, "key_exposed.html");

    macro_rules! login_attempts {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub account: &'a str,
                pub member: &'a str,
                pub failures: i64,
                pub window_minutes: i64,
                pub ip: &'a str,
                pub at: String,
                pub audit_url: &'a str,
            }
        };
    }
    login_attempts!(LoginAttemptsTxt, "login_attempts.txt");
    login_attempts!(LoginAttemptsHtml, "login_attempts.html");

    macro_rules! account_activity {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub account: &'a str,
                pub what: &'a str,
                pub actor: &'a str,
                pub ip: &'a str,
                pub at: String,
                pub audit_url: &'a str,
            }
        };
    }
    account_activity!(AccountActivityTxt, "account_activity.txt");
    account_activity!(AccountActivityHtml, "account_activity.html");

    macro_rules! review_due {
        ($name:ident, $path:literal) => {
            #[derive(Template)]
            #[template(path = $path)]
            pub struct $name<'a> {
                pub name: &'a str,
                pub account: &'a str,
                pub every_days: i64,
                pub review_url: &'a str,
            }
        };
    }
    review_due!(ReviewDueTxt, "review_due.txt");
    review_due!(ReviewDueHtml, "review_due.html");
}

impl Template<'_> {
    /// Subject, plain text and HTML.
    fn render(&self) -> Result<(String, String, String), askama::Error> {
        use views::*;
        Ok(match *self {
            Template::Invitation {
                inviter,
                account,
                role,
                link,
            } => (
                format!("{inviter} invited you to {account} on watchword"),
                InvitationTxt {
                    inviter,
                    account,
                    role,
                    link,
                }
                .render()?,
                InvitationHtml {
                    inviter,
                    account,
                    role,
                    link,
                }
                .render()?,
            ),
            Template::PasswordChanged { name, ip, at } => (
                "Your watchword password was changed".into(),
                PasswordChangedTxt {
                    name,
                    ip,
                    at: at.rfc3339(),
                }
                .render()?,
                PasswordChangedHtml {
                    name,
                    ip,
                    at: at.rfc3339(),
                }
                .render()?,
            ),
            Template::SecurityNotice {
                name,
                subject,
                what,
                advice,
                ip,
                at,
            } => {
                let at = at.rfc3339();
                (
                    (*subject).to_owned(),
                    SecurityNoticeTxt {
                        name,
                        what,
                        advice,
                        ip,
                        at: at.clone(),
                    }
                    .render()?,
                    SecurityNoticeHtml {
                        name,
                        what,
                        advice,
                        ip,
                        at,
                    }
                    .render()?,
                )
            }
            Template::PasswordReset { name, link } => (
                "Reset your watchword password".into(),
                PasswordResetTxt { name, link }.render()?,
                PasswordResetHtml { name, link }.render()?,
            ),
            Template::SignupLink { name, link } => (
                "Confirm your email to create your watchword account".into(),
                SignupLinkTxt { name, link }.render()?,
                SignupLinkHtml { name, link }.render()?,
            ),
            Template::EmailChange { name, link } => (
                "Confirm your new watchword email".into(),
                EmailChangeTxt { name, link }.render()?,
                EmailChangeHtml { name, link }.render()?,
            ),
            Template::ContactChanged(c) => {
                let (previous, reason) = (&c.previous, &c.reason);
                let txt = ContactChangedTxt {
                    account: c.account,
                    new_name: c.new_name,
                    new_email: c.new_email,
                    previous,
                    actor: &c.actor,
                    at: c.at.rfc3339(),
                    reason,
                    review_url: &c.review_url,
                };
                let html = ContactChangedHtml {
                    account: c.account,
                    new_name: c.new_name,
                    new_email: c.new_email,
                    previous,
                    actor: &c.actor,
                    at: c.at.rfc3339(),
                    reason,
                    review_url: &c.review_url,
                };
                (
                    format!("The Security Contact of {} changed", c.account),
                    txt.render()?,
                    html.render()?,
                )
            }
            Template::ContactWarning {
                name,
                account,
                window_days,
                last_login,
                lapses_at,
                login_url,
            } => {
                let (last_login, lapses_at) = (last_login.rfc3339(), lapses_at.rfc3339());
                let txt = ContactWarningTxt {
                    name,
                    account,
                    window_days,
                    last_login: last_login.clone(),
                    lapses_at: lapses_at.clone(),
                    login_url,
                };
                let html = ContactWarningHtml {
                    name,
                    account,
                    window_days,
                    last_login,
                    lapses_at,
                    login_url,
                };
                (
                    format!("Log in to stay the Security Contact of {account}"),
                    txt.render()?,
                    html.render()?,
                )
            }
            Template::KeyExposed(k) => {
                macro_rules! view {
                    ($t:ident) => {
                        $t {
                            name: k.name,
                            account: k.account,
                            key_name: k.key_name,
                            key_id: k.key_id,
                            url: k.url,
                            source: k.source,
                            revoked: k.revoked,
                            keys_url: k.keys_url,
                        }
                    };
                }
                (
                    format!("Action needed: an API key of {} was exposed", k.account),
                    view!(KeyExposedTxt).render()?,
                    view!(KeyExposedHtml).render()?,
                )
            }
            Template::LoginAttempts(l) => {
                macro_rules! view {
                    ($t:ident) => {
                        $t {
                            name: l.name,
                            account: l.account,
                            member: l.member,
                            failures: l.failures,
                            window_minutes: l.window_minutes,
                            ip: l.ip,
                            at: l.at.rfc3339(),
                            audit_url: l.audit_url,
                        }
                    };
                }
                (
                    format!("Abnormal login attempts in {}: {}", l.account, l.member),
                    view!(LoginAttemptsTxt).render()?,
                    view!(LoginAttemptsHtml).render()?,
                )
            }
            Template::AccountActivity(a) => {
                macro_rules! view {
                    ($t:ident) => {
                        $t {
                            name: a.name,
                            account: a.account,
                            what: a.what,
                            actor: a.actor,
                            ip: a.ip,
                            at: a.at.rfc3339(),
                            audit_url: a.audit_url,
                        }
                    };
                }
                (
                    format!("Security activity in {}: {}", a.account, a.what),
                    view!(AccountActivityTxt).render()?,
                    view!(AccountActivityHtml).render()?,
                )
            }
            Template::ReviewDue {
                name,
                account,
                every_days,
                review_url,
            } => {
                macro_rules! view {
                    ($t:ident) => {
                        $t {
                            name,
                            account,
                            every_days,
                            review_url,
                        }
                    };
                }
                (
                    format!("An access review of {account} is due"),
                    view!(ReviewDueTxt).render()?,
                    view!(ReviewDueHtml).render()?,
                )
            }
        })
    }
}

/// Writes an email to the outbox on the caller's transaction.
pub(crate) async fn enqueue(
    c: &mut Conn,
    account: Option<AccountId>,
    to: &str,
    t: &Template<'_>,
    now: Millis,
) -> Result<(), AppError> {
    let (subject, body_text, body_html) = t
        .render()
        .map_err(|e| AppError::internal(format!("template: {e}")))?;
    let m = outbox::Message {
        id: MessageId::new(),
        account,
        channel: "email",
        recipient: to.to_owned(),
        subject,
        body_text,
        body_html,
        attempts: 0,
    };
    outbox::enqueue(c, &m, now).await?;
    Ok(())
}

/// Where delivered mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// The embedded default: one `.eml` file per message in this directory.
    Files { dir: PathBuf, from: Mailbox },
}

impl Mailer {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS) or `smtps://host:port`.
    pub fn smtp(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        Ok(Mailer::Smtp {
            transport,
            from: parse_from(from)?,
        })
    }

    pub fn files(dir: PathBuf, from: &str) -> Result<Self, String> {
        Ok(Mailer::Files {
            dir,
            from: parse_from(from)?,
        })
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Files { from, .. } => from,
        }
    }

    pub(crate) async fn deliver(&self, m: &outbox::Message) -> Result<(), String> {
        let to: Mailbox = m
            .recipient
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let email = Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(&m.subject)
            .message_id(Some(format!("<{}@watchword>", m.id)))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(
                m.body_text.clone(),
                m.body_html.clone(),
            ))
            .map_err(|e| format!("cannot build message: {e}"))?;
        match self {
            Mailer::Smtp { transport, .. } => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("smtp: {e}")),
            Mailer::Files { dir, .. } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("mail dir: {e}"))?;
                let path = dir.join(format!("{}.eml", m.id));
                tokio::fs::write(&path, email.formatted())
                    .await
                    .map_err(|e| format!("write {}: {e}", path.display()))?;
                // Development delivery: the message's first link is printed too, so a signup
                // or reset works from the log alone (the file holds it in clear anyway).
                let link = m
                    .body_text
                    .split_whitespace()
                    .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                    .unwrap_or_default();
                tracing::info!(to = %m.recipient, subject = %m.subject, file = %path.display(), link, "email written to file");
                Ok(())
            }
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, String> {
    from.parse()
        .map_err(|e| format!("invalid sender address {from:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_html_but_not_text() {
        let t = Template::Invitation {
            inviter: "<b>Eve</b>",
            account: "Acme",
            role: "Admin",
            link: "http://x/?token=a",
        };
        let (subject, text, html) = t.render().unwrap();
        assert!(subject.contains("<b>Eve</b>"));
        assert!(text.contains("<b>Eve</b> invited you"));
        assert!(
            html.contains("&#60;b&#62;Eve") || html.contains("&lt;b&gt;Eve"),
            "{html}"
        );
        assert!(text.contains("never ask you for your password"));
    }
}
