//! Page handlers: each GET renders from the use cases; each POST checks origin and CSRF, calls
//! one use case, then redirects (303) or re-renders with the error.

use super::{Chrome, message, notice, render, same_origin, to_login};
use crate::AppState;
use crate::api::auth::issue;
use crate::extract::{ClientMeta, Session, clear_session_cookie};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use uuid::Uuid;
use watchword_app::auth::SessionMode;
use watchword_app::mfa::{LoginOutcome, Proof};
use watchword_app::signup::SignupInput;
use watchword_domain::password::Password;
use watchword_domain::{AccountId, BuiltinRole, MembershipId, Permission, SessionId};
use watchword_store::audit::Filter;
use watchword_store::rows::MemberRow;

pub(super) type Fields = Vec<(String, String)>;
pub(super) type Params = Query<HashMap<String, String>>;

pub(super) fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "request refused: it did not come from this site's own form",
    )
        .into_response()
}

/// Session + same-origin + CSRF token for a form post.
pub(super) fn form_guard(
    headers: &HeaderMap,
    s: &Option<Session>,
    f: &Fields,
) -> Result<(), Response> {
    let Some(s) = s else { return Err(to_login()) };
    if !same_origin(headers) || !s.csrf_ok(Some(field(f, "csrf_token"))) {
        return Err(forbidden());
    }
    Ok(())
}

fn redirect_with_cookie(to: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = Redirect::to(to).into_response();
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub async fn index(s: Option<Session>) -> Response {
    Redirect::to(if s.is_some() { "/app" } else { "/login" }).into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    email: String,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct LoginMfaPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    challenge_id: String,
    methods: Vec<&'static str>,
    /// The methods answered with a typed code.
    codes: Vec<&'static str>,
}

impl LoginMfaPage {
    fn new(challenge_id: String, methods: Vec<&'static str>, error: Option<String>) -> Self {
        Self {
            title: "Two-step verification",
            chrome: None,
            notice: None,
            error,
            challenge_id,
            codes: methods
                .iter()
                .copied()
                .filter(|m| *m != "passkey")
                .collect(),
            methods,
        }
    }
}

/// The second step of a login: a code for the challenge the password step issued.
pub async fn login_mfa(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let (challenge, method, code) = (
        field(&f, "challenge_id"),
        field(&f, "method"),
        field(&f, "code"),
    );
    if !field(&f, "send_sms").is_empty() {
        let (status, mut page) = match state.app.send_login_sms(challenge, None, &meta).await {
            Ok(hint) => {
                let methods = state.app.challenge_methods(challenge).await;
                let mut page = LoginMfaPage::new(challenge.to_owned(), methods, None);
                page.notice = Some(format!("A code is on its way to your phone ending {hint}."));
                (StatusCode::OK, page)
            }
            Err(e) => {
                let (status, msg) = message(&e);
                let methods = state.app.challenge_methods(challenge).await;
                (
                    status,
                    LoginMfaPage::new(challenge.to_owned(), methods, Some(msg)),
                )
            }
        };
        // The texted code is what the person types next.
        page.codes.sort_by_key(|m| *m != "sms");
        return render(status, page);
    }
    match state
        .app
        .login_mfa(challenge, method, Proof::Code(code), &meta)
        .await
    {
        Ok(s) => redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0),
        Err(e) => {
            let (status, msg) = message(&e);
            let methods = state.app.challenge_methods(challenge).await;
            render(
                status,
                LoginMfaPage::new(challenge.to_owned(), methods, Some(msg)),
            )
        }
    }
}

