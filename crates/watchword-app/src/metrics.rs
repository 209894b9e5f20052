//! What an operator watches, beyond HTTP counts (the `metrics` facade; the binary installs the
//! Prometheus exporter). Labels are fixed words, never ids or emails, so a series count stays
//! bounded.

/// What the hot path checked.
#[derive(Clone, Copy)]
pub(crate) enum Credential {
    Session,
    ApiKey,
    AccessToken,
}

/// A session, API key or OAuth access token checked on the hot path: from this node's cache or
/// from the database. The six counters are resolved once and kept (a labelled lookup at each
/// check costs a registry hash and lock: `watchword-bench counters`). Resolved on the first
/// check, which comes after the server installed its recorder.
pub(crate) fn credential_check(kind: Credential, cached: bool) {
    static KEPT: std::sync::OnceLock<[metrics::Counter; 6]> = std::sync::OnceLock::new();
    let kept = KEPT.get_or_init(|| {
        let counter = |kind: &'static str, cache: &'static str| {
            metrics::counter!("watchword_credential_checks_total", "kind" => kind, "cache" => cache)
        };
        [
            counter("session", "hit"),
            counter("session", "miss"),
            counter("api_key", "hit"),
            counter("api_key", "miss"),
            counter("access_token", "hit"),
            counter("access_token", "miss"),
        ]
    });
    kept[kind as usize * 2 + usize::from(!cached)].increment(1);
}

/// A limit refused an attempt (`limit` is its name, e.g. `login-email`).
pub(crate) fn limit_hit(limit: &'static str) {
    metrics::counter!("watchword_limits_hit_total", "limit" => limit).increment(1);
}

/// A session opened (a sign-in), by the second factor it passed (`none`, `totp`, `passkey`,
/// `sms`, `recovery_code`, `idp`).
pub(crate) fn session_opened(factor: &'static str) {
    metrics::counter!("watchword_sign_ins_total", "factor" => factor).increment(1);
}

/// The changes channel: a notification heard, or the listening connection lost.
pub(crate) fn heard(change: bool) {
    let what = if change { "change" } else { "lost" };
    metrics::counter!("watchword_change_notifications_total", "event" => what).increment(1);
    metrics::gauge!("watchword_change_listener_up").set(if change { 1.0 } else { 0.0 });
}

/// How long after its announcement a change was heard here (announcing node's clock).
pub(crate) fn change_lag(ms: i64) {
    metrics::histogram!("watchword_change_notification_lag_seconds").record(ms as f64 / 1000.0);
}

/// The audit streams as the delivery job saw them: the age of the oldest event not yet
/// delivered over every stream (0 when none waits), and how many streams are failing.
pub(crate) fn streams(oldest_undelivered_secs: f64, failing: usize) {
    metrics::gauge!("watchword_audit_stream_lag_seconds").set(oldest_undelivered_secs);
    metrics::gauge!("watchword_audit_streams_failing").set(failing as f64);
}

/// The outbox as a dispatcher saw it: messages waiting and the oldest one's age.
pub(crate) fn outbox(waiting: i64, oldest_age_secs: f64) {
    metrics::gauge!("watchword_outbox_waiting").set(waiting as f64);
    metrics::gauge!("watchword_outbox_oldest_age_seconds").set(oldest_age_secs);
}

/// A background job's run: `job` its name, failed or not.
pub(crate) fn job_run(job: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!("watchword_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
}

/// Every series' help text (call once, after the recorder is installed).
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "watchword_http_requests_total",
        "HTTP requests answered, by route and status"
    );
    describe_histogram!(
        "watchword_http_request_seconds",
        "HTTP request duration, by route"
    );
    describe_counter!(
        "watchword_credential_checks_total",
        "Sessions, API keys and access tokens checked, by cache hit or miss"
    );
    describe_counter!(
        "watchword_limits_hit_total",
        "Attempts a limit refused, by limit"
    );
    describe_counter!(
        "watchword_sign_ins_total",
        "Sessions opened, by the second factor passed"
    );
    describe_counter!(
        "watchword_change_notifications_total",
        "Changes channel events: notifications heard, listener lost"
    );
    describe_counter!(
        "watchword_change_notifications_sent_total",
        "Changes this node announced to every node"
    );
    describe_histogram!(
        "watchword_change_notification_lag_seconds",
        "From a change's announcement to this node hearing it"
    );
    describe_gauge!(
        "watchword_audit_stream_lag_seconds",
        "Age of the oldest audit event not yet delivered to its stream"
    );
    describe_gauge!(
        "watchword_audit_streams_failing",
        "Audit streams whose endpoint is failing"
    );
    describe_gauge!(
        "watchword_change_listener_up",
        "1 while this node hears other nodes' changes"
    );
    describe_gauge!("watchword_outbox_waiting", "Messages waiting in the outbox");
    describe_gauge!(
        "watchword_outbox_oldest_age_seconds",
        "Age of the oldest waiting message"
    );
    describe_counter!(
        "watchword_job_runs_total",
        "Background job runs, by job and outcome"
    );
    describe_gauge!(
        "watchword_db_connections",
        "Database pool connections, by pool and state"
    );
}
