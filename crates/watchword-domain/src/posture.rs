//! Security posture: how safe an account is, as checks drawn from the seed's advice to Owners
//! and Admins ("Require strong authentication", "Regularly audit user access", "Manage
//! integrations and API keys carefully", "Keep contact information up to date"), each with a
//! weight, and a score from 0 to 100. Every weight and threshold lives in [`RULES`] and the
//! constants below; nothing else decides the score.

use crate::Millis;
use crate::access_review::{INACTIVE_DAYS, REVIEW_EVERY_DAYS, STALE_INVITATION_DAYS};

const DAY_MS: i64 = 86_400_000;

/// A key neither used nor created within this many days is `unused`.
pub const KEY_UNUSED_DAYS: i64 = 90;
/// The rotation period of keys when the account set none.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;
/// More administrators than this is a finding (warning up to [`ADMINS_FAIL`]).
pub const ADMINS_PASS: u32 = 3;
pub const ADMINS_FAIL: u32 = 6;
/// Share of members with MFA under which the check fails (a warning above it, until 100 %).
pub const MFA_FAIL_BELOW: f64 = 0.8;
/// Snapshots are kept this many days.
pub const SNAPSHOT_KEEP_DAYS: i64 = 366;

/// Cutoffs of the checks as instants, for queries that count members and keys.
pub struct Cutoffs {
    pub inactive_before: Millis,
    pub invited_before: Millis,
    pub key_unused_before: Millis,
}

impl Cutoffs {
    pub fn at(now: Millis) -> Cutoffs {
        Cutoffs {
            inactive_before: Millis(now.0 - INACTIVE_DAYS * DAY_MS),
            invited_before: Millis(now.0 - STALE_INVITATION_DAYS * DAY_MS),
            key_unused_before: Millis(now.0 - KEY_UNUSED_DAYS * DAY_MS),
        }
    }
}

/// The day number (days since 1970-01-01, UTC) of an instant: one snapshot per account and day.
pub fn day_of(t: Millis) -> i64 {
    t.0.div_euclid(DAY_MS)
}

/// One check: its code, weight, why it matters (tied to the seed) and the console page that
/// fixes it (appended to `/accounts/{id}`).
pub struct Rule {
    pub code: &'static str,
    pub weight: u32,
    pub title: &'static str,
    pub why: &'static str,
    pub fix: &'static str,
}

pub const RULES: [Rule; 13] = [
    Rule {
        code: "mfa_coverage",
        weight: 20,
        title: "Members with MFA",
        why: "A stolen password alone must not open the account: any form of MFA is better than none.",
        fix: "/access-review",
    },
    Rule {
        code: "phishing_resistant_mfa",
        weight: 5,
        title: "Members with a passkey",
        why: "Passkeys cannot be typed into a look-alike site; codes can be phished.",
        fix: "/access-review",
    },
    Rule {
        code: "mfa_enforced",
        weight: 10,
        title: "MFA required",
        why: "Enforce MFA on the account so nobody can skip it (paid plans have it already).",
        fix: "/settings/security",
    },
    Rule {
        code: "sso",
        weight: 10,
        title: "Single sign-on",
        why: "With an identity provider, leavers lose access in one place; enforce it once it works.",
        fix: "/settings/sso",
    },
    Rule {
        code: "administrators",
        weight: 5,
        title: "Administrators",
        why: "Least privilege: each administrator is one more account an attacker can use to take over.",
        fix: "/members",
    },
    Rule {
        code: "inactive_members",
        weight: 5,
        title: "Inactive members",
        why: "Remove people who no longer need access, such as former employees and contractors.",
        fix: "/access-review",
    },
    Rule {
        code: "stale_invitations",
        weight: 5,
        title: "Stale invitations",
        why: "An old invitation is a way in for whoever finds the email; revoke what nobody accepted.",
        fix: "/members",
    },
    Rule {
        code: "unused_api_keys",
        weight: 5,
        title: "Unused API keys",
        why: "A key nobody uses can only be misused: revoke it.",
        fix: "/api-keys",
    },
    Rule {
        code: "api_key_rotation",
        weight: 5,
        title: "API keys past rotation",
        why: "Rotate keys regularly (clone, switch, revoke) to limit what a leaked key can do.",
        fix: "/api-keys",
    },
    Rule {
        code: "exposed_api_keys",
        weight: 15,
        title: "Exposed API keys still active",
        why: "A key found in public is in an attacker's hands: revoke it now.",
        fix: "/api-keys",
    },
    Rule {
        code: "admin_oauth_apps",
        weight: 5,
        title: "Apps with administrative scopes",
        why: "Limit each integration's access to only the data it needs.",
        fix: "/integrations",
    },
    Rule {
        code: "security_contact",
        weight: 5,
        title: "Security Contact",
        why: "Breach alerts and advisories reach the account only through a current Security Contact.",
        fix: "/settings/security",
    },
    Rule {
        code: "access_review",
        weight: 5,
        title: "Access review",
        why: "Periodically review all users and roles; remove those who no longer need access.",
        fix: "/access-review",
    },
];

