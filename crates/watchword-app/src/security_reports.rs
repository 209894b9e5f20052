//! Reports of suspicious activity: any member reports what they saw (a phishing email, an
//! unexpected password prompt, odd behaviour) with the sender, raw headers and screenshots or the
//! message itself; the report goes to the account's Security Contact and the operator's security
//! inbox, and Owners and Admins (`users:manage`) follow it up (open → acknowledged → resolved,
//! with a note). Headers and attachments are sealed with the keyring; attachments are checked by
//! content and only ever served as downloads.

use crate::events::{self, EventExt};
use crate::limits::Limit;
use crate::mail::{self, SecurityReportEmail};
use crate::{Actor, App, AppError};
use sha2::Digest;
use watchword_domain::audit::AuditAction;
use watchword_domain::report::{
    self, ATTACHMENTS_MAX_BYTES, ATTACHMENTS_MAX_COUNT, ReportKind, ReportStatus, SENDER_MAX,
};
use watchword_domain::{AccountId, DomainError, Permission};
use watchword_store::audit;
use watchword_store::security_reports::{self as store, AttachmentRow, NewReport, ReportRow};

/// Reports one person may send in an hour, across accounts.
pub const REPORTS_PER_PERSON: Limit = Limit::new("security-report-person", 10, 3600);
/// The most reports a list shows.
const LIST_MAX: i64 = 500;

pub struct NewAttachment {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What a member reports, as received.
pub struct ReportInput {
    pub kind: String,
    pub description: String,
    pub sender: Option<String>,
    pub headers: Option<String>,
    pub attachments: Vec<NewAttachment>,
}

pub struct Report {
    pub row: ReportRow,
    /// The raw headers, opened (only when read one by one).
    pub headers: Option<String>,
    pub attachments: Vec<AttachmentRow>,
}

/// An attachment to serve: its name, what its content is, and the bytes.
pub struct AttachmentFile {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

struct Checked {
    kind: ReportKind,
    description: String,
    sender: Option<String>,
    headers: Option<String>,
    attachments: Vec<(String, &'static str, Vec<u8>)>,
}

fn check(input: ReportInput) -> Result<Checked, DomainError> {
    let kind = ReportKind::parse(input.kind.trim()).ok_or_else(|| {
        DomainError::field(
            "invalid_kind",
            "kind",
            "one of phishing_email, unexpected_password_prompt, odd_account_behaviour, other",
        )
    })?;
    let description = report::description(&input.description)?;
    let sender = match input.sender.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) if s.chars().count() <= SENDER_MAX && !s.chars().any(char::is_control) => {
            Some(s.to_owned())
        }
        Some(_) => {
            return Err(DomainError::field(
                "invalid_sender",
                "sender",
                format!("the sender's address as shown, at most {SENDER_MAX} characters"),
            ));
        }
    };
    let headers = report::headers(input.headers.as_deref().unwrap_or_default())?;
    if input.attachments.len() > ATTACHMENTS_MAX_COUNT {
        return Err(DomainError::field(
            "too_many_attachments",
            "attachments",
            format!("at most {ATTACHMENTS_MAX_COUNT} attachments"),
        ));
    }
    let total: usize = input.attachments.iter().map(|a| a.bytes.len()).sum();
    if total > ATTACHMENTS_MAX_BYTES {
        return Err(DomainError::field(
            "attachments_too_large",
            "attachments",
            "attachments may hold 5 MiB in all",
        ));
    }
    let mut attachments = Vec::with_capacity(input.attachments.len());
    for a in input.attachments {
        let name = report::filename(&a.filename)?;
        let content_type = report::sniff(&name, &a.bytes)?;
        attachments.push((name, content_type, a.bytes));
    }
    Ok(Checked {
        kind,
        description,
        sender,
        headers,
        attachments,
    })
}

impl App {
    /// Whether the actor is a member who may report (404 otherwise): never held back by the
    /// account's MFA or SSO-only policy.
    pub async fn member_access(&self, actor: &Actor, account: AccountId) -> Result<(), AppError> {
        let mut c = self.store().read().await?;
        self.membership(&mut c, actor, account).await?;
        Ok(())
    }

