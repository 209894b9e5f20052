//! The audit log's closed vocabulary: every action an event can record, listed once. Its text
//! form (`member.role_changed`) appears only where events are stored and shown.

macro_rules! actions {
    ($($variant:ident = $text:literal : $label:literal,)*) => {
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

            /// What it is called in words for people (the console's audit log).
            pub const fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|a| a.as_str() == s)
            }
        }
    };
}

actions! {
    AccessReviewCompleted = "access_review.completed" : "Access review completed",
    AccountCreated = "account.created" : "Account created",
    AccountPlanChanged = "account.plan_changed" : "Plan changed",
    AccountSettingsChanged = "account.settings_changed" : "Security settings changed",
    AccountNetworksChanged = "account.networks_changed" : "Trusted networks changed",
    AccountNetworkRefused = "account.network_refused" : "Use from outside the trusted networks refused",
    AccountFactorPolicyChanged = "account.factor_policy_changed" : "Factor policy changed",
    CredentialExpiring = "account.credential_expiring" : "Credential expiry reminder sent",
    AdvisoryAcknowledged = "advisory.acknowledged" : "Security advisory acknowledged",
    ApiKeyCloned = "api_key.cloned" : "API key cloned",
    ApiKeyCreated = "api_key.created" : "API key created",
    ApiKeyDenied = "api_key.denied" : "API key refused",
    ApiKeyExpired = "api_key.expired" : "API key expired",
    ApiKeyExposed = "api_key.exposed" : "API key found exposed",
    CredentialsStopped = "member.credentials_stopped" : "Departing member's keys and apps stopped",
    CredentialsTransferred = "member.credentials_transferred" : "Departing member's keys and apps handed over",
    ApiKeyRevoked = "api_key.revoked" : "API key revoked",
    ApiKeyRotated = "api_key.rotated" : "API key rotated",
    AuditStreamCreated = "audit_stream.created" : "Audit stream added",
    AuditStreamDeleted = "audit_stream.deleted" : "Audit stream removed",
    AuditStreamPaused = "audit_stream.paused" : "Audit stream paused after failures",
    DeviceForgotten = "device.forgotten" : "Device forgotten",
    InvitationAccepted = "invitation.accepted" : "Invitation accepted",
    LoginAbnormalAttempts = "login.abnormal_attempts" : "Unusual number of failed logins",
    LoginFailed = "login.failed" : "Login failed",
    LoginSucceeded = "login.succeeded" : "Logged in",
    Logout = "logout" : "Logged out",
    MemberDeactivated = "member.deactivated" : "Member deactivated",
    MemberInvited = "member.invited" : "Member invited",
    MemberReactivated = "member.reactivated" : "Member reactivated",
    MemberRemoved = "member.removed" : "Member removed",
    MemberRoleChanged = "member.role_changed" : "Member's role changed",
    MfaCodeFailed = "mfa.code_failed" : "Wrong second-factor code",
    MfaFactorAdded = "mfa.factor_added" : "Second factor added",
    MfaFactorRemoved = "mfa.factor_removed" : "Second factor removed",
    MfaKeysRotated = "mfa.keys_rotated" : "Second-factor encryption key rotated",
    MfaRecoveryCodeUsed = "mfa.recovery_code_used" : "Recovery code used",
    MfaRecoveryCodesRegenerated = "mfa.recovery_codes_regenerated" : "New recovery codes generated",
    OauthAppCreated = "oauth.app_created" : "App registered",
    OauthAppDeleted = "oauth.app_deleted" : "App deleted",
    OauthAppSecretRotated = "oauth.app_secret_rotated" : "App secret rotated",
    OauthAppUpdated = "oauth.app_updated" : "App changed",
    OauthAuthorized = "oauth.authorized" : "App authorized",
    OauthRefreshTokenReused = "oauth.refresh_token_reused" : "App token reused (grant revoked)",
    OauthRevoked = "oauth.revoked" : "App access revoked",
    OauthTokenDenied = "oauth.token_denied" : "App token refused",
    OwnershipTransferred = "ownership.transferred" : "Ownership transferred",
    PasswordChanged = "password.changed" : "Password changed",
    PasswordReset = "password.reset" : "Password reset",
    PasswordResetRequested = "password.reset_requested" : "Password reset requested",
    PersonEmailChangeRequested = "person.email_change_requested" : "Email change requested",
    PersonEmailChanged = "person.email_changed" : "Email changed",
    PersonPhraseChanged = "person.phrase_changed" : "Anti-phishing phrase changed",
    RoleCreated = "role.created" : "Role created",
    SecurityContactChanged = "security_contact.changed" : "Security Contact changed",
    SecurityReportSubmitted = "security_report.submitted" : "Suspicious activity reported",
    SecurityReportUpdated = "security_report.updated" : "Security report updated",
    SecurityRecoveryRequested = "security.recovery_requested" : "Account recovery requested",
    SecurityRecoveryApproved = "security.recovery_approved" : "Account recovery approved",
    SecurityRecoveryCancelled = "security.recovery_cancelled" : "Account recovery cancelled",
    SecurityRecoveryCompleted = "security.recovery_completed" : "Account recovered: factors removed",
    SecurityUnrecognisedSignInReported = "security.unrecognised_sign_in_reported" : "Sign-in reported as not me",
    SessionLoggedOutEverywhere = "session.logged_out_everywhere" : "Logged out everywhere",
    SessionReauthenticated = "session.reauthenticated" : "Identity confirmed",
    SessionRevoked = "session.revoked" : "Session revoked",
    SessionRevokedOthers = "session.revoked_others" : "Other sessions revoked",
    SsoCertificateExpiring = "sso.certificate_expiring" : "SSO certificate expiring",
    SsoConnectionCreated = "sso.connection_created" : "SSO connection added",
    SsoConnectionDeleted = "sso.connection_deleted" : "SSO connection removed",
    SsoConnectionUpdated = "sso.connection_updated" : "SSO connection changed",
    SsoDomainAdded = "sso.domain_added" : "Domain added",
    SsoDomainCheckFailed = "sso.domain_check_failed" : "Domain check failed",
    ScimGroupChanged = "scim.group_changed" : "Group changed by SCIM",
    ScimGroupRemoved = "scim.group_removed" : "Group removed by SCIM",
    ScimTokenCreated = "scim.token_created" : "SCIM token created",
    ScimTokenRevoked = "scim.token_revoked" : "SCIM token revoked",
    ScimTokenRotated = "scim.token_rotated" : "SCIM token rotated",
    ScimUserProvisioned = "scim.user_provisioned" : "Member provisioned by SCIM",
    ScimUserRefused = "scim.user_refused" : "SCIM change refused",
    ScimUserRemoved = "scim.user_removed" : "Member removed by SCIM",
    ScimUserRestored = "scim.user_restored" : "Member restored by SCIM",
    ScimUserSuspended = "scim.user_suspended" : "Member suspended by SCIM",
    ScimUserUpdated = "scim.user_updated" : "Member updated by SCIM",
    SsoDomainChecked = "sso.domain_checked" : "Domain checked",
    SsoDomainRemoved = "sso.domain_removed" : "Domain removed",
    SsoDomainUnverified = "sso.domain_unverified" : "Domain no longer verified",
    SsoDomainVerified = "sso.domain_verified" : "Domain verified",
    SsoEnforcementChanged = "sso.enforcement_changed" : "SSO-only setting changed",
    SsoSetupLinkRevoked = "sso.setup_link_revoked" : "Setup link revoked",
    SsoSetupLinkSent = "sso.setup_link_sent" : "Setup link sent",
    SsoSetupLinkUsed = "sso.setup_link_used" : "Setup link opened",
    SsoIdentityLinked = "sso.identity_linked" : "Company sign-in linked",
    SsoLogin = "sso.login" : "Signed in through SSO",
    SsoLoginFailed = "sso.login_failed" : "SSO sign-in failed",
    SsoMemberProvisioned = "sso.member_provisioned" : "Member added by SSO",
    StaffGranted = "staff.granted" : "Operator staff access granted",
    StaffRevoked = "staff.revoked" : "Operator staff access ended",
}

impl AuditAction {
    /// The heading it is listed under where people pick actions (the audit log's filter).
    pub fn group(self) -> &'static str {
        let area = self.as_str().split('.').next().unwrap_or_default();
        match area {
            "login" | "logout" | "session" | "device" | "security" => "Sign-ins and sessions",
            "password" | "person" => "Password and email",
            "mfa" => "Second factors",
            "member" | "invitation" | "role" | "ownership" | "staff" | "access_review" => {
                "Members and roles"
            }
            "api_key" => "API keys",
            "oauth" => "Apps",
            "sso" | "scim" => "Single sign-on",
            "account" | "security_contact" | "advisory" | "audit_stream" => "Account",
            "security_report" => "Security reports",
            _ => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn each_action_has_a_label_and_a_group() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(
                !a.label().is_empty() && seen.insert(a.label()),
                "{}",
                a.label()
            );
            assert_ne!(a.group(), "Other", "{} has no group", a.as_str());
        }
    }

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
