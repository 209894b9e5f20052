//! Pure rules of watchword: validated types, permissions, roles, grant rules and the
//! password policy. No IO here: every function that needs the time takes it as an argument.

pub mod access_review;
pub mod api_key;
pub mod audit;
pub mod contact;
pub mod endpoint;
pub mod error;
pub mod ids;
pub mod mfa;
pub mod oauth;
pub mod password;
pub mod permission;
pub mod policy;
pub mod posture;
pub mod report;
pub mod role;
pub mod saml_xml;
pub mod scope;
pub mod sealed;
pub mod session;
pub mod sms;
pub mod sso;
pub mod text;
pub mod time;
pub mod token;

pub use error::{DomainError, FieldError};
pub use ids::*;
pub use permission::{Permission, PermissionSet};
pub use role::{BuiltinRole, MembershipStatus, Plan, RoleRef};
pub use text::{AccountName, EmailAddress, PersonName};
pub use time::Millis;
