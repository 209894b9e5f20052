//! SCIM 2.0 for an account's IdP: `/scim/v2/accounts/{account_id}/…`, authenticated by the
//! account's SCIM token alone, answering `application/scim+json` with RFC 7644 errors.

use crate::AppState;
use crate::extract::ClientMeta;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;
use watchword_app::scim::{
    ListQuery, PatchRequest, Resource, ScimCaller, ScimError, SearchRequest,
};
use watchword_domain::AccountId;

const CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub fn router() -> Router<AppState> {
    let base = "/scim/v2/accounts/{account_id}";
    Router::new()
        .route(
            &format!("{base}/ServiceProviderConfig"),
            get(service_provider_config),
        )
        .route(&format!("{base}/Schemas"), get(schemas))
        .route(&format!("{base}/Schemas/{{id}}"), get(schema))
        .route(&format!("{base}/ResourceTypes"), get(resource_types))
        .route(&format!("{base}/ResourceTypes/{{id}}"), get(resource_type))
        .route(&format!("{base}/.search"), post(search_all))
        .route(&format!("{base}/{{resource}}"), get(list_of).post(create))
        .route(&format!("{base}/{{resource}}/.search"), post(search_of))
        .route(
            &format!("{base}/{{resource}}/{{id}}"),
            get(get_one).put(replace).patch(patch).delete(delete),
        )
}

/// A SCIM error answer.
pub struct Failure(ScimError);

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": e.status.to_string(),
            "detail": e.detail,
        });
        if let Some(t) = e.scim_type {
            body["scimType"] = json!(t);
        }
        let mut r = (
            status,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"watchword SCIM\""),
            );
        }
        r
    }
}

type Answer = Result<Response, Failure>;

fn ok(status: StatusCode, doc: Value) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        doc.to_string(),
    )
        .into_response();
    if let Some(v) = doc["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        r.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(l) = doc["meta"]["location"]
            .as_str()
            .and_then(|v| HeaderValue::from_str(v).ok())
    {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// The SCIM token of the request (its only extractor): a bearer key of the SCIM kind.
pub struct Scim(pub ScimCaller);

impl<S: Send + Sync> FromRequestParts<S> for Scim
where
    AppState: FromRef<S>,
{
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let app_state = AppState::from_ref(state);
        let ClientMeta(meta) = ClientMeta::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimError::new(400, None, "bad request"))?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| {
                ScimError::new(
                    401,
                    None,
                    "a SCIM token is required (Authorization: Bearer)",
                )
            })?;
        let caller = app_state
            .app
            .verify_scim_token(token, &meta)
            .await
            .map_err(ScimError::from)?;
        Ok(Scim(caller))
    }
}

fn account(id: Uuid) -> AccountId {
    AccountId(id)
}

fn body_json(body: &Bytes) -> Result<Value, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        Failure(ScimError::new(
            400,
            Some("invalidSyntax"),
            format!("the body is not valid JSON: {e}"),
        ))
    })
}

fn patch_request(body: &Bytes) -> Result<PatchRequest, Failure> {
    serde_json::from_value(body_json(body)?).map_err(|e| {
        Failure(ScimError::new(
            400,
            Some("invalidSyntax"),
            format!("not a PatchOp: {e}"),
        ))
    })
}

fn if_match(h: &HeaderMap) -> Option<&str> {
    h.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

/// Every discovery answer needs the token of the account, like the rest.
async fn discovery(state: &AppState, caller: &ScimCaller, id: Uuid) -> Result<(), Failure> {
    state.app.scim_check(caller, account(id)).await?;
    Ok(())
}

async fn service_provider_config(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path(id): Path<Uuid>,
) -> Answer {
    discovery(&state, &caller, id).await?;
    Ok(ok(
        StatusCode::OK,
        crate::scim_schemas::service_provider_config(&state.app.scim_base_url(account(id))),
    ))
}

async fn schemas(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path(id): Path<Uuid>,
) -> Answer {
    discovery(&state, &caller, id).await?;
    let all = crate::scim_schemas::schemas(&state.app.scim_base_url(account(id)));
    Ok(ok(StatusCode::OK, list(all)))
}

async fn schema(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, urn)): Path<(Uuid, String)>,
) -> Answer {
    discovery(&state, &caller, id).await?;
    crate::scim_schemas::schemas(&state.app.scim_base_url(account(id)))
        .into_iter()
        .find(|s| s["id"] == urn.as_str())
        .map(|s| ok(StatusCode::OK, s))
        .ok_or_else(|| Failure(ScimError::new(404, None, "no such schema")))
}

