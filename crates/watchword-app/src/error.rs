use watchword_domain::DomainError;
use watchword_store::StoreError;

/// What a use case can answer besides success. The HTTP layer maps each to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Missing, or belonging to another account (indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthenticated,
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    /// A presented API key that does not authenticate.
    #[error("API key rejected: {0:?}")]
    ApiKey(crate::api_keys::KeyRejected),
    /// A second-factor code (or challenge) that does not check out.
    #[error("the code is incorrect or expired")]
    InvalidCode,
    /// Too many failed codes lately, for this person or from this address.
    #[error("too many failed attempts; wait and try again")]
    TooManyAttempts,
    /// Too many messages asked for lately (e.g. SMS codes); `0` is the stable code.
    #[error("{1}")]
    RateLimited(&'static str, String),
    /// The database is away (a failover, a restart): worth retrying shortly.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(msg: impl Into<String>) -> Self {
        AppError::Internal(msg.into())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            AppError::Unavailable(e.to_string())
        } else {
            AppError::Internal(e.to_string())
        }
    }
}

impl From<watchword_store::SqlxError> for AppError {
    fn from(e: watchword_store::SqlxError) -> Self {
        AppError::from(StoreError::from(e))
    }
}
