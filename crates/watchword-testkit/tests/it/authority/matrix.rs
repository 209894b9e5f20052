//! One table walks credential kind × role × policy × action: a member's session acts with its
//! role, an API key with its scopes within its maker's *current* role (made as an Admin with
//! every scope, the maker then moved to the role), and the account's MFA requirement holds
//! sessions without a second factor but not keys.

use reqwest::{Method, StatusCode};
use serde_json::json;
use watchword_domain::{BuiltinRole, Permission};
use watchword_testkit::{Login, TestApp, both_backends};

/// (method, path under the account, the permission it needs).
const ACTIONS: &[(&str, &str, Permission)] = &[
    ("GET", "/members", Permission::UsersRead),
    ("GET", "/roles", Permission::UsersRead),
    ("GET", "/audit-events", Permission::AuditLogRead),
    ("GET", "/api-keys", Permission::ApiKeysManage),
    (
        "DELETE",
        "/api-keys/key_0000000000000000000000000000",
        Permission::ApiKeysManage,
    ),
];

const ROLES: &[BuiltinRole] = &[
    BuiltinRole::Admin,
    BuiltinRole::Manager,
    BuiltinRole::Analyst,
    BuiltinRole::Support,
];

async fn status(
    app: &TestApp,
    account: &str,
    bearer: &str,
    method: &str,
    path: &str,
) -> StatusCode {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let path = format!("/api/v1/accounts/{account}{path}");
    app.call(method, &path, Some(bearer), None).await.0
}

fn allowed(method: &str) -> StatusCode {
    // A revocation of a key that does not exist answers 404 to whoever may revoke keys.
    if method == "DELETE" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    }
}

both_backends!(
    credential_role_policy_action_matrix,
    |app: TestApp| async move {
        let ada = app.signup("Acme", "Ada", "ada@example.com").await;
        // For each role: a member's session, and a key made by an Admin now in that role.
        let mut people: Vec<(BuiltinRole, Login, String)> = Vec::new();
        for (i, role) in ROLES.iter().enumerate() {
            let member = app
                .invite_and_accept(&ada, &format!("m{i}@example.com"), role.key())
                .await;
            let maker = app
                .invite_and_accept(&ada, &format!("k{i}@example.com"), "admin")
                .await;
            let path = format!("/api/v1/accounts/{}/api-keys", ada.account);
            let (s, v) = app
                .post(
                    &path,
                    &maker.token,
                    json!({"name": format!("k{i}"), "preset": "full"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            let (s, _) = app.set_role(&ada, &maker.membership, role.key()).await;
            assert_eq!(s, StatusCode::OK);
            people.push((*role, member, v["secret"].as_str().unwrap().to_owned()));
        }
        for mfa_required in [false, true] {
            if mfa_required {
                app.set_plan(&ada, "paid").await;
            }
            for (role, member, key) in &people {
                let held = role.permissions();
                for (method, path, need) in ACTIONS {
                    let want = if held.contains(*need) {
                        allowed(method)
                    } else {
                        StatusCode::FORBIDDEN
                    };
                    let got = status(&app, &ada.account, key, method, path).await;
                    assert_eq!(
                        got, want,
                        "key of a {role:?} maker, {method} {path}, MFA required {mfa_required}"
                    );
                    let want = if mfa_required {
                        StatusCode::FORBIDDEN
                    } else {
                        want
                    };
                    let got = status(&app, &ada.account, &member.token, method, path).await;
                    assert_eq!(
                        got, want,
                        "{role:?} session, {method} {path}, MFA required {mfa_required}"
                    );
                }
            }
        }
    }
);
