//! My security: the password, second factors (authenticator apps with a QR code, passkeys),
//! recovery codes, the login email and "log out everywhere". Sensitive actions that need a recent authentication ask for the
//! password or a code on the same page and then complete the action.

use super::Frame;
use super::Params;
use super::form::{Fields, SignedForm, field};
use super::page::{Shown, SignedIn, banner, needs_password};
use super::words::{MaybeWhen, When};
use super::{local_path, message, render};
use crate::AppState;
use crate::extract::{Session, clear_session_cookie};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use watchword_app::AppError;
use watchword_app::factors::MfaStatus;
use watchword_app::mfa::Proof;
use watchword_domain::DomainError;
use watchword_domain::password::Password;

pub struct FactorRowView {
    id: String,
    name: String,
    kind: &'static str,
    added: When,
    last_used: MaybeWhen,
}

pub struct Enrolment {
    factor_id: String,
    secret: String,
    qr_svg: String,
}

impl Enrolment {
    fn of(e: watchword_app::factors::TotpEnrolment) -> Self {
        Self {
            qr_svg: qr_svg(&e.otpauth_uri),
            factor_id: e.factor_id,
            secret: e.secret_base32,
        }
    }
}

#[derive(Template)]
#[template(path = "my_security.html")]
struct MySecurityPage {
    frame: Frame,
    csrf: String,
    factors: Vec<FactorRowView>,
    /// "1 unused recovery code", "7 unused recovery codes".
    recovery_codes_left: String,
    recovery_codes_low: bool,
    add_backup: bool,
    enforced: bool,
    enrolment: Option<Enrolment>,
    /// A phone waiting for its texted code: (factor id, last digits).
    sms_enrolment: Option<(String, String)>,
    has_sms: bool,
    email: String,
    /// The person's anti-phishing phrase (shown to them only).
    phrase: Option<String>,
    new_codes: Vec<String>,
    /// A sensitive action waiting for the password or a code: (op, target, name).
    reauth: Option<(String, String, String)>,
    autostart_passkey: bool,
    /// Where the person was going when an account sent them here to add a second factor.
    next: Option<String>,
    /// Recovery codes the page's script shows (after a passkey), so the "continue" step is theirs.
    script_codes: bool,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "passkey" => "Passkey",
        "totp" => "Authenticator app",
        "sms" => "Text message (SMS) — the weakest method",
        _ => "Other",
    }
}

#[derive(Default)]
struct Extra {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    enrolment: Option<Enrolment>,
    sms_enrolment: Option<(String, String)>,
    new_codes: Vec<String>,
    reauth: Option<(String, String, String)>,
    autostart_passkey: bool,
    script_codes: bool,
}

