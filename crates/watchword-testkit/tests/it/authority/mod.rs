//! The authority room as insiders try it, on SQLite and PostgreSQL: credentials act within their
//! maker's current permissions (demoted: they shrink; removed: they stop, or move to whom the
//! remover names), and SSO cannot be turned against the people it signs in (`sso`).

mod credentials;
mod edges;
mod matrix;
mod sso;
