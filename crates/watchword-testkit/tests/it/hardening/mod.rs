//! Attacks on sign-in and its limits, on SQLite and PostgreSQL: signup never opens a session
//! for an existing person (so never past their second factor), an emailed link proves every new
//! address, invitations bind only the invited login signed in and show nothing about a person
//! before they accept (`gate`); every limit holds its exact ceiling under parallel requests and
//! every emailed link works once (`limits`); hostile bytes are refused at the edge and output is
//! neutralised (`edge`).

mod edge;
mod gate;
mod limits;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use watchword_testkit::{Login, PASSWORD, TestApp, both_backends};

pub use watchword_testkit::code;

/// Counts rows of a query on the server's database (`SELECT COUNT(*) AS n …`).
pub async fn count(app: &TestApp, sql: &str, binds: &[&str]) -> i64 {
    use sqlx::Row;
    let mut c = app.app().store().read().await.unwrap();
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(&mut *c).await.unwrap().get::<i64, _>("n")
}

/// Statuses of `n` copies of one request sent at once.
pub async fn burst(
    app: &TestApp,
    n: usize,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Vec<u16> {
    let calls = (0..n).map(|_| app.call(Method::POST, path, token, Some(body.clone())));
    join_all(calls)
        .await
        .into_iter()
        .map(|(s, _)| s.as_u16())
        .collect()
}

pub fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
