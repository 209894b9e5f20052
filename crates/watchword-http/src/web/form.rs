//! The console's form extractors: the one place a form post is checked before its handler runs.
//!
//! - [`SignedForm`]: a signed-in person's form: the session (else to the login page), the same
//!   origin and the session's CSRF token (else 403), then the fields as `T`.
//! - [`SiteForm`]: a form anyone may send (login, signup, reset): the same origin, then `T`.
//!
//! Fields are read with `serde_urlencoded`; a form with repeated fields takes `Fields`.

use super::{same_origin, to_login};
use crate::AppState;
use crate::extract::Session;
use axum::body::Bytes;
use axum::extract::{
    FromRequest, FromRequestParts, OptionalFromRequestParts, RawPathParams, Request,
};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use uuid::Uuid;
use watchword_domain::AccountId;

/// A form's fields in order, repeated ones included.
pub type Fields = Vec<(String, String)>;

/// The value of a field of `Fields` (empty when absent).
pub fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

pub fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "request refused: it did not come from this site's own form",
    )
        .into_response()
}

/// A signed-in person's form post, checked: session, same origin, CSRF token.
pub struct SignedForm<T> {
    pub session: Session,
    pub form: T,
}

/// A signed-in person's form to a page of one account (`/accounts/{account_id}/…`), checked
/// as [`SignedForm`]: the session, the account and the fields.
pub struct AccountForm<T>(pub Session, pub AccountId, pub T);

/// A form post from this site, signed in or not.
pub struct SiteForm<T>(pub T);

async fn body(req: Request, state: &AppState) -> Result<Bytes, Response> {
    Bytes::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)
}

// The refusal is the response itself, as every extractor's rejection is.
#[allow(clippy::result_large_err)]
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the form could not be read: {e}"),
        )
            .into_response()
    })
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, b) = req.into_parts();
        let session =
            <Session as OptionalFromRequestParts<AppState>>::from_request_parts(&mut parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let Some(session) = session else {
            return Err(to_login());
        };
        if !same_origin(&parts.headers) {
            return Err(forbidden());
        }
        let bytes = body(Request::from_parts(parts, b), state).await?;
        let fields: Fields = parse(&bytes)?;
        if !session.csrf_ok(Some(field(&fields, "csrf_token"))) {
            return Err(forbidden());
        }
        Ok(Self {
            session,
            form: parse(&bytes)?,
        })
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AccountForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, b) = req.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let account = params
            .iter()
            .find(|(k, _)| *k == "account_id")
            .and_then(|(_, v)| Uuid::parse_str(v).ok())
            .map(AccountId)
            .ok_or_else(|| StatusCode::NOT_FOUND.into_response())?;
        let SignedForm { session, form } =
            SignedForm::from_request(Request::from_parts(parts, b), state).await?;
        Ok(Self(session, account, form))
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SiteForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        if !same_origin(req.headers()) {
            return Err(forbidden());
        }
        Ok(Self(parse(&body(req, state).await?)?))
    }
}

/// A form with no fields besides its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct Submit {}

/// What a person typed into a form that a server-side error refused, shown again so nothing has
/// to be retyped — never a secret: password fields and the CSRF token are not kept.
#[derive(Debug, Clone, Default)]
pub struct Kept(Fields, Vec<(&'static str, String)>);

/// Fields never shown back.
const SECRET_FIELDS: [&str; 5] = [
    "password",
    "current_password",
    "new_password",
    "csrf_token",
    "reauth_code",
];

impl Kept {
    pub fn of(f: &Fields) -> Self {
        Self(
            f.iter()
                .filter(|(k, _)| !SECRET_FIELDS.contains(&k.as_str()))
                .cloned()
                .collect(),
            Vec::new(),
        )
    }

    /// What was typed, and the error that refused it put next to its field when it names one.
    pub fn refused(f: &Fields, e: &watchword_app::AppError) -> Self {
        let mut kept = Self::of(f);
        if let watchword_app::AppError::Domain(watchword_domain::DomainError::Invalid {
            fields,
            ..
        }) = e
        {
            kept.1 = fields
                .iter()
                .map(|x| (x.field, x.message.clone()))
                .collect();
        }
        kept
    }

    /// The error of field `name`, if the server refused it.
    pub fn error(&self, name: &str) -> Option<&str> {
        self.1
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.as_str())
    }

    /// The typed value of a field, or `default` when the form was not sent.
    pub fn get<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        if self.0.is_empty() {
            return default;
        }
        field(&self.0, name)
    }

    /// Whether a checkbox or radio `name` had `value` (else whether `default` holds, when the
    /// form was not sent).
    pub fn has(&self, name: &str, value: &str, default: bool) -> bool {
        if self.0.is_empty() {
            return default;
        }
        self.0.iter().any(|(k, v)| k == name && v == value)
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;

    #[test]
    fn kept_forms_drop_secrets() {
        let f = vec![
            ("name".to_owned(), "Sync".to_owned()),
            ("password".to_owned(), "hunter2 hunter2".to_owned()),
            ("scopes".to_owned(), "members:read".to_owned()),
            ("scopes".to_owned(), "keys:read".to_owned()),
        ];
        let k = Kept::of(&f);
        assert_eq!(k.get("name", ""), "Sync");
        assert_eq!(k.get("password", "x"), "");
        assert!(k.has("scopes", "keys:read", false));
        assert!(!k.has("scopes", "keys:write", true));
        assert!(Kept::default().has("preset", "read_only", true));
        assert_eq!(Kept::default().get("name", "Acme"), "Acme");
    }
}
