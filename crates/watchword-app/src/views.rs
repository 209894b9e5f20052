//! The read models the API and the console show. They are the store's row types, re-exported
//! here so that the HTTP crate depends on `app` and `domain` only: it can read what a use case
//! returns, and it cannot reach a query.

pub use watchword_store::access_reviews::ReviewRow;
pub use watchword_store::api_keys::KeySettings;
pub use watchword_store::audit::{EventRow, Filter as AuditFilter};
pub use watchword_store::contacts::HistoryRow;
pub use watchword_store::invitations::InvitationPreview;
pub use watchword_store::recovery::RecoveryRow;
pub use watchword_store::rows::{AccountRow, MemberRow, RoleRow, SessionRow};
