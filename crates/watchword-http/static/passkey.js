// Passkeys in the console: add one (My security), sign in with one (Log in), or answer a
// login's second step with one. The browser does the cryptography; this only carries JSON
// between it and watchword's API.
(function () {
  "use strict";
  var status = document.getElementById("passkey-status");
  function say(text) { if (status) { status.textContent = text; } }

  function post(url, body, csrf) {
    var headers = { "content-type": "application/json", accept: "application/json" };
    if (csrf) { headers["x-csrf-token"] = csrf; }
    return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body || {}) })
      .then(function (res) {
        return res.text().then(function (t) {
          var v = t ? JSON.parse(t) : {};
          if (!res.ok) { var e = new Error(v.message || res.statusText); e.code = v.code; throw e; }
          return v;
        });
      });
  }

  function unsupported() {
    return !window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON;
  }

  function failed(e) {
    if (e.code === "reauthentication_required") {
      var form = document.getElementById("reauth-for-passkey");
      if (form) { form.submit(); return; }
    }
    say(e.name === "NotAllowedError" ? "The passkey request was cancelled or timed out." : "Passkey failed: " + e.message);
  }

  var add = document.getElementById("passkey-add");
  if (add) {
    var start = function () {
      if (unsupported()) { say("This browser does not support passkeys."); return; }
      var csrf = add.getAttribute("data-csrf");
      var nameField = document.getElementById("passkey-name");
      var name = nameField ? nameField.value : "";
      say("Follow your browser's prompt…");
      post("/api/v1/me/mfa/passkeys", {}, csrf).then(function (c) {
        var opts = PublicKeyCredential.parseCreationOptionsFromJSON(c.options.publicKey);
        return navigator.credentials.create({ publicKey: opts }).then(function (cred) {
          return post("/api/v1/me/mfa/passkeys/confirm", { ceremony_id: c.ceremony_id, name: name || null, credential: cred.toJSON() }, csrf);
        });
      }).then(function (r) {
        var to = "/me/security?done=passkey_added";
        if (r.recovery_codes) { sessionStorage.setItem("watchword-recovery-codes", r.recovery_codes.join("\n")); to += "&codes=1"; }
        if (add.hasAttribute("data-next")) { to += "&next=" + encodeURIComponent(add.getAttribute("data-next")); }
        window.location.assign(to);
      }).catch(failed);
    };
    add.addEventListener("click", start);
    if (add.hasAttribute("data-autostart")) { start(); }
  }

  var codes = document.getElementById("new-recovery-codes");
  if (codes && sessionStorage.getItem("watchword-recovery-codes")) {
    codes.textContent = sessionStorage.getItem("watchword-recovery-codes");
    sessionStorage.removeItem("watchword-recovery-codes");
    codes.parentNode.hidden = false;
  }

  function signIn(optionsUrl, optionsBody, finishUrl, finishBody) {
    if (unsupported()) { say("This browser does not support passkeys."); return; }
    say("Follow your browser's prompt…");
    post(optionsUrl, optionsBody).then(function (c) {
      var opts = PublicKeyCredential.parseRequestOptionsFromJSON(c.options.publicKey);
      return navigator.credentials.get({ publicKey: opts }).then(function (cred) {
        var body = finishBody();
        body.ceremony_id = c.ceremony_id;
        body.credential = cred.toJSON();
        return post(finishUrl, body);
      });
    }).then(function () { window.location.assign("/app"); }).catch(failed);
  }

  var login = document.getElementById("passkey-login");
  if (login) {
    login.addEventListener("click", function () {
      signIn("/api/v1/login/passkey/options", {}, "/api/v1/login/passkey", function () { return { session_mode: "cookie" }; });
    });
  }

  var verify = document.getElementById("passkey-verify");
  if (verify) {
    var challenge = verify.getAttribute("data-challenge");
    verify.addEventListener("click", function () {
      signIn("/api/v1/login/mfa/passkey-options", { challenge_id: challenge }, "/api/v1/login/mfa", function () {
        return { challenge_id: challenge, method: "passkey" };
      });
    });
  }
})();
