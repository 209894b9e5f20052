//! Access reviews (seed 000: "periodically review all users and roles; remove users who no
//! longer need access; least privilege"): what to look at in each membership, and when a review
//! is due.

use crate::role::MembershipStatus;
use crate::{Millis, PermissionSet};

/// A member who has not logged in for this long is flagged `inactive`.
pub const INACTIVE_DAYS: i64 = 90;
/// An invitation open this long is flagged `stale_invitation`.
pub const STALE_INVITATION_DAYS: i64 = 14;
/// A review is due when none was completed within this many days.
pub const REVIEW_EVERY_DAYS: i64 = 90;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What a reviewer should look at in one membership, as stable flag names.
pub struct Facts {
    pub status: MembershipStatus,
    pub invited_at: Millis,
    pub last_login_at: Option<Millis>,
    pub has_mfa: bool,
    pub permissions: PermissionSet,
    pub staff: bool,
}

pub fn flags(now: Millis, f: &Facts) -> Vec<&'static str> {
    let mut out = Vec::new();
    match f.status {
        MembershipStatus::Invited => {
            if now.0 - f.invited_at.0 >= STALE_INVITATION_DAYS * DAY_MS {
                out.push("stale_invitation");
            }
            return out;
        }
        MembershipStatus::Deactivated => {
            out.push("deactivated");
            return out;
        }
        MembershipStatus::Active => {}
    }
    if f.last_login_at
        .is_none_or(|t| now.0 - t.0 >= INACTIVE_DAYS * DAY_MS)
    {
        out.push("inactive");
    }
    if !f.has_mfa {
        out.push("no_mfa");
    }
    if f.permissions.iter().any(|p| p.administers()) {
        out.push("administrator");
    }
    if f.staff {
        out.push("operator_staff");
    }
    out
}

/// Whether a review is due: none completed within [`REVIEW_EVERY_DAYS`] (counted from the
/// account's creation when there was never one).
pub fn due(now: Millis, last_review: Option<Millis>, account_created: Millis) -> bool {
    now.0 - last_review.unwrap_or(account_created).0 >= REVIEW_EVERY_DAYS * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::Permission;

    fn facts() -> Facts {
        Facts {
            status: MembershipStatus::Active,
            invited_at: Millis(0),
            last_login_at: Some(Millis(100 * DAY_MS)),
            has_mfa: true,
            permissions: PermissionSet::from_iter([Permission::CampaignsWrite]),
            staff: false,
        }
    }

    #[test]
    fn flags_name_what_to_look_at() {
        let now = Millis(100 * DAY_MS);
        assert!(flags(now, &facts()).is_empty());
        let old = Facts {
            last_login_at: Some(Millis(10 * DAY_MS)),
            has_mfa: false,
            permissions: PermissionSet::from_iter([Permission::UsersManage]),
            staff: true,
            ..facts()
        };
        assert_eq!(
            flags(now, &old),
            vec!["inactive", "no_mfa", "administrator", "operator_staff"]
        );
        let never = Facts {
            last_login_at: None,
            ..facts()
        };
        assert_eq!(flags(now, &never), vec!["inactive"]);
        let just_under = Facts {
            last_login_at: Some(Millis(10 * DAY_MS + 1)),
            ..facts()
        };
        assert!(flags(now, &just_under).is_empty());
        let invited = Facts {
            status: MembershipStatus::Invited,
            invited_at: Millis(now.0 - STALE_INVITATION_DAYS * DAY_MS),
            ..facts()
        };
        assert_eq!(flags(now, &invited), vec!["stale_invitation"]);
        let fresh = Facts {
            status: MembershipStatus::Invited,
            invited_at: Millis(now.0 - 1),
            ..facts()
        };
        assert!(flags(now, &fresh).is_empty());
        let off = Facts {
            status: MembershipStatus::Deactivated,
            ..facts()
        };
        assert_eq!(flags(now, &off), vec!["deactivated"]);
    }

    #[test]
    fn a_review_is_due_every_ninety_days() {
        let created = Millis(0);
        assert!(!due(Millis(89 * DAY_MS), None, created));
        assert!(due(Millis(90 * DAY_MS), None, created));
        assert!(!due(
            Millis(170 * DAY_MS),
            Some(Millis(90 * DAY_MS)),
            created
        ));
        assert!(due(
            Millis(180 * DAY_MS),
            Some(Millis(90 * DAY_MS)),
            created
        ));
    }
}
