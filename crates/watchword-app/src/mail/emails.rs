//! Every email watchword sends: one struct each, its subject, and its two templates
//! (`templates/NAME.txt` and `templates/NAME.html`, which read the struct's fields by name).
//! Adding an email: a struct here, one `email!` line, two templates.

use watchword_domain::Millis;

/// An email's subject and its plain-text and HTML bodies.
pub trait Email: Sync {
    fn subject(&self) -> String;
    fn bodies(&self) -> Result<(String, String), askama::Error>;
}

/// Derives an email's two bodies from its struct: each template is a view that dereferences to
/// the struct, so `{{ name }}` in a template is the struct's `name`.
macro_rules! email {
    ($ty:ident, $txt:literal, $html:literal, |$e:ident| $subject:expr) => {
        const _: () = {
            use askama::Template;

            #[derive(Template)]
            #[template(path = $txt)]
            struct Text<'e, 'a>(&'e $ty<'a>);
            #[derive(Template)]
            #[template(path = $html)]
            struct Html<'e, 'a>(&'e $ty<'a>);

            impl<'e, 'a> std::ops::Deref for Text<'e, 'a> {
                type Target = $ty<'a>;
                fn deref(&self) -> &$ty<'a> {
                    self.0
                }
            }
            impl<'e, 'a> std::ops::Deref for Html<'e, 'a> {
                type Target = $ty<'a>;
                fn deref(&self) -> &$ty<'a> {
                    self.0
                }
            }

            impl Email for $ty<'_> {
                fn subject(&self) -> String {
                    let $e = self;
                    $subject
                }
                fn bodies(&self) -> Result<(String, String), askama::Error> {
                    Ok((Text(self).render()?, Html(self).render()?))
                }
            }
        };
    };
}

/// To an invited person: who invited them, to which account and role, and the link.
pub struct Invitation<'a> {
    pub inviter: &'a str,
    pub account: &'a str,
    pub role: &'a str,
    pub link: &'a str,
}
email!(
    Invitation,
    "invitation.txt",
    "invitation.html",
    |e| format!("{} invited you to {} on watchword", e.inviter, e.account)
);

/// To the customer's IT admin: the Owner's single-use setup link.
pub struct SetupLink<'a> {
    pub owner: &'a str,
    pub account: &'a str,
    pub link: &'a str,
}
email!(SetupLink, "setup_link.txt", "setup_link.html", |e| format!(
    "Set up single sign-on for {} on watchword",
    e.account
));

/// To a person whose password changed.
pub struct PasswordChanged<'a> {
    pub name: &'a str,
    pub ip: &'a str,
    pub at: Millis,
}
email!(
    PasswordChanged,
    "password_changed.txt",
    "password_changed.html",
    |_e| "Your watchword password was changed".into()
);

/// A change to a person's own security (factors, recovery codes, password reset): what
/// happened and, optionally, what to do about it.
pub struct SecurityNotice<'a> {
    pub name: &'a str,
    pub subject: &'a str,
    pub what: &'a str,
    pub advice: &'a str,
    pub ip: &'a str,
    pub at: Millis,
}
email!(
    SecurityNotice,
    "security_notice.txt",
    "security_notice.html",
    |e| e.subject.to_owned()
);

/// To a credential's maker and the Security Contact: it expires soon.
pub struct CredentialExpiring<'a> {
    pub name: &'a str,
    pub account: &'a str,
    /// What expires, e.g. `the API key "CI" (key_…)`.
    pub what: &'a str,
    pub expires_at: Millis,
    pub days: i64,
    pub rotate_url: &'a str,
}
email!(
    CredentialExpiring,
    "credential_expiring.txt",
    "credential_expiring.html",
    |e| format!("{} in {} expires within {} days", e.what, e.account, e.days)
);

/// The link that resets a forgotten password.
pub struct PasswordReset<'a> {
    pub name: &'a str,
    pub link: &'a str,
}
email!(
    PasswordReset,
    "password_reset.txt",
    "password_reset.html",
    |_e| "Reset your watchword password".into()
);

/// Instead of a reset link, to a person an IdP provisioned: they have no password to reset.
pub struct CompanySignIn<'a> {
    pub name: &'a str,
}
email!(
    CompanySignIn,
    "company_sign_in.txt",
    "company_sign_in.html",
    |_e| "Reset your watchword password".into()
);