pub async fn login_form(Query(q): Params) -> Response {
    let page = LoginPage {
        title: "Log in",
        chrome: None,
        notice: notice(q.get("done").map(String::as_str)),
        error: None,
        email: String::new(),
    };
    render(StatusCode::OK, page)
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let (email, pw) = (
        field(&f, "email"),
        Password::new(field(&f, "password").to_owned()),
    );
    match state.app.login(email, pw, SessionMode::Cookie, &meta).await {
        Ok(LoginOutcome::Session(s)) => {
            redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0)
        }
        Ok(LoginOutcome::Challenge {
            challenge_id,
            methods,
        }) => render(
            StatusCode::OK,
            LoginMfaPage::new(challenge_id, methods, None),
        ),
        Err(e) => {
            let (status, msg) = message(&e);
            render(
                status,
                LoginPage {
                    title: "Log in",
                    chrome: None,
                    notice: None,
                    error: Some(msg),
                    email: email.to_owned(),
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_name: String,
    name: String,
    email: String,
}

pub async fn signup_form() -> Response {
    let page = SignupPage {
        title: "Sign up",
        chrome: None,
        notice: None,
        error: None,
        account_name: String::new(),
        name: String::new(),
        email: String::new(),
    };
    render(StatusCode::OK, page)
}

pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    let input = SignupInput {
        account_name: field(&f, "account_name").to_owned(),
        name: field(&f, "name").to_owned(),
        email: field(&f, "email").to_owned(),
        password: Password::new(field(&f, "password").to_owned()),
    };
    let (status, notice, error) = match state.app.request_signup(input, &meta).await {
        Ok(()) => (
            StatusCode::OK,
            Some(format!(
                "Check your email: we sent a link to {} that creates the account. It works once, for 24 hours.",
                field(&f, "email")
            )),
            None,
        ),
        Err(e) => {
            let (status, msg) = message(&e);
            (status, None, Some(msg))
        }
    };
    let page = SignupPage {
        title: "Sign up",
        chrome: None,
        notice,
        error,
        account_name: field(&f, "account_name").to_owned(),
        name: field(&f, "name").to_owned(),
        email: field(&f, "email").to_owned(),
    };
    render(status, page)
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct SignupConfirmPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    token: Option<String>,
}

/// The signup link's page: a button, so a mail scanner that opens the link creates nothing.
pub async fn signup_confirm_form(Query(q): Params) -> Response {
    let page = SignupConfirmPage {
        title: "Create your account",
        chrome: None,
        notice: None,
        error: None,
        token: q.get("token").cloned(),
    };
    render(StatusCode::OK, page)
}

pub async fn signup_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    match state
        .app
        .confirm_signup(field(&f, "token"), SessionMode::Cookie, &meta)
        .await
    {
        Ok(out) => redirect_with_cookie(
            &format!("/accounts/{}/members", out.account),
            issue(&state, SessionMode::Cookie, &out.session).0,
        ),
        Err(e) => {
            let (status, msg) = message(&e);
            let page = SignupConfirmPage {
                title: "Create your account",
                chrome: None,
                notice: None,
                error: Some(msg),
                token: None,
            };
            render(status, page)
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    if let Some(s) = s {
        if let Err(e) = state.app.logout(&s.actor).await {
            return message(&e).into_response();
        }
    }
    redirect_with_cookie(
        "/login",
        HeaderValue::from_str(&clear_session_cookie()).ok(),
    )
}

#[derive(Template)]
#[template(path = "accept.html")]
struct AcceptPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    token: String,
    /// Signed in: the login that accepts, and the form's CSRF token.
    signed_in: Option<(String, String)>,
}

fn signed_in(s: &Option<Session>) -> Option<(String, String)> {
    s.as_ref().map(|s| (s.actor.email.clone(), s.csrf_token()))
}

pub async fn accept_form(s: Option<Session>, Query(q): Params) -> Response {
    let token = q.get("token").cloned().unwrap_or_default();
    render(
        StatusCode::OK,
        AcceptPage {
            title: "Accept invitation",
            chrome: None,
            notice: None,
            error: None,
            token,
            signed_in: signed_in(&s),
        },
    )
}

pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientMeta(meta): ClientMeta,
    s: Option<Session>,
    Form(f): Form<Fields>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden();
    }
    // Signed in, the form carries the session's CSRF token (see accept.html).
    if let Some(s) = &s
        && !s.csrf_ok(Some(field(&f, "csrf_token")))
    {
        return forbidden();
    }
    let name = Some(field(&f, "name")).filter(|n| !n.is_empty());
    let pw = Some(field(&f, "password"))
        .filter(|p| !p.is_empty())
        .map(|p| Password::new(p.to_owned()));
    match state
        .app
        .accept_invitation(
            s.as_ref().map(|s| &s.actor),
            field(&f, "token"),
            name,
            pw,
            SessionMode::Cookie,
            &meta,
        )
        .await
    {
        Ok(out) => match out.session {
            Some(s) => redirect_with_cookie("/app", issue(&state, SessionMode::Cookie, &s).0),
            None => Redirect::to(&format!("/accounts/{}/members", out.account)).into_response(),
        },
        Err(e) => {
            let (status, msg) = message(&e);
            render(
                status,
                AcceptPage {
                    title: "Accept invitation",
                    chrome: None,
                    notice: None,
                    error: Some(msg),
                    token: field(&f, "token").to_owned(),
                    signed_in: signed_in(&s),
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    accounts: Vec<(String, String, String)>,
    csrf: String,
}

fn home_page(s: &Session, status: StatusCode, error: Option<String>) -> Response {
    let accounts = s
        .auth
        .memberships
        .iter()
        .map(|(a, m)| (a.id.to_string(), a.name.clone(), m.role_name.clone()))
        .collect();
    render(
        status,
        HomePage {
            title: "Accounts",
            chrome: Some(Chrome::new(s, None)),
            notice: None,
            error,
            accounts,
            csrf: s.csrf_token(),
        },
    )
}

pub async fn home(s: Option<Session>) -> Response {
    let Some(s) = s else { return to_login() };
    home_page(&s, StatusCode::OK, None)
}

/// The account switcher's "New account": a signed-in person creates an account they own.
pub async fn create_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    match state.app.create_account(&s.actor, field(&f, "name")).await {
        Ok((account, _)) => Redirect::to(&format!("/accounts/{account}/members")).into_response(),
        Err(e) => {
            let (status, msg) = message(&e);
            home_page(&s, status, Some(msg))
        }
    }
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    account_name: String,
    csrf: String,
    can_manage: bool,
    members: Vec<MemberRow>,
    roles: Vec<(String, String)>,
}

async fn members_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let access = match state.app.account(&s.actor, account).await {
        Ok(a) => a,
        Err(e) => return message(&e).into_response(),
    };
    let members = match state.app.list_members(&s.caller(), account).await {
        Ok(m) => m,
        Err(e) => return message(&e).into_response(),
    };
    let mut roles: Vec<(String, String)> = BuiltinRole::CUSTOMER
        .iter()
        .map(|b| (b.key().to_owned(), b.name().to_owned()))
        .collect();
    if let Ok(custom) = state.app.list_roles(&s.caller(), account).await {
        roles.extend(custom.iter().map(|r| (r.id.to_string(), r.name.clone())));
    }
    let (status, error) = match error {
        Some((st, e)) => (st, Some(e)),
        None => (StatusCode::OK, None),
    };
    let page = MembersPage {
        title: "Members",
        chrome: Some(Chrome::new(s, Some(account))),
        notice,
        error,
        account_id: account.to_string(),
        account_name: access.account.name.clone(),
        csrf: s.csrf_token(),
        can_manage: access.permissions().contains(Permission::UsersManage),
        members,
        roles,
    };
    render(status, page)
}

pub async fn members(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    members_page(
        &state,
        &s,
        AccountId(id),
        notice(q.get("done").map(String::as_str)),
        None,
    )
    .await
}

pub async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    match state
        .app
        .invite(
            &s.actor,
            AccountId(id),
            field(&f, "email"),
            field(&f, "role"),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/accounts/{id}/members?done=invited")).into_response(),
        Err(e) => members_page(&state, &s, AccountId(id), None, Some(message(&e))).await,
    }
}

pub async fn member_op(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Path((id, member, op)): Path<(Uuid, Uuid, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    let (account, member) = (AccountId(id), MembershipId(member));
    let result = match op.as_str() {
        "role" => state
            .app
            .change_role(&s.actor, account, member, field(&f, "role"))
            .await
            .map(|_| ()),
        "deactivate" => state
            .app
            .set_member_active(&s.actor, account, member, false)
            .await
            .map(|_| ()),
        "reactivate" => state
            .app
            .set_member_active(&s.actor, account, member, true)
            .await
            .map(|_| ()),
        "remove" if field(&f, "confirm") == "yes" => {
            state.app.remove_member(&s.actor, account, member).await
        }
        "remove" => Err(watchword_domain::DomainError::invalid(
            "confirmation_required",
            "tick confirm to remove the member",
        )
        .into()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/accounts/{id}/members?done={op}")).into_response(),
        Err(e) => members_page(&state, &s, account, None, Some(message(&e))).await,
    }
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    csrf: String,
    can_manage: bool,
    roles: Vec<crate::api::dto::RoleDto>,
    grantable: Vec<&'static str>,
}

async fn roles_page(
    state: &AppState,
    s: &Session,
    account: AccountId,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let access = match state.app.account(&s.actor, account).await {
        Ok(a) => a,
        Err(e) => return message(&e).into_response(),
    };
    let custom = match state.app.list_roles(&s.caller(), account).await {
        Ok(r) => r,
        Err(e) => return message(&e).into_response(),
    };
    let mut roles: Vec<_> = BuiltinRole::CUSTOMER
        .into_iter()
        .map(crate::api::dto::RoleDto::builtin)
        .collect();
    roles.extend(custom.iter().map(crate::api::dto::RoleDto::custom));
    let (status, error) = error
        .map(|(st, e)| (st, Some(e)))
        .unwrap_or((StatusCode::OK, None));
    let page = RolesPage {
        title: "Roles",
        chrome: Some(Chrome::new(s, Some(account))),
        notice,
        error,
        account_id: account.to_string(),
        csrf: s.csrf_token(),
        can_manage: access.permissions().contains(Permission::RolesManage),
        roles,
        grantable: access
            .permissions()
            .iter()
            .map(Permission::as_str)
            .collect(),
    };
    render(status, page)
}

pub async fn roles(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    roles_page(
        &state,
        &s,
        AccountId(id),
        notice(q.get("done").map(String::as_str)),
        None,
    )
    .await
}

pub async fn create_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    let perms: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "permissions")
        .map(|(_, v)| v.clone())
        .collect();
    match state
        .app
        .create_role(&s.actor, AccountId(id), field(&f, "name"), &perms)
        .await
    {
        Ok(_) => Redirect::to(&format!("/accounts/{id}/roles?done=role_created")).into_response(),
        Err(e) => roles_page(&state, &s, AccountId(id), None, Some(message(&e))).await,
    }
}

pub struct EventView {
    created_at: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    account_id: String,
    action: String,
    events: Vec<EventView>,
    next_cursor: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let action = q.get("action").cloned().unwrap_or_default();
    let filter = Filter {
        action: Some(action.clone()).filter(|a| !a.is_empty()),
        before: q
            .get("cursor")
            .and_then(|c| watchword_domain::AuditEventId::parse(c)),
        limit: 100,
        ..Filter::default()
    };
    let (rows, next_cursor) = match state
        .app
        .audit_events(&s.caller(), AccountId(id), filter)
        .await
    {
        Ok(r) => r,
        Err(e) => return message(&e).into_response(),
    };
    let events = rows
        .iter()
        .map(|e| EventView {
            created_at: e.created_at.rfc3339(),
            actor: e
                .actor_email
                .clone()
                .unwrap_or_else(|| e.actor_kind.clone()),
            action: e.action.clone(),
            target: match (&e.target_kind, &e.target_id) {
                (Some(k), Some(i)) => format!("{k} {i}"),
                _ => String::new(),
            },
            ip: e.ip.clone().unwrap_or_default(),
            details: e.details.to_string(),
        })
        .collect();
    let page = AuditPage {
        title: "Audit log",
        chrome: Some(Chrome::new(&s, Some(AccountId(id)))),
        notice: None,
        error: None,
        account_id: id.to_string(),
        action,
        events,
        next_cursor,
    };
    render(StatusCode::OK, page)
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    title: &'static str,
    chrome: Option<Chrome>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    sessions: Vec<crate::api::dto::SessionDto>,
}

pub async fn sessions(
    State(state): State<AppState>,
    s: Option<Session>,
    Query(q): Params,
) -> Response {
    let Some(s) = s else { return to_login() };
    let rows = match state.app.my_sessions(&s.actor).await {
        Ok(r) => r,
        Err(e) => return message(&e).into_response(),
    };
    let page = SessionsPage {
        title: "My sessions",
        chrome: Some(Chrome::new(&s, None)),
        notice: notice(q.get("done").map(String::as_str)),
        error: None,
        csrf: s.csrf_token(),
        sessions: rows
            .iter()
            .map(|r| crate::api::dto::SessionDto::from_row(r, s.actor.session))
            .collect(),
    };
    render(StatusCode::OK, page)
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Path(id): Path<Uuid>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    match state.app.revoke_session(&s.actor, SessionId(id)).await {
        Ok(()) => Redirect::to("/me/sessions?done=revoked").into_response(),
        Err(e) => message(&e).into_response(),
    }
}

pub async fn revoke_others(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Option<Session>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(r) = form_guard(&headers, &s, &f) {
        return r;
    }
    let s = s.expect("checked by form_guard");
    match state.app.revoke_other_sessions(&s.actor).await {
        Ok(_) => Redirect::to("/me/sessions?done=revoked_others").into_response(),
        Err(e) => message(&e).into_response(),
    }
}