/// The Security Contact, as the posture sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactFact {
    /// Eligible, with an address confirmed by a link (every address in watchword is).
    Valid,
    /// Eligible, but lapses soon for want of a sign-in.
    Lapsing,
    /// None, or no longer eligible (the periodic check will revert it).
    Invalid,
}

/// What the checks look at, for one account.
#[derive(Debug, Clone)]
pub struct Facts {
    pub created_at: Millis,
    pub paid: bool,
    pub mfa_required: bool,
    pub sso_connections: u32,
    pub sso_required: bool,
    /// The factor policy requires passkeys of administrators, and its grace period is over.
    pub admin_passkey_enforced: bool,
    /// Active members (membership and person active).
    pub members: u32,
    pub with_mfa: u32,
    pub with_passkey: u32,
    pub admins: u32,
    pub inactive: u32,
    pub stale_invitations: u32,
    /// Live keys (neither revoked nor expired).
    pub keys: u32,
    pub keys_unused: u32,
    pub keys_past_rotation: u32,
    /// Live keys that expire within 14 days.
    pub keys_expiring: u32,
    pub keys_exposed: u32,
    pub admin_apps: u32,
    pub contact: ContactFact,
    pub last_review_at: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pass,
    Warn,
    Fail,
    NotApplicable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pass => "pass",
            State::Warn => "warn",
            State::Fail => "fail",
            State::NotApplicable => "not_applicable",
        }
    }

    /// In words for people.
    pub fn label(self) -> &'static str {
        match self {
            State::Pass => "Passing",
            State::Warn => "Needs attention",
            State::Fail => "Failing",
            State::NotApplicable => "Does not apply",
        }
    }
}

/// One evaluated check: the rule, its state, the share of its weight earned (0–1) and what was
/// found, in words.
pub struct Check {
    pub rule: &'static Rule,
    pub state: State,
    pub earned: f64,
    pub found: String,
}

pub struct Posture {
    pub score: u8,
    pub checks: Vec<Check>,
}

impl Posture {
    /// The codes of the checks that do not pass, comma-separated (what a snapshot keeps).
    pub fn findings(&self) -> String {
        let codes: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| matches!(c.state, State::Warn | State::Fail))
            .map(|c| c.rule.code)
            .collect();
        codes.join(",")
    }
}

fn share(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        1.0
    } else {
        f64::from(part.min(whole)) / f64::from(whole)
    }
}

fn of(part: u32, whole: u32, what: &str) -> String {
    format!("{part} of {whole} {}", noun(whole.into(), what))
}

