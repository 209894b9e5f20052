//! The web console: server-rendered pages (askama, checked at compile time, auto-escaped), plain
//! forms, no script. Cookie sessions; every form carries the session's CSRF token and is refused
//! when sent from another origin.

mod advisory;
mod audit;
mod audit_streams;
pub(crate) mod consent;
mod form;
mod home;
mod integrations;
mod invitations;
mod keys;
mod login;
mod me;
mod members;
mod not_me;
mod overview;
mod page;
mod recovery;
mod refused;
mod reports;
mod reset;
mod review;
mod roles;
mod scim_settings;
mod security;
mod sessions;
mod setup;
pub(crate) use setup::ended as setup_ended;
mod signup;
mod sso;
mod sso_settings;
pub(crate) mod words;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Session;
use askama::Template;
use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use watchword_app::AppError;
use watchword_domain::{AccountId, BuiltinRole, RoleRef};

/// A page's query string.
pub type Params = Query<HashMap<String, String>>;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(login::index))
        .route(
            "/static/app.css",
            asset("text/css", include_str!("../../static/app.css")),
        )
        .route(
            "/static/security.js",
            script(include_str!("../../static/security.js")),
        )
        .route(
            "/static/copy.js",
            script(include_str!("../../static/copy.js")),
        )
        .route(
            "/static/passkey.js",
            script(include_str!("../../static/passkey.js")),
        )
        .route(
            "/static/frame.js",
            script(include_str!("../../static/frame.js")),
        )
        .route(
            "/static/password.js",
            script(include_str!("../../static/password.js")),
        )
        .route(
            "/accounts/{account_id}/api-keys",
            get(keys::page).post(keys::create),
        )
        .route(
            "/accounts/{account_id}/api-keys/{key_id}/{op}",
            post(keys::key_op),
        )
        .route(
            "/accounts/{account_id}/audit-streams",
            get(audit_streams::page).post(audit_streams::create),
        )
        .route(
            "/accounts/{account_id}/audit-streams/{stream_id}/delete",
            post(audit_streams::delete),
        )
        .route(
            "/accounts/{account_id}/integrations",
            get(integrations::page).post(integrations::register),
        )
        .route(
            "/accounts/{account_id}/integrations/{grant_id}/revoke",
            post(integrations::revoke),
        )
        .route(
            "/accounts/{account_id}/settings/security",
            get(security::page).post(security::save),
        )
        .route(
            "/accounts/{account_id}/settings/security/mfa",
            post(security::save_mfa),
        )
        .route(
            "/accounts/{account_id}/settings/sso",
            get(sso_settings::page),
        )
        .route(
            "/accounts/{account_id}/settings/sso/scim",
            get(scim_settings::page).post(scim_settings::act),
        )
        .route(
            "/accounts/{account_id}/settings/sso/confirm",
            post(sso_settings::confirm),
        )
        .route(
            "/accounts/{account_id}/settings/sso/domains",
            post(sso_settings::add_domain),
        )
        .route(
            "/accounts/{account_id}/settings/sso/domains/{domain_id}/verify",
            post(sso_settings::verify_domain),
        )
        .route(
            "/accounts/{account_id}/settings/sso/connections",
            post(sso_settings::add_connection),
        )
        .route(
            "/accounts/{account_id}/settings/sso/enforcement",
            post(sso_settings::enforcement),
        )
        .route(
            "/accounts/{account_id}/settings/sso/connections/{connection_id}/{op}",
            post(sso_settings::connection_op),
        )
        .route("/setup", get(setup::start_page))
        .route("/setup/start", post(setup::start))
        .route("/setup/sso", get(setup::page))
        .route("/setup/sso/domains", post(setup::add_domain))
        .route(
            "/setup/sso/domains/{domain_id}/verify",
            post(setup::verify_domain),
        )
        .route("/setup/sso/connections", post(setup::add_connection))
        .route(
            "/setup/sso/connections/{connection_id}/test",
            post(setup::test_connection),
        )
        .route("/setup/sso/scim", post(setup::scim_token))
        .route("/login", get(login::login_form).post(login::login))
        .route("/login/mfa", post(login::login_mfa))
        .route(
            "/recovery/cancel",
            get(login::recovery_cancel_page).post(login::recovery_cancel),
        )
        .route("/password-reset", get(reset::form).post(reset::request))
        .route("/sign-ins/not-me", get(not_me::show).post(not_me::confirm))
        .route(
            "/advisories/ack",
            get(advisory::show).post(advisory::acknowledge),
        )
        .route("/reset-password", get(reset::form).post(reset::confirm))
        .route(
            "/confirm-email",
            get(reset::email_form).post(reset::email_confirm),
        )
        .route("/signup", get(signup::signup_form).post(signup::signup))
        .route(
            "/signup/confirm",
            get(signup::signup_confirm_form).post(signup::signup_confirm),
        )
        .route("/logout", post(login::logout))
        .route("/sso/start", post(sso::start))
        .route("/accounts/{account_id}/sso/link", post(sso::link))
        .route("/sso/oidc/callback", get(sso::callback))
        .route(
            "/sso/saml/{connection_id}/acs",
            post(sso::acs).layer(axum::extract::DefaultBodyLimit::max(sso::ACS_BODY_LIMIT)),
        )
        .route("/sso/saml/{connection_id}/metadata", get(sso::sp_metadata))
        .route(
            "/invitations/accept",
            get(invitations::accept_form).post(invitations::accept),
        )
        .route("/app", get(home::home))
        .route("/accounts/new", post(home::create_account))
        .route("/accounts/{account_id}", get(overview::account_home))
        .route("/accounts/{account_id}/security", get(overview::page))
        .route(
            "/accounts/{account_id}/report",
            get(reports::form)
                .post(reports::submit)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::api::security_reports::REPORT_BODY_LIMIT,
                )),
        )
        .route(
            "/accounts/{account_id}/security-reports",
            get(reports::list),
        )
        .route(
            "/accounts/{account_id}/security-reports/{report_id}",
            get(reports::show).post(reports::update),
        )
        .route(
            "/accounts/{account_id}/security-reports/{report_id}/attachments/{attachment_id}",
            get(reports::attachment),
        )
        .route("/accounts/{account_id}/members", get(members::members))
        .route(
            "/accounts/{account_id}/members/invite",
            post(members::invite),
        )
        .route(
            "/accounts/{account_id}/members/{member_id}/{op}",
            post(members::member_op),
        )
        .route(
            "/accounts/{account_id}/roles",
            get(roles::roles).post(roles::create_role),
        )
        .route("/accounts/{account_id}/audit", get(audit::audit))
        .route("/accounts/{account_id}/audit/{event_id}", get(audit::event))
        .route(
            "/accounts/{account_id}/access-review",
            get(review::page).post(review::complete),
        )
        .route(
            "/accounts/{account_id}/recovery",
            get(recovery::page).post(recovery::act),
        )
        .route("/me/security", get(me::page).post(me::act))
        .route("/me/continue", get(me::continue_to))
        .route("/me/sessions", get(sessions::sessions))
        .route("/me/sessions/revoke-others", post(sessions::revoke_others))
        .route("/me/sessions/{session_id}/revoke", post(sessions::revoke))
        .route(
            "/me/devices/{device_id}/forget",
            post(sessions::forget_device),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            refused::frame_refusals,
        ))
}

