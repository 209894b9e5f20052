//! `watchword-bench devices [--logins N] [--rounds N]`: the server CPU of a password login with
//! the device check (a browser login: its device cookie looked up and its last use recorded)
//! against one without (a token login, the same gate and the same Argon2 verify), measured from
//! the server's `/proc/<pid>/stat`, one login at a time, the two kinds alternating in rounds.

use crate::{PASSWORD, cpu_secs};
use serde_json::json;

pub async fn run(logins: usize, rounds: usize) {
    let (mut server, base, client, dir) = crate::start_server().await;
    let pid = server.id().to_string();
    let email = "ada@bench.example";
    crate::signup(&client, &base, dir.path(), email, "Acme").await;
    let login = |mode: &'static str, cookie: Option<String>| {
        let mut req = client
            .post(format!("{base}/api/v1/login"))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            )
            .json(&json!({"email": email, "password": PASSWORD, "session_mode": mode}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move {
            let res = req.send().await.expect("login");
            assert!(res.status().is_success(), "login: {}", res.status());
            res.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("__Host-watchword_device="))
                .and_then(|v| v.split(';').next())
                .map(str::to_owned)
        }
    };
    let device = login("cookie", None).await.expect("a device cookie");
    let (mut with, mut without) = (0.0, 0.0);
    for _ in 0..rounds {
        let t0 = cpu_secs(&pid).unwrap_or_default();
        for _ in 0..logins {
            login("token", None).await;
        }
        let t1 = cpu_secs(&pid).unwrap_or_default();
        for _ in 0..logins {
            login("cookie", Some(device.clone())).await;
        }
        let t2 = cpu_secs(&pid).unwrap_or_default();
        without += t1 - t0;
        with += t2 - t1;
    }
    let _ = server.kill();
    let n = (logins * rounds) as f64;
    let (a, b) = (with / n * 1000.0, without / n * 1000.0);
    println!("password logins, server CPU per login ({logins} x {rounds} rounds, one at a time)");
    println!("{:<44}{a:>8.2} ms", "browser login (device check)");
    println!("{:<44}{b:>8.2} ms", "token login (no device check)");
    println!(
        "{:<44}{:>8.1} %  (target < 5 %)",
        "device check's share",
        if b > 0.0 { (a - b) / b * 100.0 } else { 0.0 }
    );
}