/// `what` (a plural phrase such as "members without MFA") for a count of `n`: its first word
/// singular when `n` is 1.
fn noun(n: i64, what: &str) -> String {
    match what.split_once(' ') {
        _ if n != 1 => what.to_owned(),
        Some((first, rest)) => format!("{} {rest}", first.strip_suffix('s').unwrap_or(first)),
        None => what.strip_suffix('s').unwrap_or(what).to_owned(),
    }
}

/// A count that should be zero: pass at zero, else `bad` with the healthy share earned.
fn none_of(count: u32, whole: u32, bad: State, what: &str) -> (State, f64, String) {
    if count == 0 {
        (
            State::Pass,
            1.0,
            format!("none of {whole} {}", noun(whole.into(), what)),
        )
    } else {
        (bad, 1.0 - share(count, whole), of(count, whole, what))
    }
}

/// Evaluates every rule of [`RULES`] over `f` as of `now`.
pub fn evaluate(f: &Facts, now: Millis) -> Posture {
    let mut checks = Vec::with_capacity(RULES.len());
    let mut total = 0.0;
    let mut earned = 0.0;
    for rule in &RULES {
        let (state, got, found) = judge(rule.code, f, now);
        if state != State::NotApplicable {
            total += f64::from(rule.weight);
            earned += f64::from(rule.weight) * got;
        }
        checks.push(Check {
            rule,
            state,
            earned: got,
            found,
        });
    }
    let score = if total == 0.0 {
        100
    } else {
        (100.0 * earned / total).round() as u8
    };
    Posture { score, checks }
}

