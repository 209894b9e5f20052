//! `networks [--seconds N] [--rounds R]`: `GET /api/v1/whoami` with an API key while its account
//! has no trusted networks and while it has 100 ranges (the client's own address last, so every
//! request checks all of them), alternated in one run on one server.

use super::{load, signup, start_server};

async fn set(client: &reqwest::Client, base: &str, account: &str, token: &str, ranges: &[String]) {
    let res = client
        .put(format!(
            "{base}/api/v1/accounts/{account}/settings/networks"
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "ranges": ranges }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
}

pub async fn run(secs: u64, rounds: usize) {
    let (mut server, base, client, dir) = start_server().await;
    let signup = signup(&client, &base, dir.path(), "bench@example.com", "Bench").await;
    let token = signup["session_token"].as_str().unwrap().to_owned();
    let account = signup["account"]["id"].as_str().unwrap().to_owned();
    let key: serde_json::Value = client
        .post(format!("{base}/api/v1/accounts/{account}/api-keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "bench", "preset": "full"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["secret"].as_str().expect("key created").to_owned();
    let mut hundred: Vec<String> = (0..98).map(|i| format!("10.{i}.0.0/16")).collect();
    hundred.push("::1".into());
    hundred.push("127.0.0.1".into());
    let measure = || {
        let (c, b, k) = (client.clone(), base.clone(), key.clone());
        load(32, secs, move || {
            let (c, u, k) = (c.clone(), format!("{b}/api/v1/whoami"), k.clone());
            async move {
                c.get(u)
                    .bearer_auth(k)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
    };
    let (mut none, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        set(&client, &base, &account, &token, &[]).await;
        none.push(measure().await);
        set(&client, &base, &account, &token, &hundred).await;
        with.push(measure().await);
    }
    let _ = server.kill();
    let _ = server.wait();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!("whoami by API key, 32 at once, {rounds} × {secs} s each, alternated (SQLite)");
    println!(
        "{:<40} {:>10.0} req/s  runs {none:.0?}",
        "no trusted networks",
        mean(&none)
    );
    println!(
        "{:<40} {:>10.0} req/s  runs {with:.0?}",
        "100 ranges, match on the last",
        mean(&with)
    );
    println!(
        "{:<40} {:>10.3}",
        "with / without",
        mean(&with) / mean(&none)
    );
}
