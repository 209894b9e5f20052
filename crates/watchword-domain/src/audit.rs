//! The audit log's closed vocabulary: every action an event can record, listed once. Its text
//! form (`member.role_changed`) appears only where events are stored and shown.

macro_rules! actions {
    ($($variant:ident = $text:literal,)*) => {
        /// What an audit event records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            /// Every action, in the order listed.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.as_str() == s)
            }
        }
    };
}

actions! {
    AccessReviewCompleted = "access_review.completed",
    AccountCreated = "account.created",
    AccountPlanChanged = "account.plan_changed",
    AccountSettingsChanged = "account.settings_changed",
    AdvisoryAcknowledged = "advisory.acknowledged",
    ApiKeyCloned = "api_key.cloned",
    ApiKeyCreated = "api_key.created",
    ApiKeyDenied = "api_key.denied",
    ApiKeyExpired = "api_key.expired",
    ApiKeyExposed = "api_key.exposed",
    CredentialsStopped = "member.credentials_stopped",
    CredentialsTransferred = "member.credentials_transferred",
    ApiKeyRevoked = "api_key.revoked",
    ApiKeyRotated = "api_key.rotated",
    AuditStreamCreated = "audit_stream.created",
    AuditStreamDeleted = "audit_stream.deleted",
    AuditStreamPaused = "audit_stream.paused",
    DeviceForgotten = "device.forgotten",
    InvitationAccepted = "invitation.accepted",
    LoginAbnormalAttempts = "login.abnormal_attempts",
    LoginFailed = "login.failed",
    LoginSucceeded = "login.succeeded",
    Logout = "logout",
    MemberDeactivated = "member.deactivated",
    MemberInvited = "member.invited",
    MemberReactivated = "member.reactivated",
    MemberRemoved = "member.removed",
    MemberRoleChanged = "member.role_changed",
    MfaCodeFailed = "mfa.code_failed",
    MfaFactorAdded = "mfa.factor_added",
    MfaFactorRemoved = "mfa.factor_removed",
    MfaKeysRotated = "mfa.keys_rotated",
    MfaRecoveryCodeUsed = "mfa.recovery_code_used",
    MfaRecoveryCodesRegenerated = "mfa.recovery_codes_regenerated",
    OauthAppCreated = "oauth.app_created",
    OauthAppDeleted = "oauth.app_deleted",
    OauthAppSecretRotated = "oauth.app_secret_rotated",
    OauthAppUpdated = "oauth.app_updated",
    OauthAuthorized = "oauth.authorized",
    OauthRefreshTokenReused = "oauth.refresh_token_reused",
    OauthRevoked = "oauth.revoked",
    OauthTokenDenied = "oauth.token_denied",
    OwnershipTransferred = "ownership.transferred",
    PasswordChanged = "password.changed",
    PasswordReset = "password.reset",
    PasswordResetRequested = "password.reset_requested",
    PersonEmailChangeRequested = "person.email_change_requested",
    PersonEmailChanged = "person.email_changed",
    RoleCreated = "role.created",
    SecurityContactChanged = "security_contact.changed",
    SecurityReportSubmitted = "security_report.submitted",
    SecurityReportUpdated = "security_report.updated",
    SecurityUnrecognisedSignInReported = "security.unrecognised_sign_in_reported",
    SessionLoggedOutEverywhere = "session.logged_out_everywhere",
    SessionReauthenticated = "session.reauthenticated",
    SessionRevoked = "session.revoked",
    SessionRevokedOthers = "session.revoked_others",
    SsoCertificateExpiring = "sso.certificate_expiring",
    SsoConnectionCreated = "sso.connection_created",
    SsoConnectionDeleted = "sso.connection_deleted",
    SsoConnectionUpdated = "sso.connection_updated",
    SsoDomainAdded = "sso.domain_added",
    SsoDomainCheckFailed = "sso.domain_check_failed",
    SsoDomainChecked = "sso.domain_checked",
    SsoDomainRemoved = "sso.domain_removed",
    SsoDomainUnverified = "sso.domain_unverified",
    SsoDomainVerified = "sso.domain_verified",
    SsoEnforcementChanged = "sso.enforcement_changed",
    SsoIdentityLinked = "sso.identity_linked",
    SsoLogin = "sso.login",
    SsoLoginFailed = "sso.login_failed",
    SsoMemberProvisioned = "sso.member_provisioned",
    StaffGranted = "staff.granted",
    StaffRevoked = "staff.revoked",
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn each_action_has_its_own_text_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()), "{} twice", a.as_str());
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
        assert_eq!(AuditAction::parse("no.such"), None);
    }
}
