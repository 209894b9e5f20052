//! The JSON API under `/api/v1`, collected with its OpenAPI description.

pub mod access_review;
pub mod accounts;
pub mod audit;
pub mod audit_streams;
pub mod contact;
pub mod devices;
pub mod dto;
pub mod email;
pub mod factors;
pub mod keys;
pub mod oauth_apps;
pub mod openapi;
pub mod passkeys;
pub mod password;
pub mod policies;
pub mod recovery;
pub mod security_overview;
pub mod security_reports;
pub mod sessions;
pub mod signin;
pub mod signup;
pub mod sms;
pub mod sso;

use crate::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "watchword", description = "Account security for multi-tenant SaaS. Errors are `{\"error\": {\"code\", \"message\"}}`."),
    tags(
        (name = "auth", description = "Signup, login, whoami"),
        (name = "me", description = "The caller's sessions and password"),
        (name = "accounts"), (name = "members"), (name = "roles"), (name = "audit"), (name = "security contact"), (name = "api keys"), (name = "security reports"),
        (name = "operator", description = "For the operator's backends and partners, not for people"), (name = "ops")
    )
)]
#[openapi(components(schemas(sessions::KeyWhoamiResponse, signin::MfaChallengeResponse)))]
struct ApiDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(signup::signup))
        .routes(routes!(signup::confirm_signup))
        .routes(routes!(signin::login))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::whoami))
        .routes(routes!(sessions::my_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(sessions::revoke_others))
        .routes(routes!(sessions::revoke_all))
        .routes(routes!(audit_streams::list, audit_streams::create))
        .routes(routes!(audit_streams::delete))
        .routes(routes!(devices::my_devices))
        .routes(routes!(devices::forget_device))
        .routes(routes!(password::change_password))
        .routes(routes!(accounts::list_accounts, accounts::create_account))
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::list_members))
        .routes(routes!(accounts::list_invitations, accounts::invite))
        .routes(routes!(accounts::accept))
        .routes(routes!(accounts::update_member, accounts::remove))
        .routes(routes!(accounts::deactivate))
        .routes(routes!(accounts::reactivate))
        .routes(routes!(accounts::list_roles, accounts::create_role))
        .routes(routes!(accounts::transfer))
        .routes(routes!(audit::list))
        .routes(routes!(access_review::get, access_review::complete))
        .routes(routes!(security_overview::get))
        .routes(routes!(contact::get, contact::put))
        .routes(routes!(contact::candidates))
        .routes(routes!(contact::history))
        .routes(routes!(signin::reauthenticate))
        .routes(routes!(factors::status))
        .routes(routes!(factors::start_totp))
        .routes(routes!(factors::confirm_totp))
        .routes(routes!(factors::remove, factors::rename))
        .routes(routes!(passkeys::start))
        .routes(routes!(passkeys::finish))
        .routes(routes!(passkeys::login_options))
        .routes(routes!(passkeys::reauth_options))
        .routes(routes!(passkeys::passwordless_options))
        .routes(routes!(passkeys::passwordless))
        .routes(routes!(factors::regenerate))
        .routes(routes!(sms::start))
        .routes(routes!(sms::confirm))
        .routes(routes!(sms::login))
        .routes(routes!(sms::step_up))
        .routes(routes!(email::request))
        .routes(routes!(email::confirm))
        .routes(routes!(signin::login_mfa))
        .routes(routes!(password::request_reset))
        .routes(routes!(password::confirm_reset))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::get, keys::revoke))
        .routes(routes!(keys::clone))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::get_settings, keys::patch_settings))
        .routes(routes!(policies::get_networks, policies::put_networks))
        .routes(routes!(
            policies::get_factor_policy,
            policies::put_factor_policy
        ))
        .routes(routes!(policies::get_phrase, policies::put_phrase))
        .routes(routes!(recovery::request))
        .routes(routes!(recovery::cancel_by_link))
        .routes(routes!(recovery::list))
        .routes(routes!(recovery::approve))
        .routes(routes!(recovery::cancel))
        .routes(routes!(recovery::set_delay))
        .routes(routes!(keys::introspect))
        .routes(routes!(keys::exposed_keys))
        .routes(routes!(oauth_apps::list_apps, oauth_apps::create_app))
        .routes(routes!(
            oauth_apps::get_app,
            oauth_apps::update_app,
            oauth_apps::delete_app
        ))
        .routes(routes!(oauth_apps::rotate_secret))
        .routes(routes!(oauth_apps::list_authorized))
        .routes(routes!(oauth_apps::revoke_authorized))
        .routes(routes!(sso::list_domains, sso::add_domain))
        .routes(routes!(sso::verify_domain))
        .routes(routes!(sso::remove_domain))
        .routes(routes!(sso::list_connections, sso::create_connection))
        .routes(routes!(
            sso::get_connection,
            sso::update_connection,
            sso::delete_connection
        ))
        .routes(routes!(sso::test_connection))
        .routes(routes!(sso::get_scim))
        .routes(routes!(sso::list_setup_links, sso::send_setup_link))
        .routes(routes!(sso::revoke_setup_link))
        .routes(routes!(sso::create_scim_token))
        .routes(routes!(sso::rotate_scim_token))
        .routes(routes!(sso::revoke_scim_token))
        .routes(routes!(sso::get_enforcement, sso::set_enforcement))
        .routes(routes!(sso::start))
        .routes(routes!(sso::link))
        .routes(routes!(sso::set_plan))
        .routes(routes!(crate::ops::healthz))
        .routes(routes!(crate::ops::readyz))
        .routes(routes!(security_reports::get, security_reports::update))
        .routes(routes!(security_reports::attachment))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(security_reports::submit, security_reports::list))
                .layer(axum::extract::DefaultBodyLimit::max(
                    security_reports::REPORT_BODY_LIMIT,
                )),
        )
}