fn judge(code: &str, f: &Facts, now: Millis) -> (State, f64, String) {
    match code {
        "mfa_coverage" => {
            let s = share(f.with_mfa, f.members);
            let state = if f.with_mfa >= f.members {
                State::Pass
            } else if s >= MFA_FAIL_BELOW {
                State::Warn
            } else {
                State::Fail
            };
            (state, s, of(f.with_mfa, f.members, "members"))
        }
        "phishing_resistant_mfa" => {
            let state = if f.with_passkey >= f.members {
                State::Pass
            } else if f.with_passkey > 0 || f.admin_passkey_enforced {
                State::Warn
            } else {
                State::Fail
            };
            let got = share(f.with_passkey, f.members);
            let mut found = of(f.with_passkey, f.members, "members");
            if f.admin_passkey_enforced {
                found.push_str("; administrators must sign in with a passkey");
            }
            (state, got, found)
        }
        "mfa_enforced" => {
            if f.mfa_required || f.paid {
                let how = if f.paid {
                    "required by the plan"
                } else {
                    "required"
                };
                (State::Pass, 1.0, how.to_owned())
            } else {
                (State::Fail, 0.0, "not required".to_owned())
            }
        }
        "sso" => match (f.paid, f.sso_connections, f.sso_required) {
            (false, _, _) => (
                State::NotApplicable,
                0.0,
                "available on paid plans".to_owned(),
            ),
            (true, 0, _) => (State::Fail, 0.0, "no connection enabled".to_owned()),
            (true, _, false) => (State::Warn, 0.5, "enabled, not enforced".to_owned()),
            (true, _, true) => (State::Pass, 1.0, "enabled and enforced".to_owned()),
        },
        "administrators" => {
            let (state, got) = if f.admins <= ADMINS_PASS {
                (State::Pass, 1.0)
            } else if f.admins <= ADMINS_FAIL {
                (State::Warn, 0.5)
            } else {
                (State::Fail, 0.0)
            };
            (
                state,
                got,
                format!("{} {}", f.admins, noun(f.admins.into(), "administrators")),
            )
        }
        "inactive_members" => none_of(f.inactive, f.members, State::Warn, "members"),
        "stale_invitations" => {
            if f.stale_invitations == 0 {
                (State::Pass, 1.0, "none".to_owned())
            } else {
                let n = f.stale_invitations;
                (
                    State::Warn,
                    0.0,
                    format!("{n} open for {STALE_INVITATION_DAYS}+ days"),
                )
            }
        }
        "unused_api_keys" => none_of(f.keys_unused, f.keys, State::Warn, "keys"),
        "api_key_rotation" => {
            let (state, got, mut found) =
                none_of(f.keys_past_rotation, f.keys, State::Warn, "keys");
            if f.keys_expiring > 0 {
                found.push_str(&format!("; {} expire within 14 days", f.keys_expiring));
            }
            (state, got, found)
        }
        "exposed_api_keys" => {
            let (state, _, found) = none_of(f.keys_exposed, f.keys, State::Fail, "keys");
            (state, if state == State::Pass { 1.0 } else { 0.0 }, found)
        }
        "admin_oauth_apps" => {
            if f.admin_apps == 0 {
                (State::Pass, 1.0, "none".to_owned())
            } else {
                (State::Warn, 0.5, format!("{} installed", f.admin_apps))
            }
        }
        "security_contact" => match f.contact {
            ContactFact::Valid => (State::Pass, 1.0, "valid and verified".to_owned()),
            ContactFact::Lapsing => (State::Warn, 0.5, "lapses soon without a sign-in".to_owned()),
            ContactFact::Invalid => (State::Fail, 0.0, "missing or not eligible".to_owned()),
        },
        "access_review" => {
            let since = f.last_review_at.unwrap_or(f.created_at);
            let days = (now.0 - since.0).max(0) / DAY_MS;
            let found = match f.last_review_at {
                Some(_) => format!("last completed {days} {} ago", noun(days, "days")),
                None => "never completed".to_owned(),
            };
            if days < REVIEW_EVERY_DAYS {
                (State::Pass, 1.0, found)
            } else if days < 2 * REVIEW_EVERY_DAYS {
                (State::Warn, 0.5, found)
            } else {
                (State::Fail, 0.0, found)
            }
        }
        _ => (State::NotApplicable, 0.0, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = Millis(1_000 * DAY_MS);

    fn healthy() -> Facts {
        Facts {
            created_at: Millis(NOW.0 - 10 * DAY_MS),
            paid: true,
            mfa_required: true,
            sso_connections: 1,
            sso_required: true,
            admin_passkey_enforced: false,
            members: 10,
            with_mfa: 10,
            with_passkey: 10,
            admins: 2,
            inactive: 0,
            stale_invitations: 0,
            keys: 4,
            keys_unused: 0,
            keys_past_rotation: 0,
            keys_expiring: 0,
            keys_exposed: 0,
            admin_apps: 0,
            contact: ContactFact::Valid,
            last_review_at: Some(Millis(NOW.0 - DAY_MS)),
        }
    }

    fn state(p: &Posture, code: &str) -> State {
        p.checks.iter().find(|c| c.rule.code == code).unwrap().state
    }

    #[test]
    fn counts_read_right() {
        assert_eq!(of(1, 1, "members without MFA"), "1 of 1 member without MFA");
        assert_eq!(
            of(1, 3, "members without MFA"),
            "1 of 3 members without MFA"
        );
        assert_eq!(noun(1, "administrators"), "administrator");
        assert_eq!(noun(0, "days"), "days");
    }

    #[test]
    fn weights_sum_to_a_hundred_and_codes_are_unique() {
        assert_eq!(RULES.iter().map(|r| r.weight).sum::<u32>(), 100);
        let mut codes: Vec<&str> = RULES.iter().map(|r| r.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), RULES.len());
    }

    #[test]
    fn a_healthy_account_scores_a_hundred() {
        let p = evaluate(&healthy(), NOW);
        assert_eq!(p.score, 100);
        assert!(p.checks.iter().all(|c| c.state == State::Pass));
        assert_eq!(p.findings(), "");
    }

    #[test]
    fn each_finding_costs_its_weight() {
        let mut f = healthy();
        f.keys_exposed = 1;
        let p = evaluate(&f, NOW);
        assert_eq!(state(&p, "exposed_api_keys"), State::Fail);
        assert_eq!(p.score, 85);
        assert_eq!(p.findings(), "exposed_api_keys");

        let mut f = healthy();
        f.with_mfa = 5;
        let p = evaluate(&f, NOW);
        assert_eq!(state(&p, "mfa_coverage"), State::Fail);
        assert_eq!(p.score, 90); // half of 20

        let mut f = healthy();
        f.with_mfa = 9;
        assert_eq!(state(&evaluate(&f, NOW), "mfa_coverage"), State::Warn);
    }

    #[test]
    fn sso_does_not_count_on_the_free_plan() {
        let mut f = healthy();
        f.paid = false;
        f.sso_connections = 0;
        let p = evaluate(&f, NOW);
        assert_eq!(state(&p, "sso"), State::NotApplicable);
        assert_eq!(p.score, 100);
        f.paid = true;
        assert_eq!(state(&evaluate(&f, NOW), "sso"), State::Fail);
        f.sso_connections = 1;
        f.sso_required = false;
        assert_eq!(state(&evaluate(&f, NOW), "sso"), State::Warn);
    }

    #[test]
    fn mfa_enforcement_comes_with_the_paid_plan() {
        let mut f = healthy();
        f.mfa_required = false;
        assert_eq!(state(&evaluate(&f, NOW), "mfa_enforced"), State::Pass);
        f.paid = false;
        assert_eq!(state(&evaluate(&f, NOW), "mfa_enforced"), State::Fail);
    }

    #[test]
    fn too_many_administrators_is_a_finding() {
        let mut f = healthy();
        f.admins = ADMINS_PASS;
        assert_eq!(state(&evaluate(&f, NOW), "administrators"), State::Pass);
        f.admins = ADMINS_PASS + 1;
        assert_eq!(state(&evaluate(&f, NOW), "administrators"), State::Warn);
        f.admins = ADMINS_FAIL + 1;
        assert_eq!(state(&evaluate(&f, NOW), "administrators"), State::Fail);
    }

    #[test]
    fn the_review_ages() {
        let mut f = healthy();
        f.last_review_at = Some(Millis(NOW.0 - REVIEW_EVERY_DAYS * DAY_MS));
        assert_eq!(state(&evaluate(&f, NOW), "access_review"), State::Warn);
        f.last_review_at = None;
        f.created_at = Millis(NOW.0 - 2 * REVIEW_EVERY_DAYS * DAY_MS);
        assert_eq!(state(&evaluate(&f, NOW), "access_review"), State::Fail);
        f.created_at = Millis(NOW.0 - DAY_MS);
        assert_eq!(state(&evaluate(&f, NOW), "access_review"), State::Pass);
    }

    #[test]
    fn an_empty_account_has_no_division_by_zero() {
        let mut f = healthy();
        f.members = 0;
        f.with_mfa = 0;
        f.with_passkey = 0;
        f.keys = 0;
        let p = evaluate(&f, NOW);
        assert_eq!(p.score, 100);
    }

    #[test]
    fn an_enforced_passkey_policy_lifts_the_passkey_check_from_fail() {
        let mut f = healthy();
        f.with_passkey = 0;
        assert_eq!(
            state(&evaluate(&f, NOW), "phishing_resistant_mfa"),
            State::Fail
        );
        f.admin_passkey_enforced = true;
        let p = evaluate(&f, NOW);
        assert_eq!(state(&p, "phishing_resistant_mfa"), State::Warn);
        let c = p
            .checks
            .iter()
            .find(|c| c.rule.code == "phishing_resistant_mfa")
            .unwrap();
        assert!(
            c.found
                .contains("administrators must sign in with a passkey")
        );
    }

    #[test]
    fn days_are_utc() {
        assert_eq!(day_of(Millis(0)), 0);
        assert_eq!(day_of(Millis(DAY_MS - 1)), 0);
        assert_eq!(day_of(Millis(DAY_MS)), 1);
    }
}