    /// A member reports suspicious activity in the account.
    #[tracing::instrument(skip_all, fields(account = %account, person = %actor.person))]
    pub async fn report_suspicious_activity(
        &self,
        actor: &Actor,
        account: AccountId,
        input: ReportInput,
    ) -> Result<Report, AppError> {
        // Membership first: to anyone else the account is not there, whatever they send.
        let acc = {
            let mut c = self.store().read().await?;
            self.membership(&mut c, actor, account).await?.account
        };
        let checked = check(input)?;
        let person = actor.person.to_string();
        self.take_slot(&[(REPORTS_PER_PERSON, &person)], |_| {
            AppError::RateLimited(
                "too_many_reports",
                "too many reports in the last hour; try again later".into(),
            )
        })
        .await?;
        let now = self.now();
        let id = format!("rpt_{}", uuid::Uuid::now_v7().simple());
        let keyring = self.keyring();
        let keyring = &*keyring;
        let headers_sealed = checked
            .headers
            .as_ref()
            .map(|h| keyring.seal(h.as_bytes(), &id));
        let mut tx = self.store().begin().await?;
        store::insert(
            &mut tx,
            &NewReport {
                id: &id,
                account,
                reporter: &person,
                reporter_email: &actor.email,
                kind: checked.kind.as_str(),
                description: &checked.description,
                sender: checked.sender.as_deref(),
                headers_sealed: headers_sealed
                    .as_ref()
                    .map(|(k, s)| (k.as_str(), s.as_slice())),
            },
            now,
        )
        .await?;
        let mut attachments = Vec::new();
        for (name, content_type, bytes) in &checked.attachments {
            let aid = format!("att_{}", uuid::Uuid::now_v7().simple());
            let (key_id, sealed) = keyring.seal(bytes, &aid);
            let row = AttachmentRow {
                id: aid,
                report_id: id.clone(),
                filename: name.clone(),
                content_type: (*content_type).to_owned(),
                size: bytes.len() as i64,
                sha256: hex::encode(sha2::Sha256::digest(bytes)),
                content_sealed: sealed,
                key_id,
            };
            store::insert_attachment(&mut tx, account, &row, now).await?;
            attachments.push(AttachmentRow {
                content_sealed: Vec::new(),
                ..row
            });
        }
        let event = events::by_actor(actor, account, AuditAction::SecurityReportSubmitted)
            .target("security_report", &id)
            .details(serde_json::json!({
                "kind": checked.kind.as_str(),
                "sender": checked.sender,
                "attachments": attachments.len(),
                "headers": checked.headers.is_some(),
            }));
        audit::append(&mut tx, &event, now).await?;
        let names: Vec<String> = attachments
            .iter()
            .map(|a| {
                format!(
                    "{} ({}, {} bytes, SHA-256 {})",
                    a.filename, a.content_type, a.size, a.sha256
                )
            })
            .collect();
        let link = format!(
            "{}/accounts/{account}/security-reports",
            self.settings().public_url.trim_end_matches('/')
        );
        let account_id = account.to_string();
        let email = SecurityReportEmail {
            account: &acc.name,
            account_id: &account_id,
            kind: checked.kind.label(),
            reporter: &actor.email,
            at: now,
            description: &checked.description,
            sender: checked.sender.as_deref(),
            headers: checked.headers.as_deref(),
            attachments: &names,
            link: &link,
        };
        let mut to: Vec<String> = Vec::new();
        if let Some(m) = self.contact_member(&mut tx, account).await? {
            to.push(m.email);
        }
        if let Some(inbox) = &self.settings().security_reports_to
            && !to.contains(inbox)
        {
            to.push(inbox.clone());
        }
        for addr in &to {
            mail::enqueue(&mut tx, Some(account), addr, &email, now).await?;
        }
        let row = store::get(&mut tx, account, &id)
            .await?
            .ok_or_else(|| AppError::internal("report just written is missing"))?;
        tx.commit().await?;
        self.committed();
        Ok(Report {
            row,
            headers: checked.headers,
            attachments,
        })
    }

