//! Operator commands that run without a server: jobs and staff grants.

use watchword::Config;
use watchword_domain::{AccountId, Millis};

pub enum Staff {
    Grant {
        account_id: String,
        email: String,
        expires: Option<String>,
    },
    Revoke {
        account_id: String,
        email: String,
    },
}

fn instant(flag: &str, v: &str) -> Result<Millis, String> {
    Millis::parse_rfc3339(v).ok_or_else(|| {
        format!("{flag} must be an RFC 3339 time such as 2027-01-31T00:00:00Z, not {v:?}")
    })
}

fn account(id: &str) -> Result<AccountId, String> {
    AccountId::parse(id).ok_or_else(|| format!("{id:?} is not an account id"))
}

fn app_error(e: watchword_app::AppError) -> String {
    match e {
        watchword_app::AppError::NotFound => "no such account or member".into(),
        other => other.to_string(),
    }
}

/// The reminders of credentials about to expire and of factor policies about to start, due at
/// `as_of` (now by default); mail is delivered before it returns.
pub async fn reminders(config: &Config, as_of: Option<&str>) -> Result<(), String> {
    let as_of = as_of
        .map(|v| instant("--as-of", v))
        .transpose()?
        .unwrap_or_else(Millis::now);
    let app = watchword::offline_app(config).await?;
    let keys = app.expiry_reminders_once(as_of).await.map_err(app_error)?;
    let certificates = app
        .saml_certificate_warnings_once(as_of)
        .await
        .map_err(app_error)?
        .len();
    let notices = app
        .factor_policy_notices_once(as_of)
        .await
        .map_err(app_error)?;
    let outbound = watchword::outbound(config)?;
    while app
        .dispatch_outbox_once(&outbound)
        .await
        .map_err(|e| e.to_string())?
        > 0
    {}
    println!(
        "expiry reminders: {keys} keys, {certificates} SAML certificates; factor policy notices: {notices}"
    );
    Ok(())
}

