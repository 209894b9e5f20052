//! Identity-provider peers for the SSO tests, nobody here wrote them: npm `oidc-provider` (an
//! OpenID Provider with its development login page), PyPI `pysaml2` with Debian's `xmlsec1` (a
//! SAML IdP) and a DNS server on loopback (PyPI `dnslib`) answering TXT questions from a file
//! the test rewrites. `scripts/test` installs them.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sso")
}

/// Starts `cmd`, returns it and the `host:port` of its first output line `listening …`.
fn spawn_listening(mut cmd: Command, what: &str) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts (run scripts/test once to install it): {e}"));
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("a first line");
    // Whatever it prints later is read and dropped: a closed pipe would stop it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{what} did not start: {line:?}"))
        .to_owned();
    (child, addr)
}

/// A running OpenID Provider. Its login page signs anyone in under the login typed, which
/// becomes the subject and the email.
pub struct OidcIdp {
    child: Child,
    pub issuer: String,
}

/// The client watchword is registered as at the provider.
pub const CLIENT_ID: &str = "watchword";
pub const CLIENT_SECRET: &str = "idp-client-secret-0123456789";
/// A second client of the same provider (tokens for it are for another audience).
pub const OTHER_CLIENT_ID: &str = "another-app";

impl OidcIdp {
    /// Starts the provider with watchword (redirecting to `redirect_uri`) and another client
    /// registered.
    pub fn start(redirect_uri: &str) -> Self {
        Self::start_with(redirect_uri, false)
    }

    /// [`Self::start`], with `email` and `name` in the userinfo answer only when `conforming`.
    pub fn start_with(redirect_uri: &str, conforming: bool) -> Self {
        let clients = json!([
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect_uri]},
            {"client_id": OTHER_CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect_uri]},
        ]);
        let mut cmd = Command::new("node");
        cmd.arg(scripts().join("oidc-idp.mjs"))
            .env("IDP_CLIENTS", clients.to_string())
            .env("IDP_CONFORM", if conforming { "1" } else { "0" });
        let (child, addr) = spawn_listening(cmd, "the OIDC provider (node oidc-provider)");
        Self {
            child,
            issuer: addr,
        }
    }

    /// Signs `login` in at the provider from `authorize_url` (its login page, then its consent
    /// page) as a browser would, and returns where the provider sends the browser back.
    pub async fn sign_in(&self, authorize_url: &str, login: &str) -> String {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut url = authorize_url.to_owned();
        for _ in 0..12 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let res = if url.contains("/interaction/") {
                let page = client.get(&url).send().await.unwrap().text().await.unwrap();
                let form = if page.contains(r#"value="login""#) {
                    vec![("prompt", "login"), ("login", login), ("password", "any")]
                } else {
                    vec![("prompt", "consent")]
                };
                client.post(&url).form(&form).send().await.unwrap()
            } else {
                client.get(&url).send().await.unwrap()
            };
            let next = res
                .headers()
                .get("location")
                .unwrap_or_else(|| panic!("the provider stopped at {url}: {}", res.status()))
                .to_str()
                .unwrap()
                .to_owned();
            url = if next.starts_with('/') {
                format!("{}{next}", self.issuer)
            } else {
                next
            };
        }
        panic!("the provider did not send the browser back");
    }

    /// A genuine ID token for `client_id`, got as a relying party would (code flow with PKCE)
    /// for `login`, with `nonce`.
    pub async fn id_token(
        &self,
        client_id: &str,
        redirect_uri: &str,
        login: &str,
        nonce: &str,
    ) -> String {
        self.id_token_timed(client_id, redirect_uri, login, nonce)
            .await
            .0
    }

    /// [`Self::id_token`], with how long the token endpoint's round trip took (the code exchange
    /// alone, as a relying party's callback makes it).
    pub async fn id_token_timed(
        &self,
        client_id: &str,
        redirect_uri: &str,
        login: &str,
        nonce: &str,
    ) -> (String, std::time::Duration) {
        let verifier = "a-pkce-verifier-of-the-tests-0123456789-0123456789";
        let challenge = {
            use base64::Engine;
            use sha2::Digest;
            let d = sha2::Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
        };
        let authorize = reqwest::Url::parse_with_params(
            &format!("{}/auth", self.issuer),
            &[
                ("client_id", client_id),
                ("response_type", "code"),
                ("scope", "openid email profile"),
                ("redirect_uri", redirect_uri),
                ("state", "s"),
                ("nonce", nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        let back = self.sign_in(authorize.as_str(), login).await;
        let code = reqwest::Url::parse(&back)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let request = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&form);
        let started = std::time::Instant::now();
        let res = request.send().await.unwrap();
        let body: Value = res.json().await.unwrap();
        let took = started.elapsed();
        let token = body["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {body}"))
            .to_owned();
        (token, took)
    }
}

