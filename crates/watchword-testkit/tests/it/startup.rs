//! `watchword serve` while its PostgreSQL is away: it listens and answers `/healthz` (alive),
//! `503 starting` elsewhere and on `/readyz` until the database is reached and migrated, then
//! serves; when the database stops answering later, `/readyz` says 503 within its 2 s, and
//! recovers with the database, without a restart.

use reqwest::StatusCode;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use watchword_testkit::topology::free_port;
use watchword_testkit::{drop_pg_database, fresh_pg_database, watchword_bin};

/// A port that forwards to the database while open, as a network that comes and goes.
struct Door {
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Door {
    async fn open(port: u16, upstream: String) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                held.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Self { accept, conns }
    }

    /// Closes the port and cuts every connection through it.
    fn close(self) {
        self.accept.abort();
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// `GET path`: its status, or None when nothing answered; each answer comes within 3 s.
async fn get(client: &reqwest::Client, base: &str, path: &str) -> Option<(StatusCode, String)> {
    let started = Instant::now();
    let r = client.get(format!("{base}{path}")).send().await.ok()?;
    let answer = (r.status(), r.text().await.unwrap_or_default());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{path} took {:?}",
        started.elapsed()
    );
    Some(answer)
}

async fn until(client: &reqwest::Client, base: &str, path: &str, status: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(client, base, path).await.map(|a| a.0) != Some(status) {
        assert!(Instant::now() < deadline, "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_is_alive_while_its_database_is_away_and_ready_once_migrated() {
    let Some((url, name)) = fresh_pg_database().await else {
        return;
    };
    // The same database behind the door's port.
    let (head, tail) = url.split_once('@').unwrap();
    let (upstream, db) = tail.split_once('/').unwrap();
    let door_port = free_port();
    let through_door = format!("{head}@127.0.0.1:{door_port}/{db}");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(watchword_bin())
        .args(["serve", "--database-url", &through_door, "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("WATCHWORD_LOG_LEVEL", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::task::spawn_blocking(move || (lines.next(), lines))
        .await
        .unwrap();
    let (line, mut lines) = (first.0.unwrap().unwrap(), first.1);
    assert!(line.contains("waiting for its database"), "{line}");
    let base = format!("http://127.0.0.1:{port}");
    watchword_app::install_crypto_provider();
    let client = reqwest::Client::new();

    // Away: alive, not ready, and nothing else served.
    assert_eq!(
        get(&client, &base, "/healthz").await,
        Some((StatusCode::OK, "ok".into()))
    );
    for path in ["/readyz", "/api/v1/whoami", "/"] {
        let (status, body) = get(&client, &base, path).await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(body.contains("\"starting\""), "{path}: {body}");
    }
    let no_migrations: i64 = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    };
    assert_eq!(no_migrations, 0, "nothing reached the database yet");

    // The database comes: migrated, then ready, and it says so.
    let door = Door::open(door_port, upstream.to_owned()).await;
    until(&client, &base, "/readyz", StatusCode::OK).await;
    let line = tokio::task::spawn_blocking(move || lines.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(line.contains("watchword is running"), "{line}");
    let (status, _) = get(&client, &base, "/api/v1/whoami").await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "served once ready");

    // Gone again: not ready (within the check's 2 s), still alive; back: ready.
    door.close();
    until(&client, &base, "/readyz", StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        get(&client, &base, "/healthz").await.map(|a| a.0),
        Some(StatusCode::OK)
    );
    let door = Door::open(door_port, upstream.to_owned()).await;
    until(&client, &base, "/readyz", StatusCode::OK).await;
    door.close();
    child.kill().unwrap();
    child.wait().unwrap();
    drop_pg_database(name);
}

/// `/readyz` does not queue behind requests: with every pooled connection taken, it still
/// answers 200 at once (its own connection), so a busy node is not taken out of its balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_never_waits_on_a_busy_pool() {
    let Some(app) =
        watchword_testkit::TestApp::spawn_with(watchword_testkit::Backend::Postgres, |c| {
            c.database_max_connections = 2
        })
        .await
    else {
        return;
    };
    let store = app.app().store();
    let held = (store.read().await.unwrap(), store.read().await.unwrap());
    // Waiting on the pool would time out after 2 s and answer 503.
    let s = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::OK, "readyz waited on the pool");
    drop(held);
}
