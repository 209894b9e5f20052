//! Accounts, members, invitations, roles and ownership.

use super::dto::*;
use super::sessions::{issue, with_cookie};
use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiCaller, ApiSession, ClientMeta, Json, Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use watchword_app::sessions::SessionMode;
use watchword_domain::password::Password;
use watchword_domain::{AccountId, BuiltinRole, MembershipId};

#[derive(Serialize, ToSchema)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: AccountDto,
    /// The caller's membership in this account.
    pub membership: MemberDto,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    /// Built-in key (not `owner`) or custom role id.
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token from the emailed link.
    pub token: String,
    /// Required when the invitation creates a new person.
    pub name: Option<String>,
    /// Required when the invitation creates a new person.
    pub password: Option<String>,
    #[serde(default)]
    pub session_mode: SessionModeDto,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptResponse {
    pub account_id: Uuid,
    pub membership_id: Uuid,
    pub person_id: Uuid,
    /// True when the person already existed: they log in with their own password.
    pub login_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<NewSessionDto>,
    #[serde(flatten)]
    pub credentials: IssuedCredentials,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    pub name: String,
    /// Permission names, e.g. `users:read`, `audit_log:read`.
    pub permissions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The membership that becomes Owner; the current Owner becomes Admin.
    pub member_id: Uuid,
}

/// Accounts the caller can act in.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", responses((status = 200, body = Vec<AccountMembershipDto>)))]
pub async fn list_accounts(ApiSession(s): ApiSession) -> Json<Vec<AccountMembershipDto>> {
    Json(memberships(&s.auth))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    pub name: String,
}

/// Create a further account; the signed-in caller becomes its Owner and Security Contact.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = CreateAccountRequest,
    responses((status = 201, body = AccountDetail), (status = 422, body = ErrorBody, description = "invalid_account_name")))]
pub async fn create_account(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Json(req): Json<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<AccountDetail>)> {
    let (id, _) = state.app.create_account(&s.actor, &req.name).await?;
    let access = state.app.account(&s.actor, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountDetail {
            account: (&access.account).into(),
            membership: (&access.member).into(),
        }),
    ))
}

/// One account the caller belongs to; another account answers 404.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}", tag = "accounts", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = AccountDetail), (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AccountDetail>> {
    let access = state.app.account(&s.actor, AccountId(id)).await?;
    Ok(Json(AccountDetail {
        account: (&access.account).into(),
        membership: (&access.member).into(),
    }))
}

/// Members of the account, including pending invitations (`status: invited`).
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/members", tag = "members", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<MemberDto>), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<MemberDto>>> {
    let caller = caller.caller();
    Ok(member_list(
        state.app.list_members(&caller, AccountId(id)).await?,
    ))
}

fn member_list(rows: Vec<watchword_app::views::MemberRow>) -> Json<Vec<MemberDto>> {
    Json(rows.iter().map(MemberDto::from).collect())
}

/// Pending invitations.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/invitations", tag = "members", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<MemberDto>), (status = 404, body = ErrorBody)))]
pub async fn list_invitations(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<MemberDto>>> {
    let caller = caller.caller();
    Ok(member_list(
        state.app.list_invitations(&caller, AccountId(id)).await?,
    ))
}

/// Invite someone by email with a role; needs `users:manage` and every permission of the role.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/invitations", tag = "members", params(("account_id" = Uuid, Path)),
    request_body = InviteRequest, responses((status = 201, body = MemberDto), (status = "4XX", body = ErrorBody)))]
pub async fn invite(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, Json<MemberDto>)> {
    let row = state
        .app
        .invite(&s.actor, AccountId(id), &req.email, &req.role)
        .await?;
    Ok((StatusCode::CREATED, Json((&row).into())))
}

/// Accept an invitation with the token from the emailed link.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "members", request_body = AcceptRequest,
    responses((status = 200, body = AcceptResponse), (status = "4XX", body = ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    ClientMeta(meta): ClientMeta,
    headers: axum::http::HeaderMap,
    signed_in: Option<crate::extract::Session>,
    Json(req): Json<AcceptRequest>,
) -> ApiResult<Response> {
    if let Some(s) = &signed_in
        && s.via_cookie
        && !s.csrf_ok(
            headers
                .get(crate::extract::CSRF_HEADER)
                .and_then(|v| v.to_str().ok()),
        )
    {
        return Err(crate::error::ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "cookie-authenticated changes need the session's X-CSRF-Token header",
        ));
    }
    let mode: SessionMode = req.session_mode.into();
    let out = state
        .app
        .accept_invitation(
            signed_in.as_ref().map(|s| &s.actor),
            &req.token,
            req.name.as_deref(),
            req.password.map(Password::new),
            mode,
            &meta,
        )
        .await?;
    let (cookie, session, credentials) = match &out.session {
        Some(s) => {
            let (c, d, cr) = issue(&state, mode, s);
            (c, Some(d), cr)
        }
        None => (None, None, IssuedCredentials::default()),
    };
    let body = AcceptResponse {
        account_id: out.account.0,
        membership_id: out.membership.0,
        person_id: out.person.0,
        login_required: session.is_none(),
        session,
        credentials,
    };
    Ok(with_cookie(StatusCode::OK, cookie, body))
}

