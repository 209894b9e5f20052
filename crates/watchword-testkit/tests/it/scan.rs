//! `watchword scan`: finds planted keys by prefix and checksum with file, line and public id, and
//! nothing in a large corpus of random text full of near misses.

use serde_json::json;
use std::process::Command;
use watchword_testkit::{Backend, TestApp, watchword_bin};

fn scan(paths: &[&std::path::Path]) -> (Option<i32>, String, String) {
    let out = Command::new(watchword_bin())
        .arg("scan")
        .args(paths)
        .output()
        .expect("run watchword scan");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Deterministic filler (not for secrets): xorshift64.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..n)
            .map(|_| A[(self.next() % 62) as usize] as char)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_planted_keys_and_nothing_in_random_text() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let ada = app.signup("Acme", "Ada", "ada@example.com").await;
    let mut keys = Vec::new();
    for name in ["one", "two"] {
        let (s, v) = app
            .post(
                &format!("/api/v1/accounts/{}/api-keys", ada.account),
                &ada.token,
                json!({"name": name}),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::CREATED);
        keys.push((
            v["secret"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        ));
    }
    let root = tempfile::tempdir().unwrap();
    let planted = root.path().join("repo");
    std::fs::create_dir_all(planted.join("deploy/nested")).unwrap();
    std::fs::write(
        planted.join("deploy/app.env"),
        format!("# settings\nDEBUG=0\nWATCHWORD_KEY={}\n", keys[0].0),
    )
    .unwrap();
    let glued = format!("x{}", keys[1].0);
    std::fs::write(
        planted.join("deploy/nested/notes.md"),
        format!(
            "{glued} is glued and not a key\n{}\n\n\n\n\n\n\n\ncurl -H 'Authorization: Bearer {}'\n",
            "ww_".repeat(30),
            keys[1].0
        ),
    )
    .unwrap();
    // OAuth secrets have prefixes of their own and are found too.
    let client_secret = watchword_domain::api_key::generate(watchword_domain::oauth::SECRET_PREFIX);
    let oauth = root.path().join("oauth");
    std::fs::create_dir_all(&oauth).unwrap();
    let ring = watchword_domain::sealed::Keyring::parse(
        &watchword_domain::sealed::Keyring::new_entry("k1"),
    )
    .unwrap();
    let claims = watchword_domain::oauth::AccessClaims {
        grant_id: format!("grant_{}", uuid::Uuid::now_v7().simple()),
        scopes: Default::default(),
        expires_at: 1,
    };
    let access = watchword_domain::oauth::mint_access(&ring, &claims).unwrap();
    std::fs::write(
        oauth.join("client.env"),
        format!("SECRET={client_secret}\nTOKEN={access}\n"),
    )
    .unwrap();
    let (code, out, err) = scan(&[&oauth]);
    assert_eq!(code, Some(1), "{err}");
    let id = watchword_domain::api_key::public_id(&client_secret);
    let access_id = watchword_domain::api_key::public_id(&access);
    let file = oauth.join("client.env");
    assert_eq!(
        out,
        format!(
            "{}:1: OAuth client secret {id}\n{}:2: OAuth access token {access_id}\n",
            file.display(),
            file.display()
        )
    );
    let (code, out, err) = scan(&[&planted]);
    assert_eq!(code, Some(1), "{err}");
    let env = planted.join("deploy/app.env");
    let notes = planted.join("deploy/nested/notes.md");
    assert_eq!(
        out,
        format!(
            "{}:3: {}\n{}:10: {}\n",
            env.display(),
            keys[0].1,
            notes.display(),
            keys[1].1
        )
    );
    assert!(
        !out.contains(&keys[0].0[3..]),
        "the scan prints ids, not keys"
    );

    // 32 MiB of random text with about 90,000 near misses: the prefix, the right length and
    // alphabet, a random checksum.
    let corpus = root.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut near_misses = 0;
    for f in 0..8 {
        let mut text = String::with_capacity(4 << 20);
        while text.len() < 4 << 20 {
            let n = (noise.next() % 60) as usize;
            text.push_str(&noise.alnum(n));
            text.push(if noise.next().is_multiple_of(4) {
                '\n'
            } else {
                ' '
            });
            if noise.next().is_multiple_of(10) {
                text.push_str("ww_");
                text.push_str(&noise.alnum(48));
                text.push(' ');
                near_misses += 1;
            }
        }
        std::fs::write(corpus.join(format!("noise-{f}.txt")), text).unwrap();
    }
    assert!(near_misses > 50_000, "{near_misses}");
    let (code, out, err) = scan(&[&corpus]);
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");

    let (code, _, err) = scan(&[&root.path().join("missing")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing"), "{err}");
}