/// A static file compiled into the binary, cached for an hour.
fn asset(content_type: &'static str, body: &'static str) -> axum::routing::MethodRouter<AppState> {
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            body,
        )
    })
}

fn script(body: &'static str) -> axum::routing::MethodRouter<AppState> {
    asset("text/javascript", body)
}

/// What the page layout shows around the content.
pub struct Chrome {
    pub person_name: String,
    pub csrf: String,
    pub accounts: Vec<(String, String)>,
    pub current: Option<String>,
    /// Owners and Admins of the current account see its Settings.
    pub settings: bool,
    /// Members holding `api_keys:manage` see API keys.
    pub api_keys: bool,
    /// Members holding `users:manage` (Owners and Admins) see the security overview.
    pub overview: bool,
}

impl Chrome {
    pub fn new(s: &Session, current: Option<AccountId>) -> Self {
        Self {
            person_name: s.actor.name.clone(),
            csrf: s.csrf_token(),
            accounts: s
                .auth
                .memberships
                .iter()
                .map(|(a, _)| (a.id.to_string(), a.name.clone()))
                .collect(),
            current: current.map(|c| c.to_string()),
            settings: s.auth.memberships.iter().any(|(a, m)| {
                Some(a.id) == current
                    && matches!(
                        m.role,
                        RoleRef::Builtin(BuiltinRole::Owner | BuiltinRole::Admin)
                    )
            }),
            api_keys: s.auth.memberships.iter().any(|(a, m)| {
                Some(a.id) == current
                    && m.permissions
                        .contains(watchword_domain::Permission::ApiKeysManage)
            }),
            overview: s.auth.memberships.iter().any(|(a, m)| {
                Some(a.id) == current
                    && m.permissions
                        .contains(watchword_domain::Permission::UsersManage)
            }),
        }
    }
}