pub async fn contact_check(
    config: &Config,
    as_of: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<(), String> {
    let as_of = as_of
        .map(|v| instant("--as-of", v))
        .transpose()?
        .unwrap_or_else(Millis::now);
    let app = watchword::offline_app(config).await?;
    let report = app
        .contact_check_once(as_of, dry_run)
        .await
        .map_err(app_error)?;
    if !dry_run {
        // Deliver what the check queued; a running server would also pick it up.
        let outbound = watchword::outbound(config)?;
        while app
            .dispatch_outbox_once(&outbound)
            .await
            .map_err(|e| e.to_string())?
            > 0
        {}
    }
    if json {
        let out = serde_json::json!({
            "as_of": as_of.rfc3339(),
            "dry_run": dry_run,
            "reverted": report.reverted.iter().map(|r| serde_json::json!({
                "account_id": r.account, "account_name": r.account_name, "previous_contact": r.previous_email,
                "new_contact": r.new_email, "reasons": r.reasons,
            })).collect::<Vec<_>>(),
            "warned": report.warned.iter().map(|w| serde_json::json!({
                "account_id": w.account, "account_name": w.account_name, "contact": w.contact_email, "lapses_at": w.lapses_at.rfc3339(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    let verb = if dry_run { "would revert" } else { "reverted" };
    println!(
        "security contact check as of {}{}",
        as_of.rfc3339(),
        if dry_run {
            " (dry run: nothing changed or sent)"
        } else {
            ""
        }
    );
    println!(
        "{:<38} {:<24} {:<30} {:<30} reasons",
        "account", "action", "previous contact", "new contact"
    );
    for r in &report.reverted {
        println!(
            "{:<38} {:<24} {:<30} {:<30} {}",
            r.account,
            verb,
            r.previous_email.as_deref().unwrap_or("-"),
            r.new_email,
            r.reasons.join(",")
        );
    }
    for w in &report.warned {
        let what = if dry_run { "would warn" } else { "warned" };
        println!(
            "{:<38} {:<24} {:<30} {:<30} lapses {}",
            w.account,
            what,
            w.contact_email,
            "-",
            w.lapses_at.rfc3339()
        );
    }
    println!(
        "{} reverted, {} warned",
        report.reverted.len(),
        report.warned.len()
    );
    Ok(())
}

pub async fn staff(config: &Config, cmd: Staff) -> Result<(), String> {
    let app = watchword::offline_app(config).await?;
    match cmd {
        Staff::Grant {
            account_id,
            email,
            expires,
        } => {
            let expires = expires.map(|e| instant("--expires", &e)).transpose()?;
            let id = app
                .grant_staff(account(&account_id)?, &email, expires)
                .await
                .map_err(app_error)?;
            println!(
                "granted staff_access to {email} in {account_id} (membership {id}){}",
                expires
                    .map(|e| format!(" until {}", e.rfc3339()))
                    .unwrap_or_default()
            );
        }
        Staff::Revoke { account_id, email } => {
            app.revoke_staff(account(&account_id)?, &email)
                .await
                .map_err(app_error)?;
            println!("revoked staff access of {email} in {account_id}");
        }
    }
    Ok(())
}

/// What `watchword apps` does.
pub enum Apps {
    Create(watchword_app::oauth::NewApp),
    List { json: bool },
    Disable { client_id: String, disabled: bool },
}

/// `watchword accounts list` (every account) and `accounts show ID`: a line each (id, plan,
/// name, Owner, Security Contact, active members), or JSON with `--json`.
pub async fn accounts(config: &Config, only: Option<&str>, json: bool) -> Result<(), String> {
    let id = match only {
        Some(s) => Some(
            watchword_domain::AccountId::parse(s)
                .ok_or_else(|| format!("{s:?} is not an account id (a UUID)"))?,
        ),
        None => None,
    };
    let app = watchword::offline_app(config).await?;
    let all = app.operator_accounts(id).await.map_err(app_error)?;
    if only.is_some() && all.is_empty() {
        return Err(format!("no account {}", only.unwrap_or_default()));
    }
    for a in &all {
        if json {
            let line = serde_json::json!({
                "id": a.account.id.to_string(), "name": a.account.name,
                "plan": a.account.plan.as_str(), "created_at": a.account.created_at.rfc3339(),
                "owner": a.owner, "security_contact": a.contact, "members": a.members,
                "mfa_required": a.account.enforces_mfa(), "sso_required": a.account.sso_required,
            });
            println!("{line}");
        } else {
            println!(
                "{}\t{}\t{}\towner {}\tcontact {}\t{} member{}",
                a.account.id,
                a.account.plan.as_str(),
                a.account.name,
                a.owner.as_deref().unwrap_or("-"),
                a.contact.as_deref().unwrap_or("-"),
                a.members,
                if a.members == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

/// `watchword apps create|list|disable`: the operator's catalogue of OAuth apps.
pub async fn apps(config: &Config, op: Apps) -> Result<(), String> {
    let app = watchword::offline_app(config).await?;
    match op {
        Apps::Create(new) => {
            let (a, secret) = app.create_catalogue_app(new).await.map_err(app_error)?;
            println!("client_id {}", a.client_id);
            if let Some(s) = secret {
                println!("client_secret {s}");
            }
        }
        Apps::List { json } => {
            let all = app.catalogue_apps().await.map_err(app_error)?;
            for a in &all {
                let state = if a.disabled { "disabled" } else { "enabled" };
                if json {
                    let line = serde_json::json!({
                        "client_id": a.client_id, "name": a.name, "developer": a.developer,
                        "kind": a.kind, "disabled": a.disabled, "scopes": a.scopes,
                        "redirect_uris": a.redirect_uris,
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{}\t{state}\t{}\t{}\t{}",
                        a.client_id,
                        a.kind,
                        a.name,
                        a.scopes.join(" ")
                    );
                }
            }
        }
        Apps::Disable {
            client_id,
            disabled,
        } => {
            let a = app
                .set_catalogue_app_disabled(&client_id, disabled)
                .await
                .map_err(app_error)?;
            let state = if a.disabled { "disabled" } else { "enabled" };
            println!("{} {state}", a.client_id);
        }
    }
    Ok(())
}

/// `watchword advisories send`: the advisory written, its recipients chosen set-based and their
/// emails put in the outbox (the server delivers them); prints the advisory's id.
pub async fn send_advisory(
    config: &Config,
    subject: &str,
    body_file: &std::path::Path,
    to: &str,
    require_ack: bool,
) -> Result<(), String> {
    use watchword_app::advisories::Audience;
    let body = std::fs::read_to_string(body_file)
        .map_err(|e| format!("cannot read {}: {e}", body_file.display()))?;
    let audience = match to {
        "all" => Audience::All,
        "paid" => Audience::Plan(watchword_domain::Plan::Paid),
        "free" => Audience::Plan(watchword_domain::Plan::Free),
        file => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                format!("--to is all, paid, free or a file of account ids; cannot read {file}: {e}")
            })?;
            let ids = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(account)
                .collect::<Result<Vec<_>, _>>()?;
            Audience::Accounts(ids)
        }
    };
    let app = watchword::offline_app(config).await?;
    let (id, counts) = app
        .send_advisory(subject, &body, audience, require_ack)
        .await
        .map_err(app_error)?;
    println!("{id}");
    eprintln!(
        "{} recipients: {} emails queued, {} without a Security Contact",
        counts.recipients,
        counts.recipients - counts.no_contact - counts.pending,
        counts.no_contact
    );
    Ok(())
}

/// `watchword advisories status ID [--json]`.
pub async fn advisory_status(config: &Config, id: &str, json: bool) -> Result<(), String> {
    let app = watchword::offline_app(config).await?;
    let (a, c) = app.advisory_status(id).await.map_err(app_error)?;
    if json {
        let v = serde_json::json!({
            "id": a.id, "subject": a.subject, "audience": a.audience,
            "require_ack": a.require_ack, "created_at": a.created_at.rfc3339(),
            "recipients": c.recipients, "pending": c.pending, "no_contact": c.no_contact,
            "delivered": c.delivered, "failed": c.failed, "acknowledged": c.acknowledged,
        });
        println!("{v}");
    } else {
        println!("{} {:?} ({})", a.id, a.subject, a.audience);
        println!("recipients    {}", c.recipients);
        println!("delivered     {}", c.delivered);
        println!("failed        {}", c.failed);
        println!("acknowledged  {}", c.acknowledged);
        println!("no contact    {}", c.no_contact);
        println!(
            "not yet sent  {}",
            c.recipients - c.no_contact - c.delivered - c.failed
        );
    }
    Ok(())
}

/// `watchword accounts set-plan ACCOUNT_ID free|paid`.
pub async fn set_plan(config: &Config, account_id: &str, plan: &str) -> Result<(), String> {
    let plan = watchword_domain::Plan::parse(plan)
        .ok_or_else(|| format!("the plan is free or paid, not {plan:?}"))?;
    let app = watchword::offline_app(config).await?;
    let changed = app
        .set_plan(account(account_id)?, plan, "operator CLI")
        .await
        .map_err(app_error)?;
    println!(
        "{account_id}: {}{}",
        plan.as_str(),
        if changed { "" } else { " (unchanged)" }
    );
    Ok(())
}

/// Writes `FILE:LINE: KEY_ID` for every API key under `paths`; returns how many were found.
/// Unreadable entries are an error after the rest was scanned.
pub fn scan(
    paths: &[std::path::PathBuf],
    prefix: &str,
    out: &mut impl std::io::Write,
) -> Result<usize, String> {
    let mut found = 0;
    let mut errors = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        if meta.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => {
                    let mut children: Vec<_> =
                        entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    children.sort();
                    stack.extend(children.into_iter().rev());
                }
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let mut line = 1;
        let mut counted_to = 0;
        for (at, kind, key) in secrets_in(prefix, &bytes) {
            line += bytes[counted_to..at]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            counted_to = at;
            let id = watchword_domain::api_key::public_id(key);
            writeln!(out, "{}:{line}: {kind}{id}", path.display()).map_err(|e| e.to_string())?;
            found += 1;
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(format!("could not scan: {}", errors.join("; ")))
    }
}

/// Every API key and OAuth secret in `bytes` (access and refresh tokens, client secrets: their
/// own prefixes, the same format), by offset, each with its kind's label (none for a key).
fn secrets_in<'a>(prefix: &'a str, bytes: &'a [u8]) -> Vec<(usize, &'static str, &'a str)> {
    use watchword_domain::api_key::BODY_LEN;
    use watchword_domain::oauth::{ACCESS_BODY_LEN, ACCESS_PREFIX, REFRESH_PREFIX, SECRET_PREFIX};
    let kinds = [
        (prefix, BODY_LEN, ""),
        (ACCESS_PREFIX, ACCESS_BODY_LEN, "OAuth access token "),
        (REFRESH_PREFIX, BODY_LEN, "OAuth refresh token "),
        (SECRET_PREFIX, BODY_LEN, "OAuth client secret "),
    ];
    let mut all: Vec<_> = kinds
        .into_iter()
        .flat_map(|(p, len, label)| {
            watchword_domain::api_key::find_all_len(p, len, bytes)
                .map(move |(at, k)| (at, label, k))
        })
        .collect();
    all.sort_by_key(|(at, _, _)| *at);
    all
}

/// `watchword backup FILE`: a consistent copy of the SQLite database while servers write.
pub async fn backup(config: &Config, file: &std::path::Path) -> Result<(), String> {
    if file.exists() {
        return Err(format!("{} exists: choose a new file", file.display()));
    }
    let store = watchword::open_store(config).await?;
    let path = file.to_str().ok_or("the backup path is not UTF-8")?;
    let started = std::time::Instant::now();
    match store.backup_sqlite(path).await {
        Ok(Some(())) => {
            println!(
                "backed up {} to {} in {} ms",
                watchword::redact(&config.database_url()),
                file.display(),
                started.elapsed().as_millis()
            );
            Ok(())
        }
        Ok(None) => Err(
            "backup copies a SQLite database; for PostgreSQL use pg_dump or continuous archiving (docs/operations.md)"
                .into(),
        ),
        Err(e) => Err(format!("backup failed: {e}")),
    }
}

/// `watchword restore FILE`: the backup in place of the SQLite database (servers stopped); the
/// database it replaces is kept beside it.
pub async fn restore(config: &Config, file: &std::path::Path) -> Result<(), String> {
    let url = config.database_url();
    let Some(target) = url.strip_prefix("sqlite://") else {
        return Err(
            "restore puts back a SQLite backup; for PostgreSQL use pg_restore (docs/operations.md)"
                .into(),
        );
    };
    let target = std::path::PathBuf::from(target.split('?').next().unwrap_or(target));
    let mut header = [0u8; 16];
    let ok = std::fs::File::open(file)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok();
    if !ok || &header != b"SQLite format 3\0" {
        return Err(format!("{} is not a SQLite database", file.display()));
    }
    let stamp = Millis::now().0 / 1000;
    for suffix in ["", "-wal", "-shm"] {
        let current = std::path::PathBuf::from(format!("{}{suffix}", target.display()));
        if current.exists() {
            let kept = format!("{}.before-restore-{stamp}{suffix}", target.display());
            std::fs::rename(&current, &kept)
                .map_err(|e| format!("cannot move {} aside: {e}", current.display()))?;
        }
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::copy(file, &target).map_err(|e| format!("cannot copy the backup: {e}"))?;
    // Opening it applies any migration the backup predates.
    watchword::open_store(config).await?;
    println!(
        "restored {} to {} (the previous database is kept as {}.before-restore-{stamp})",
        file.display(),
        target.display(),
        target.display()
    );
    Ok(())
}

/// `watchword rotate-mfa-key`: a new key in the key file (unless `mfa_keys` is configured), then
/// every authenticator secret re-sealed under the newest key.
pub async fn rotate_mfa_key(config: &Config) -> Result<(), String> {
    if config.mfa_keys.is_none() {
        let ring = watchword::mfa_keyring(config)?;
        let path = watchword::mfa_key_file(config);
        let next = (1..)
            .map(|i| format!("k{i}"))
            .find(|id| ring.ids().all(|k| k != id))
            .expect("an unused key id");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = format!(
            "{}\n{}\n",
            text.trim_end(),
            watchword_domain::sealed::Keyring::new_entry(&next)
        );
        watchword::write_private(&path, &text)?;
    }
    let app = watchword::offline_app(config).await?;
    let n = app.reseal_mfa_secrets().await.map_err(|e| e.to_string())?;
    println!(
        "re-sealed {n} secrets (authenticators, phones, SSO client secrets, stream secrets, reports) under key {}",
        app.settings().mfa_keyring.current_id()
    );
    Ok(())
}