impl Drop for OidcIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running SAML 2.0 IdP (pysaml2): it signs with RSA-SHA256 unless asked for SHA-1.
pub struct SamlIdp {
    child: Child,
    /// `http://127.0.0.1:PORT`; its entity id is `{base}/metadata`.
    pub base: String,
}

/// An AuthnRequest as the IdP read it.
#[derive(Debug, Clone)]
pub struct SamlRequest {
    pub id: String,
    pub acs: String,
    pub sp: String,
    pub relay_state: String,
}

impl SamlRequest {
    /// The usual mint parameters answering this request for `email`.
    pub fn answer(&self, email: &str) -> Value {
        json!({"email": email, "sp": self.sp, "acs": self.acs, "in_response_to": self.id})
    }

    /// What the IdP would post for `saml_response`.
    pub fn post(&self, saml_response: String) -> SamlPost {
        SamlPost {
            acs: self.acs.clone(),
            saml_response,
            relay_state: self.relay_state.clone(),
        }
    }
}

/// What the IdP's auto-posting form sends to the ACS.
#[derive(Debug, Clone)]
pub struct SamlPost {
    pub acs: String,
    pub saml_response: String,
    pub relay_state: String,
}

impl SamlIdp {
    pub fn start() -> Self {
        Self::with_cert_days(365)
    }

    /// With a signing certificate that expires in `days`.
    pub fn with_cert_days(days: u32) -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(scripts().join("saml-idp.py"))
            .env("IDP_CERT_DAYS", days.to_string());
        let (child, addr) = spawn_listening(cmd, "the SAML IdP (python3 pysaml2)");
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    pub fn entity_id(&self) -> String {
        format!("{}/metadata", self.base)
    }

    pub async fn metadata(&self) -> String {
        reqwest::get(self.entity_id())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A response minted on demand (see `scripts/sso/saml-idp.py`): `email`, `sp` (the audience),
    /// `acs`, `in_response_to`, and optionally `alg` (`sha1`), `sign` (`response`, `none`),
    /// `lifetime` (seconds; negative: expired), `name_id`, `name_id_format`, `groups`, `context`.
    pub async fn mint(&self, p: Value) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/mint", self.base))
            .json(&p)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["SAMLResponse"]
            .as_str()
            .unwrap_or_else(|| panic!("the IdP minted nothing: {body}"))
            .to_owned()
    }

    /// Follows watchword's redirect to the IdP and reads the AuthnRequest off its login page:
    /// the request's ID, the ACS, the SP's entity id and the RelayState.
    pub async fn request(&self, redirect_url: &str) -> SamlRequest {
        let page = page(redirect_url).await;
        let field = |k: &str| field(&page, k);
        SamlRequest {
            id: field("id"),
            acs: field("acs"),
            sp: field("sp"),
            relay_state: field("relay"),
        }
    }

    /// Follows watchword's redirect to the IdP, signs `email` in on its login page, and returns
    /// what the IdP's auto-posting form would send to the ACS.
    pub async fn sign_in(&self, redirect_url: &str, email: &str) -> SamlPost {
        let mut form: Vec<(String, String)> = hidden_fields(&page(redirect_url).await);
        form.push(("username".into(), email.into()));
        let page = reqwest::Client::new()
            .post(format!("{}/login", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let field = |k: &str| field(&page, k);
        let acs = page
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the IdP's form posts somewhere")
            .to_owned();
        SamlPost {
            acs: unescape(&acs),
            saml_response: field("SAMLResponse"),
            relay_state: field("RelayState"),
        }
    }
}

async fn page(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The value of a page's hidden input `name`.
fn field(page: &str, name: &str) -> String {
    hidden_fields(page)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} on the page: {page}"))
}

/// The hidden inputs of a page: (name, value), HTML entities undone.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|s| {
            let name = s.split("name=\"").nth(1)?.split('"').next()?;
            let value = s.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DNS server on loopback answering TXT questions from a file.
pub struct Dns {
    child: Child,
    file: tempfile::NamedTempFile,
    pub addr: String,
}

impl Dns {
    pub fn start() -> Self {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "{}").unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(scripts().join("dns.py")).arg(file.path());
        let (child, addr) = spawn_listening(cmd, "the DNS server (python3 dnslib)");
        Self { child, file, addr }
    }

    /// Publishes exactly these TXT records (name → texts), replacing the previous ones.
    pub fn publish(&self, records: Value) {
        std::fs::write(self.file.path(), records.to_string()).unwrap();
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The loopback proxy between PyPI `scim2-tester` and an account's SCIM endpoint
/// (`scripts/scim/proxy.py`): maps the user names the tester invents into `domain` and back.
pub struct ScimProxy {
    child: Child,
    pub url: String,
}

impl ScimProxy {
    pub fn start(scim_base: &str, domain: &str) -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(scripts().join("../scim/proxy.py"))
            .arg("0")
            .arg(scim_base)
            .arg(domain);
        let (child, addr) = spawn_listening(cmd, "the SCIM proxy");
        Self {
            child,
            url: format!("http://{addr}"),
        }
    }
}

impl Drop for ScimProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