/// What the layout shows around every page: its title, the signed-in person's navigation, and
/// the notice and error banners.
pub struct Frame {
    pub title: &'static str,
    pub chrome: Option<Chrome>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Frame {
    /// A page for anyone (login, signup, reset): no navigation.
    pub fn public(title: &'static str, notice: Option<String>, error: Option<String>) -> Self {
        Self {
            title,
            chrome: None,
            notice,
            error,
        }
    }

    /// Whether the navigation link `section` leads to this page (or the page it belongs to).
    pub fn is_current(&self, section: &str) -> bool {
        let of_page = match self.title {
            "API key created" => "API keys",
            "Audit event" | "Audit streaming" => "Audit log",
            "Security report" => "Security reports",
            "Security settings" => "Settings",
            "Access review" => "Members",
            t => t,
        };
        of_page == section
    }

    /// A signed-in person's page, in `account` when it belongs to one.
    pub fn signed_in(
        title: &'static str,
        s: &Session,
        account: Option<AccountId>,
        notice: Option<String>,
        error: Option<String>,
    ) -> Self {
        Self {
            title,
            chrome: Some(Chrome::new(s, account)),
            notice,
            error,
        }
    }
}

pub fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A path on this site to send the browser back to (`/accounts/…?…`), or None: never another
/// host (`//evil`, `/\\evil`, a scheme), never control characters.
pub fn local_path(next: &str) -> Option<String> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_owned())
}

pub fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// Refuses form posts from other sites (login CSRF included), checked before any session logic:
/// browsers that send `Sec-Fetch-Site` must say `same-origin`; otherwise an `Origin` header, when
/// present, must name this host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        _ => true,
    }
}

/// The status and message a page shows for an error: the API's one mapping (`ApiError`), so a
/// page and the API never disagree; internal errors stay opaque (the cause is logged).
pub fn message(e: AppError) -> (StatusCode, String) {
    let e = ApiError::from(e);
    (e.status, e.message)
}

/// A redirect after a form post, setting a cookie when one is given.
pub fn redirect_with_cookie(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = Redirect::to(to).into_response();
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Fixed notices shown after a successful form post (`?done=key`); never text from the URL.
pub fn notice(key: Option<&str>) -> Option<String> {
    Some(
        match key? {
            "invited" => "Invitation sent.",
            "role" => "Role changed.",
            "deactivate" => "Member deactivated.",
            "reactivate" => "Member reactivated.",
            "remove" => "Member removed.",
            "role_created" => "Role created.",
            "revoked" => "Session revoked.",
            "revoked_others" => "All other sessions were logged out.",
            "device_forgotten" => "The device is forgotten; its sessions ended.",
            "logged_out_everywhere" => "You were logged out everywhere.",
            "mfa" => "Multi-factor authentication setting saved.",
            "password_reset" => "Your password was reset. Log in with the new one.",
            "accepted" => "Invitation accepted. Log in with your password.",
            "key_revoked" => "API key revoked. It stopped working at once.",
            "reviewed" => "Access review recorded.",
            "approved" => "Recovery approved: the delay runs; everyone concerned was told.",
            "cancelled" => "Recovery request cancelled.",
            "sso_domain" => "Domain added: publish its TXT record, then verify it.",
            "sso_verified" => "Domain verified.",
            "sso_connection" => "Single sign-on connection saved.",
            "sso_enforcement" => "SSO-only setting saved.",
            "scim_revoked" => "SCIM token revoked: it stopped working at once.",
            "confirmed" => "Confirmed: the changes on this page go ahead for a few minutes.",
            "app_revoked" => "App revoked: its tokens stopped working.",
            "stream_deleted" => "The audit log is no longer streamed there.",
            "report_saved" => "The report's status and note are saved.",
            "contact" => {
                "Security Contact changed. The previous and the new contact were notified by email."
            }
            _ => return None,
        }
        .to_owned(),
    )
}