fn qr_svg(uri: &str) -> String {
    qrcode::QrCode::new(uri.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default()
}

async fn render_page(state: &AppState, s: &Session, extra: Extra, next: Option<&str>) -> Shown {
    let status: MfaStatus = state.app.mfa_status(&s.actor).await?;
    let (code, error) = banner(extra.error);
    let page = MySecurityPage {
        frame: Frame::signed_in("My security", s, None, extra.notice, error),
        csrf: s.csrf_token(),
        factors: status
            .factors
            .iter()
            .map(|f| FactorRowView {
                id: f.id.clone(),
                name: f.name.clone(),
                kind: kind_label(f.kind),
                added: When(f.created_at),
                last_used: MaybeWhen(f.last_used_at, "never"),
            })
            .collect(),
        has_sms: status.factors.iter().any(|f| f.kind == "sms"),
        email: s.actor.email.clone(),
        phrase: state.app.phrase(&s.actor).await?,
        sms_enrolment: extra.sms_enrolment,
        recovery_codes_left: super::words::count(
            status.recovery_codes_left,
            "unused recovery code",
            "unused recovery codes",
        ),
        recovery_codes_low: status.recovery_codes_low,
        add_backup: status.add_backup,
        enforced: !status.enforced_by.is_empty(),
        enrolment: extra.enrolment,
        new_codes: extra.new_codes,
        reauth: extra.reauth,
        autostart_passkey: extra.autostart_passkey,
        next: next.map(str::to_owned),
        script_codes: extra.script_codes,
    };
    Ok(render(code, page))
}

pub async fn page(State(state): State<AppState>, SignedIn(s): SignedIn, q: Params) -> Shown {
    let next = q.get("next").and_then(|n| local_path(n));
    let notice = match q.get("done").map(String::as_str) {
        Some("passkey_added") => Some("Passkey added.".to_owned()),
        Some("removed") => Some("Factor removed.".to_owned()),
        Some("password_changed") => {
            Some("Password changed. Your other sessions were signed out.".to_owned())
        }
        Some("added") => Some("Authenticator app added.".to_owned()),
        Some("phrase_saved") => Some("Anti-phishing phrase saved.".to_owned()),
        Some("email_link_sent") => Some(
            "A confirmation link is on its way to the new address; your email changes once it is followed."
                .to_owned(),
        ),
        _ => None,
    };
    let extra = Extra {
        notice,
        autostart_passkey: q.get("add").is_some_and(|v| v == "passkey"),
        script_codes: q.get("codes").is_some_and(|v| v == "1"),
        ..Extra::default()
    };
    render_page(&state, &s, extra, next.as_deref()).await
}

/// One form for every action on the page: `op` names it, `target` the factor.
pub async fn act(
    State(state): State<AppState>,
    SignedForm {
        session: s,
        form: f,
    }: SignedForm<Fields>,
) -> Shown {
    let (op, target, name) = (field(&f, "op"), field(&f, "target"), field(&f, "name"));
    let next = local_path(field(&f, "next"));
    let with_next = |to: &str| match &next {
        Some(n) => format!(
            "{to}&{}",
            serde_urlencoded::to_string([("next", n)]).unwrap_or_default()
        ),
        None => to.to_owned(),
    };
    let mut actor = s.actor.clone();
    let (pw, code) = (field(&f, "password"), field(&f, "reauth_code"));
    if !field(&f, "send_sms").is_empty() {
        let (notice, error) = match state.app.send_step_up_sms(&actor, None).await {
            Ok(hint) => (
                Some(format!("A code is on its way to your phone ending {hint}.")),
                None,
            ),
            Err(e) => (None, Some(message(e))),
        };
        let extra = Extra {
            notice,
            error,
            reauth: Some((op.into(), target.into(), name.into())),
            ..Extra::default()
        };
        return render_page(&state, &s, extra, next.as_deref()).await;
    }
    if !pw.is_empty() || !code.is_empty() {
        let res = if pw.is_empty() {
            state
                .app
                .reauthenticate_with_code(&actor, field(&f, "reauth_method"), Proof::Code(code))
                .await
        } else {
            state
                .app
                .reauthenticate(&actor, Password::new(pw.to_owned()))
                .await
        };
        if let Err(e) = res {
            let extra = Extra {
                error: Some(message(e)),
                reauth: Some((op.into(), target.into(), name.into())),
                ..Extra::default()
            };
            return render_page(&state, &s, extra, next.as_deref()).await;
        }
        actor.authenticated_at = state.app.now();
    }
    let app = &state.app;
    let result: Result<Response, AppError> = match op {
        "start_totp" => match app.start_totp(&actor, Some(name)).await {
            Ok(e) => {
                let extra = Extra {
                    enrolment: Some(Enrolment::of(e)),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            Err(e) => Err(e),
        },
        "confirm_totp" => match app
            .confirm_totp(&actor, Some(target), field(&f, "code"))
            .await
        {
            Ok(c) => {
                let extra = Extra {
                    notice: Some("Authenticator app added.".into()),
                    new_codes: c.recovery_codes.unwrap_or_default(),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            // A wrong code: the same enrolment again, to retry with the app entry just made.
            Err(AppError::InvalidCode) => {
                let enrolment = app.pending_totp_enrolment(&actor, target).await.ok();
                let extra = Extra {
                    error: Some(message(AppError::InvalidCode)),
                    enrolment: enrolment.map(Enrolment::of),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            Err(e) => Err(e),
        },
        "start_sms" => match app.start_sms(&actor, field(&f, "phone"), Some(name)).await {
            Ok(e) => {
                let extra = Extra {
                    notice: Some(format!(
                        "A code is on its way to your phone ending {}.",
                        e.phone_hint
                    )),
                    sms_enrolment: Some((e.factor_id, e.phone_hint)),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            Err(e) => Err(e),
        },
        "confirm_sms" => match app
            .confirm_sms(&actor, Some(target), field(&f, "code"))
            .await
        {
            Ok(c) => {
                let extra = Extra {
                    notice: Some("Phone added for text-message codes.".into()),
                    new_codes: c.recovery_codes.unwrap_or_default(),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            Err(e) => {
                let extra = Extra {
                    error: Some(message(e)),
                    sms_enrolment: Some((target.to_owned(), String::new())),
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
        },
        // The current password is the proof here (no step-up): checked and limited as the API.
        "change_password" => {
            app.change_password(
                &actor,
                Password::new(field(&f, "current_password").to_owned()),
                Password::new(field(&f, "new_password").to_owned()),
            )
            .await
            .map(|_| Redirect::to(&with_next("/me/security?done=password_changed")).into_response())
        }
        // The new address rides in `name`, so that a step-up in between keeps it.
        "change_email" => app
            .request_email_change(&actor, name)
            .await
            .map(|_| Redirect::to(&with_next("/me/security?done=email_link_sent")).into_response()),
        // The phrase rides in `name`, so that a step-up in between keeps it.
        "set_phrase" => app
            .set_phrase(&actor, Some(name))
            .await
            .map(|_| Redirect::to(&with_next("/me/security?done=phrase_saved")).into_response()),
        "remove" => app
            .remove_factor(&actor, target)
            .await
            .map(|_| Redirect::to(&with_next("/me/security?done=removed")).into_response()),
        "regenerate" => match app.regenerate_recovery_codes(&actor).await {
            Ok(codes) => {
                let extra = Extra {
                    notice: Some("New recovery codes: the old ones no longer work.".into()),
                    new_codes: codes,
                    ..Extra::default()
                };
                return render_page(&state, &s, extra, next.as_deref()).await;
            }
            Err(e) => Err(e),
        },
        // The browser registers the passkey; a fresh authentication was what it needed.
        "add_passkey" if actor.authenticated_at.0 > s.actor.authenticated_at.0 => {
            Ok(Redirect::to(&with_next("/me/security?add=passkey")).into_response())
        }
        "add_passkey" => Err(DomainError::forbidden(
            "reauthentication_required",
            "confirm it is you to add a passkey",
        )
        .into()),
        "logout_all" => app.logout_everywhere(&actor).await.map(|_| {
            let mut res = Redirect::to("/login?done=logged_out_everywhere").into_response();
            if let Ok(v) = HeaderValue::from_str(&clear_session_cookie()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }),
        _ => Err(DomainError::invalid("unknown_action", "unknown action").into()),
    };
    match result {
        Ok(r) => Ok(r),
        Err(e) if needs_password(&e) => {
            let extra = Extra {
                reauth: Some((op.into(), target.into(), name.into())),
                ..Extra::default()
            };
            render_page(&state, &s, extra, next.as_deref()).await
        }
        Err(e) => {
            let extra = Extra {
                error: Some(message(e)),
                ..Extra::default()
            };
            render_page(&state, &s, extra, next.as_deref()).await
        }
    }
}

/// "I saved them": back where the person was going when an account sent them to add a factor.
pub async fn continue_to(SignedIn(_): SignedIn, q: Params) -> Response {
    let to = q.get("next").and_then(|n| local_path(n));
    Redirect::to(to.as_deref().unwrap_or("/app")).into_response()
}