    async fn report_reader(
        &self,
        c: &mut watchword_store::Conn,
        actor: &Actor,
        account: AccountId,
    ) -> Result<(), AppError> {
        let access = self.access(&mut *c, actor, account).await?;
        access.require(Permission::UsersManage)?;
        Ok(())
    }

    /// The account's reports, newest first, with their attachments' names (Owners and Admins).
    pub async fn security_reports(
        &self,
        actor: &Actor,
        account: AccountId,
    ) -> Result<Vec<Report>, AppError> {
        let mut c = self.store().read().await?;
        self.report_reader(&mut c, actor, account).await?;
        let rows = store::list(&mut c, account, LIST_MAX).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut attachments = store::attachments_of(&mut c, account, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (mine, rest): (Vec<_>, Vec<_>) =
                    attachments.drain(..).partition(|a| a.report_id == row.id);
                attachments = rest;
                Report {
                    row,
                    headers: None,
                    attachments: mine,
                }
            })
            .collect())
    }

    /// One report with its headers opened (Owners and Admins).
    pub async fn security_report(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
    ) -> Result<Report, AppError> {
        let mut c = self.store().read().await?;
        self.report_reader(&mut c, actor, account).await?;
        let row = store::get(&mut c, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let headers = match (&row.headers_sealed, &row.key_id) {
            (Some(sealed), Some(key)) => Some(
                self.open_sealed(key, sealed, &row.id)
                    .map_err(|_| AppError::internal("report headers do not open"))?,
            )
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        };
        let attachments =
            store::attachments_of(&mut c, account, std::slice::from_ref(&row.id)).await?;
        Ok(Report {
            row,
            headers,
            attachments,
        })
    }

    /// Moves a report to `status` with a note (audited `security_report.updated`).
    pub async fn update_security_report(
        &self,
        actor: &Actor,
        account: AccountId,
        id: &str,
        status: &str,
        note: &str,
    ) -> Result<Report, AppError> {
        let mut tx = self.store().begin().await?;
        self.report_reader(&mut tx, actor, account).await?;
        let row = store::get(&mut tx, account, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let status = ReportStatus::parse(status.trim()).ok_or_else(|| {
            DomainError::field("invalid_status", "status", "open, acknowledged or resolved")
        })?;
        let note = report::note(note)?;
        let now = self.now();
        store::set_status(&mut tx, id, status.as_str(), &note, &actor.email, now).await?;
        let event = events::by_actor(actor, account, AuditAction::SecurityReportUpdated)
            .target("security_report", id)
            .details(serde_json::json!({
                "from": row.status, "status": status.as_str(), "note": note,
            }));
        audit::append(&mut tx, &event, now).await?;
        tx.commit().await?;
        self.security_report(actor, account, id).await
    }

    /// An attachment's bytes, opened (Owners and Admins; 404 outside its report and account).
    pub async fn security_report_attachment(
        &self,
        actor: &Actor,
        account: AccountId,
        report_id: &str,
        id: &str,
    ) -> Result<AttachmentFile, AppError> {
        let mut c = self.store().read().await?;
        self.report_reader(&mut c, actor, account).await?;
        let a = store::attachment_content(&mut c, account, report_id, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let bytes = self
            .open_sealed(&a.key_id, &a.content_sealed, &a.id)
            .map_err(|_| AppError::internal("attachment does not open"))?;
        Ok(AttachmentFile {
            filename: a.filename,
            content_type: a.content_type,
            bytes,
        })
    }
}