/// Change a member's role.
#[utoipa::path(patch, path = "/api/v1/accounts/{account_id}/members/{member_id}", tag = "members",
    params(("account_id" = Uuid, Path), ("member_id" = Uuid, Path)), request_body = UpdateMemberRequest,
    responses((status = 200, body = MemberDto), (status = "4XX", body = ErrorBody)))]
pub async fn update_member(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((account, member)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateMemberRequest>,
) -> ApiResult<Json<MemberDto>> {
    let row = state
        .app
        .change_role(
            &s.actor,
            AccountId(account),
            MembershipId(member),
            &req.role,
        )
        .await?;
    Ok(Json((&row).into()))
}

/// What happens to the credentials a departing member made.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DepartureQuery {
    /// An active member who holds every scope of the departing member's API keys, OAuth grants
    /// and apps: they are handed over instead of stopping.
    pub transfer_credentials_to: Option<Uuid>,
}

/// Deactivate a member: their access to this account ends at once, and the credentials they
/// made (API keys, OAuth grants, apps' client credentials) act with nothing until they are
/// reactivated — unless handed to `transfer_credentials_to`.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/members/{member_id}/deactivate", tag = "members",
    params(("account_id" = Uuid, Path), ("member_id" = Uuid, Path), DepartureQuery), responses((status = 200, body = MemberDto), (status = "4XX", body = ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, m)): Path<(Uuid, Uuid)>,
    Query(q): Query<DepartureQuery>,
) -> ApiResult<Json<MemberDto>> {
    let row = state
        .app
        .set_member_active(
            &s.actor,
            AccountId(a),
            MembershipId(m),
            false,
            q.transfer_credentials_to.map(MembershipId),
        )
        .await?;
    Ok(Json((&row).into()))
}

/// Reactivate a deactivated member.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/members/{member_id}/reactivate", tag = "members",
    params(("account_id" = Uuid, Path), ("member_id" = Uuid, Path)), responses((status = 200, body = MemberDto), (status = "4XX", body = ErrorBody)))]
pub async fn reactivate(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, m)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<MemberDto>> {
    let row = state
        .app
        .set_member_active(&s.actor, AccountId(a), MembershipId(m), true, None)
        .await?;
    Ok(Json((&row).into()))
}

/// Remove a member or withdraw an invitation. The API keys and OAuth grants the member made are
/// revoked and their apps' client credentials stop (each audited, the Security Contact told) —
/// unless handed to `transfer_credentials_to`.
#[utoipa::path(delete, path = "/api/v1/accounts/{account_id}/members/{member_id}", operation_id = "remove_member", tag = "members",
    params(("account_id" = Uuid, Path), ("member_id" = Uuid, Path), DepartureQuery), responses((status = 204, description = "Removed"), (status = "4XX", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path((a, m)): Path<(Uuid, Uuid)>,
    Query(q): Query<DepartureQuery>,
) -> ApiResult<StatusCode> {
    state
        .app
        .remove_member(
            &s.actor,
            AccountId(a),
            MembershipId(m),
            q.transfer_credentials_to.map(MembershipId),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Built-in and custom roles of the account.
#[utoipa::path(get, path = "/api/v1/accounts/{account_id}/roles", tag = "roles", params(("account_id" = Uuid, Path)),
    responses((status = 200, body = Vec<RoleDto>), (status = 404, body = ErrorBody)))]
pub async fn list_roles(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<RoleDto>>> {
    let custom = state
        .app
        .list_roles(&caller.caller(), AccountId(id))
        .await?;
    let mut out: Vec<RoleDto> = BuiltinRole::CUSTOMER
        .into_iter()
        .map(RoleDto::builtin)
        .collect();
    out.extend(custom.iter().map(RoleDto::custom));
    Ok(Json(out))
}

/// Create a custom role; it may only carry permissions the caller holds.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/roles", tag = "roles", params(("account_id" = Uuid, Path)),
    request_body = CreateRoleRequest, responses((status = 201, body = RoleDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_role(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<CreateRoleRequest>,
) -> ApiResult<(StatusCode, Json<RoleDto>)> {
    let row = state
        .app
        .create_role(&s.actor, AccountId(id), &req.name, &req.permissions)
        .await?;
    Ok((StatusCode::CREATED, Json(RoleDto::custom(&row))))
}

/// The Owner hands ownership to an active member and becomes Admin.
#[utoipa::path(post, path = "/api/v1/accounts/{account_id}/ownership-transfer", tag = "members", params(("account_id" = Uuid, Path)),
    request_body = TransferRequest, responses((status = 200, body = MemberDto), (status = "4XX", body = ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    ApiSession(s): ApiSession,
    Path(id): Path<Uuid>,
    Json(req): Json<TransferRequest>,
) -> ApiResult<Json<MemberDto>> {
    let row = state
        .app
        .transfer_ownership(&s.actor, AccountId(id), MembershipId(req.member_id))
        .await?;
    Ok(Json((&row).into()))
}
