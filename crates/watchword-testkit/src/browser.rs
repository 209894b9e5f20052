//! Real headless Chromium driven over WebDriver (Debian's chromium + chromedriver).

use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(bin: &str, fallback: &str) -> String {
    std::env::var(bin).unwrap_or_else(|_| fallback.to_owned())
}

impl Browser {
    /// Signs Ada Lovelace up as Owner of "Acme" on the console's signup page, and follows the
    /// emailed link (its page's button creates the account and signs in).
    pub async fn sign_up_ada(&self, app: &crate::TestApp) {
        self.sign_up_ada_at(app, &app.base).await
    }

    /// [`Self::sign_up_ada`] with the console opened at `base` (e.g. as localhost).
    pub async fn sign_up_ada_at(&self, app: &crate::TestApp, base: &str) {
        self.goto(&format!("{base}/signup")).await;
        self.fill("account_name", "Acme").await;
        self.fill("name", "Ada Lovelace").await;
        self.fill("email", "ada@example.com").await;
        self.fill("password", crate::PASSWORD).await;
        self.click("form button[type=submit]").await;
        assert!(
            self.text().await.contains("Check your email"),
            "{}",
            self.text().await
        );
        let token = app.signup_token("ada@example.com").await;
        self.goto(&format!("{base}/signup/confirm?token={token}"))
            .await;
        self.click("#confirm-signup").await;
    }

    /// Signs in on the console's login page as `email` (a person without a second factor): the
    /// account list, or the one account's first page.
    pub async fn sign_in(&self, app: &crate::TestApp, email: &str) {
        self.goto(&app.url("/login")).await;
        self.fill("email", email).await;
        self.fill("password", crate::PASSWORD).await;
        self.click("form button[type=submit]").await;
        let path = self.path().await;
        assert!(
            path == "/app" || path.starts_with("/accounts/"),
            "{path}: {}",
            self.text().await
        );
    }

    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // Its own process group, so the browser it starts is killed with it even if a test panics.
        let driver = Command::new(find("CHROMEDRIVER", "/usr/bin/chromedriver"))
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver)");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-quic".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": find("CHROMIUM", "/usr/bin/chromium"), "args": args }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Types into the field labelled by id.
    pub async fn fill(&self, id: &str, value: &str) {
        let el = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("#{id}: {e}"));
        el.clear().await.ok();
        el.send_keys(value).await.expect("type");
    }

    /// Clicks a link or submit button and waits (bounded) until the next page has replaced this one.
    pub async fn click(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("page");
        self.press(css).await;
        for _ in 0..400 {
            match old.tag_name().await {
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    break;
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            }
        }
        for _ in 0..400 {
            let ready = self
                .client
                .execute("return document.readyState", vec![])
                .await
                .ok();
            if ready.as_ref().and_then(|v| v.as_str()) == Some("complete") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("page after clicking {css} did not load");
    }

    pub async fn text(&self) -> String {
        self.text_of("body").await
    }

    /// On a page asking "Confirm it is you": types the password and presses `submit`.
    pub async fn confirm_it_is_you(&self, submit: &str) {
        let text = self.text().await;
        assert!(text.contains("Confirm it is you"), "{text}");
        self.fill("reauth-password", crate::PASSWORD).await;
        self.click(submit).await;
    }

    /// The text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.client.find(Locator::Css(css)).await;
        e.unwrap_or_else(|_| panic!("no {css} on the page"))
            .text()
            .await
            .expect("text")
    }

    /// Waits (bounded) until the browser is on `path`, e.g. after a keyboard submit.
    pub async fn wait_for_path(&self, path: &str) {
        for _ in 0..400 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("never reached {path}; at {}", self.path().await);
    }

    /// Waits (bounded) until a sign-in has landed: the account list, or the one account's page.
    pub async fn wait_signed_in(&self) {
        for _ in 0..400 {
            let path = self.path().await;
            if path == "/app" || path.starts_with("/accounts/") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("never signed in; at {}", self.path().await);
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// Ends the WebDriver session (bounded: Drop kills whatever is left).
    pub async fn close(self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.client.clone().close(),
        )
        .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Kill chromedriver's whole process group: chromium and its helpers too.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// WebDriver's "Add Virtual Authenticator" (W3C WebAuthn §11): a CTAP2 authenticator inside the
/// browser that keeps discoverable credentials and verifies its user, so passkey ceremonies run
/// for real without a person touching a key.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    /// Gives the browser a virtual passkey authenticator.
    pub async fn add_virtual_authenticator(&self) {
        self.client
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .expect("virtual authenticator");
    }

    /// Clicks a button that starts script work (no page load of its own).
    pub async fn press(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// An attribute of the first element matching `css`, as the page's script left it.
    pub async fn attr(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr(name)
            .await
            .expect("attribute")
            .unwrap_or_default()
    }

    /// Waits (bounded) until the page's text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        for _ in 0..400 {
            // The page may be navigating (a script redirects): read errors just mean "not yet".
            let text = match self.client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("page never showed {needle:?}: {}", self.text().await);
    }
}

/// What axe-core found wrong on a page, of serious or critical impact: the rule and the elements.
#[derive(Debug, serde::Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    pub nodes: Vec<String>,
}

impl Browser {
    /// Resizes the window to `width` × `height` CSS pixels (1280 × 900 a laptop, 390 × 844 a phone).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window size");
    }

    /// Runs axe-core (npm `axe-core`, installed by `scripts/test` beside the SSO peers) on the
    /// page and returns its serious and critical violations.
    pub async fn axe(&self) -> Vec<Violation> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/sso/node_modules/axe-core/axe.min.js"
        );
        let source = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (npm ci --prefix scripts/sso)"));
        self.client
            .execute(&source, vec![])
            .await
            .expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.map(n => n.target.join(' ')) }))));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        serde_json::from_value(found).expect("violations")
    }

    /// How many CSS pixels the page is wider than the window (0: nothing to scroll sideways).
    pub async fn overflow_x(&self) -> i64 {
        self.client
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_i64())
            .unwrap_or_default()
    }
}

impl Browser {
    /// Saves a PNG of the window as `name` in the directory `WATCHWORD_SCREENSHOTS` names, when it
    /// is set (a person looks at them; no test reads them).
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("WATCHWORD_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(std::path::Path::new(&dir).join(name), png).expect("screenshot written");
    }
}