async fn resource_types(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path(id): Path<Uuid>,
) -> Answer {
    discovery(&state, &caller, id).await?;
    Ok(ok(
        StatusCode::OK,
        list(crate::scim_schemas::resource_types(
            &state.app.scim_base_url(account(id)),
        )),
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, name)): Path<(Uuid, String)>,
) -> Answer {
    discovery(&state, &caller, id).await?;
    crate::scim_schemas::resource_types(&state.app.scim_base_url(account(id)))
        .into_iter()
        .find(|s| s["id"] == name.as_str())
        .map(|s| ok(StatusCode::OK, s))
        .ok_or_else(|| Failure(ScimError::new(404, None, "no such resource type")))
}

fn list(items: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

/// A query string SCIM clients send; a malformed one is SCIM's 400, not axum's.
fn list_query(
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ListQuery, Failure> {
    q.map(|Query(q)| q)
        .map_err(|e| Failure(ScimError::new(400, Some("invalidValue"), e.body_text())))
}

/// `Users` or `Groups` in the path; anything else is a SCIM 404.
fn resource(name: &str) -> Result<Resource, Failure> {
    Resource::parse(name).ok_or_else(|| Failure(ScimError::new(404, None, "no such SCIM endpoint")))
}

async fn list_of(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r)): Path<(Uuid, String)>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (r, q) = (resource(&r)?, list_query(q)?);
    let doc = state.app.scim_list(r, &caller, account(id), &q).await?;
    Ok(ok(StatusCode::OK, doc))
}

async fn get_one(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r, one)): Path<(Uuid, String, String)>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (r, q) = (resource(&r)?, list_query(q)?);
    let doc = state
        .app
        .scim_get(r, &caller, account(id), &one, &q)
        .await?;
    Ok(ok(StatusCode::OK, doc))
}

async fn create(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r)): Path<(Uuid, String)>,
    body: Bytes,
) -> Answer {
    let (r, body) = (resource(&r)?, body_json(&body)?);
    let doc = state
        .app
        .scim_create(r, &caller, account(id), &body)
        .await?;
    Ok(ok(StatusCode::CREATED, doc))
}

async fn replace(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r, one)): Path<(Uuid, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let (r, body) = (resource(&r)?, body_json(&body)?);
    let doc = state
        .app
        .scim_replace(r, &caller, account(id), &one, &body, if_match(&headers))
        .await?;
    Ok(ok(StatusCode::OK, doc))
}

async fn patch(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r, one)): Path<(Uuid, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let (r, req) = (resource(&r)?, patch_request(&body)?);
    let doc = state
        .app
        .scim_patch(r, &caller, account(id), &one, &req, if_match(&headers))
        .await?;
    Ok(ok(StatusCode::OK, doc))
}

async fn delete(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r, one)): Path<(Uuid, String, String)>,
    headers: HeaderMap,
) -> Answer {
    let r = resource(&r)?;
    state
        .app
        .scim_delete(r, &caller, account(id), &one, if_match(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn search(
    state: &AppState,
    caller: &ScimCaller,
    id: Uuid,
    what: Option<Resource>,
    body: &Bytes,
) -> Answer {
    let req: SearchRequest = serde_json::from_value(body_json(body)?).map_err(|e| {
        Failure(ScimError::new(
            400,
            Some("invalidSyntax"),
            format!("not a SearchRequest: {e}"),
        ))
    })?;
    let doc = state
        .app
        .scim_search(caller, account(id), what, req.query())
        .await?;
    Ok(ok(StatusCode::OK, doc))
}

async fn search_all(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Answer {
    search(&state, &caller, id, None, &body).await
}

async fn search_of(
    State(state): State<AppState>,
    Scim(caller): Scim,
    Path((id, r)): Path<(Uuid, String)>,
    body: Bytes,
) -> Answer {
    let r = resource(&r)?;
    search(&state, &caller, id, Some(r), &body).await
}
