//! The integration suite: one binary (one link of the whole app), a module per capability. Each
//! test starts a real watchword server on port 0 with its own database, and runs on SQLite and
//! on PostgreSQL (`both_backends!`); shared helpers live in the testkit crate.

mod access_review;
mod advisories;
mod api_keys;
mod audit_mail;
mod audit_streams;
mod auth;
mod authority;
mod backup;
mod console;
mod console_dead_ends;
mod console_forms;
mod console_keys;
mod console_pages;
mod console_security;
mod contact;
mod crash;
mod devices;
mod email_change;
mod hardening;
mod isolation;
mod login_throttle;
mod members;
mod metrics;
mod mfa;
mod migrations;
mod nodes;
mod oauth;
mod operator_cli;
mod passkeys;
mod policies;
mod posture;
mod scan;
mod security_reports;
mod sms;
mod sso;
mod startup;
mod topology;
mod upgrade;