/// To the address typed at signup: the link that creates the account.
pub struct SignupLink<'a> {
    pub name: &'a str,
    pub link: &'a str,
}
email!(SignupLink, "signup_link.txt", "signup_link.html", |_e| {
    "Confirm your email to create your watchword account".into()
});

/// To the new address of a requested email change: the link that confirms it.
pub struct EmailChange<'a> {
    pub name: &'a str,
    pub link: &'a str,
}
email!(EmailChange, "email_change.txt", "email_change.html", |_e| {
    "Confirm your new watchword email".into()
});

/// To the previous and the new Security Contact of an account.
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
email!(
    ContactChanged,
    "contact_changed.txt",
    "contact_changed.html",
    |e| format!("The Security Contact of {} changed", e.account)
);

/// To a Security Contact who has not logged in lately: log in or the role lapses.
pub struct ContactWarning<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub window_days: i64,
    pub last_login: Millis,
    pub lapses_at: Millis,
    pub login_url: &'a str,
}
email!(
    ContactWarning,
    "contact_warning.txt",
    "contact_warning.html",
    |e| format!("Log in to stay the Security Contact of {}", e.account)
);

/// To the Security Contact and the key's creator: an API key was exposed.
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
email!(
    KeyExposed,
    "key_exposed.txt",
    "key_exposed.html",
    |e| format!("Action needed: an API key of {} was exposed", e.account)
);

/// To an account's Security Contact: repeated failed sign-ins to one of its members.
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
email!(
    LoginAttempts,
    "login_attempts.txt",
    "login_attempts.html",
    |e| format!("Abnormal login attempts in {}: {}", e.account, e.member)
);

/// To an account's Security Contact: a change that widens who administers the account or
/// weakens its protection.
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
email!(
    AccountActivity,
    "account_activity.txt",
    "account_activity.html",
    |e| format!("Security activity in {}: {}", e.account, e.what)
);

/// To an account's Owners and Admins: an access review is due.
pub struct ReviewDue<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub every_days: i64,
    pub review_url: &'a str,
}
email!(ReviewDue, "review_due.txt", "review_due.html", |e| format!(
    "An access review of {} is due",
    e.account
));

/// To an account's Security Contact: a SAML connection's signing certificate expires soon.
pub struct CertificateExpiring<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub connection: &'a str,
    pub expires_at: Millis,
    pub days: i64,
    pub settings_url: &'a str,
}
email!(
    CertificateExpiring,
    "certificate_expiring.txt",
    "certificate_expiring.html",
    |e| format!(
        "The SAML certificate of \"{}\" in {} expires within {} days",
        e.connection, e.account, e.days
    )
);

/// To a person who signed in from a browser not seen before: when, which, from where, and the
/// "This wasn't me" link.
pub struct NewSignIn<'a> {
    pub name: &'a str,
    pub device: &'a str,
    pub ip: &'a str,
    pub at: Millis,
    pub link: &'a str,
}
email!(NewSignIn, "new_sign_in.txt", "new_sign_in.html", |_e| {
    "New sign-in to watchword".into()
});

/// The operator's security communication to an account's Security Contact, with the contact's
/// personal acknowledgement link.
pub struct AdvisoryEmail<'a> {
    pub name: &'a str,
    pub account: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub link: &'a str,
    pub require_ack: bool,
    pub reminder: bool,
}
email!(AdvisoryEmail, "advisory.txt", "advisory.html", |e| {
    if e.reminder {
        format!("Reminder: {}", e.subject)
    } else {
        e.subject.to_owned()
    }
});

/// A member's report of suspicious activity, to the account's Security Contact and to the
/// operator's security inbox. Attachments are named, not attached (they are read in the
/// console, served as downloads only).
pub struct SecurityReportEmail<'a> {
    pub account: &'a str,
    pub account_id: &'a str,
    pub kind: &'a str,
    pub reporter: &'a str,
    pub at: Millis,
    pub description: &'a str,
    pub sender: Option<&'a str>,
    pub headers: Option<&'a str>,
    pub attachments: &'a [String],
    pub link: &'a str,
}
email!(
    SecurityReportEmail,
    "security_report.txt",
    "security_report.html",
    |e| format!("Suspicious activity reported in {}", e.account)
);
