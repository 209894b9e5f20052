//! A production topology on loopback, started by the test from Debian's packages: three nodes
//! behind HAProxy (checked by `/readyz`), their pools through PgBouncer in session mode, their
//! listening connections through HAProxy's floating address for the primary, on a PostgreSQL
//! primary with a synchronous streaming standby. The primary is killed while writers go on;
//! the standby is promoted and PgBouncer pointed at it. No acknowledged write is lost, the
//! same nodes serve again without a restart, and requests fail for less than 10 s.

use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use watchword::Config;
use watchword_testkit::topology::{self, Cluster, HaProxy, PgBouncer};
use watchword_testkit::{Backend, TestApp};

/// One write through the load balancer: when it was sent, how long it took, and its key name
/// when it was acknowledged (201).
struct Write {
    at: Instant,
    acknowledged: Option<String>,
    status: Option<StatusCode>,
}

/// The last refusal the writers saw, for a failure's message.
static LAST_ERROR: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_loses_no_acknowledged_write() {
    let Some(bin) = topology::tools() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    topology::owned_dir(root.path());
    let (mut primary, standby, bouncer, lb, nodes) = {
        let root = root.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let primary = Cluster::primary(&bin, &root);
            let standby = Cluster::standby_of(&primary, &root);
            primary.sql("postgres", "CREATE DATABASE watchword");
            let bouncer = PgBouncer::start(&root, "watchword", primary.port);
            let nodes: Vec<u16> = (0..3).map(|_| topology::free_port()).collect();
            let lb = HaProxy::start(&root, &nodes, primary.port, standby.port);
            (primary, standby, bouncer, lb, nodes)
        })
        .await
        .unwrap()
    };
    let base = format!("http://127.0.0.1:{}", lb.http_port);
    let node = |i: usize| {
        let (pool, listen, base, port) = (bouncer.port, lb.pg_port, base.clone(), nodes[i]);
        move |c: &mut Config| {
            c.listen = format!("127.0.0.1:{port}");
            c.database_url = Some(format!("postgres://postgres@127.0.0.1:{pool}/watchword"));
            c.database_listen_url =
                Some(format!("postgres://postgres@127.0.0.1:{listen}/watchword"));
            c.public_url = Some(base);
        }
    };
    let Some(app) = TestApp::spawn_with_smtp_and(Backend::Postgres, node(0)).await else {
        return;
    };
    let smtp = app.smtp.as_ref().unwrap().url();
    let with_smtp = |i| {
        let (node, smtp) = (node(i), smtp.clone());
        move |c: &mut Config| {
            node(c);
            c.smtp_url = Some(smtp);
        }
    };
    let _n1 = app.spawn_node_with(with_smtp(1)).await;
    let _n2 = app.spawn_node_with(with_smtp(2)).await;
    let client = app.client.clone();
    wait_ready(&client, &nodes).await;
    // HAProxy has seen them ready too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(
            Instant::now() < deadline,
            "the load balancer never had a node"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;

    // Four writers through the load balancer, one key at a time each.
    let stop = Arc::new(AtomicBool::new(false));
    let path = format!("{base}/api/v1/accounts/{}/api-keys", ada.account);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, path, token, stop) = (
                client.clone(),
                path.clone(),
                ada.token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut done = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let name = format!("w{w}-{n}");
                    let at = Instant::now();
                    let sent = client
                        .post(&path)
                        .bearer_auth(&token)
                        .timeout(Duration::from_secs(15))
                        .json(&json!({"name": name, "scopes": ["members:read"]}))
                        .send()
                        .await;
                    let status = sent.as_ref().ok().map(|r| r.status());
                    let ok = match sent {
                        Ok(r) if r.status() == StatusCode::CREATED => true,
                        Ok(r) => {
                            *LAST_ERROR.lock().unwrap() =
                                format!("{} {}", r.status(), r.text().await.unwrap_or_default());
                            false
                        }
                        Err(e) => {
                            *LAST_ERROR.lock().unwrap() = format!("{e:?}");
                            false
                        }
                    };
                    done.push(Write {
                        at,
                        acknowledged: ok.then_some(name),
                        status,
                    });
                    if !ok {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                done
            })
        })
        .collect();
    let before = key_count(&primary, &ada.account);
    while key_count(&primary, &ada.account) < before + 40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The primary dies; the standby is promoted and the pooler pointed at it (as an operator or
    // an orchestrator would, here at once).
    let (primary_port, standby) = tokio::task::spawn_blocking(move || {
        primary.kill();
        standby.promote();
        (primary.port, standby)
    })
    .await
    .unwrap();
    bouncer.point_at(standby.port);
    assert_ne!(primary_port, standby.port);

    // Writes go on until 40 more were acknowledged after the failover.
    let deadline = Instant::now() + Duration::from_secs(60);
    let resumed = key_count(&standby, &ada.account);
    while key_count(&standby, &ada.account) < resumed + 40 {
        assert!(
            Instant::now() < deadline,
            "writes never resumed; last refusal: {}; pgbouncer: {}",
            LAST_ERROR.lock().unwrap(),
            std::fs::read_to_string(root.path().join("pgbouncer.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(25)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Release);
    let mut writes = Vec::new();
    for w in writers {
        writes.extend(w.await.unwrap());
    }

    // Every acknowledged key is on the new primary.
    let stored = standby
        .sql(
            "watchword",
            &format!(
                "SELECT string_agg(name, ',') FROM api_keys WHERE account_id = '{}'",
                ada.account
            ),
        )
        .split(',')
        .map(str::to_owned)
        .collect::<std::collections::HashSet<_>>();
    let lost: Vec<&String> = writes
        .iter()
        .filter_map(|w| w.acknowledged.as_ref())
        .filter(|name| !stored.contains(*name))
        .collect();
    let acked = writes.iter().filter(|w| w.acknowledged.is_some()).count();
    assert!(
        lost.is_empty(),
        "{} of {acked} acknowledged writes lost: {lost:?}",
        lost.len()
    );

    // Errors lasted from the first failed write to the last one sent before a success.
    let failed: Vec<Instant> = writes
        .iter()
        .filter(|w| w.acknowledged.is_none())
        .map(|w| w.at)
        .collect();
    let window = match (failed.iter().min(), failed.iter().max()) {
        (Some(first), Some(last)) => last.duration_since(*first),
        _ => Duration::ZERO,
    };
    let mut refusals: Vec<u16> = writes
        .iter()
        .filter(|w| w.acknowledged.is_none())
        .filter_map(|w| w.status.map(|s| s.as_u16()))
        .collect();
    refusals.sort_unstable();
    refusals.dedup();
    eprintln!(
        "failover: {acked} writes acknowledged, 0 lost; {} failed (statuses {refusals:?}), over {:.2} s",
        failed.len(),
        window.as_secs_f64()
    );
    // A database that is away is a 503 to retry, never a 500.
    assert!(refusals.iter().all(|s| *s == 503), "{refusals:?}");
    assert!(
        window < Duration::from_secs(10),
        "errors for {window:?} (failed writes: {})",
        failed.len()
    );

    // The same nodes serve again, each asked directly, without a restart.
    wait_ready(&client, &nodes).await;
    for port in &nodes {
        let s = client
            .get(format!("http://127.0.0.1:{port}/api/v1/whoami"))
            .bearer_auth(&ada.token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(s, StatusCode::OK, "node on {port}");
    }
}

/// Keys of the account in a cluster's database, asked directly.
fn key_count(cluster: &Cluster, account: &str) -> usize {
    let q = format!("SELECT count(*) FROM api_keys WHERE account_id = '{account}'");
    cluster.sql("watchword", &q).parse().unwrap()
}

/// Every node answers `/readyz` with 200 (bounded).
async fn wait_ready(client: &reqwest::Client, nodes: &[u16]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in nodes {
        loop {
            let ok = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "node on {port} never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
