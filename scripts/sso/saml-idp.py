"""A SAML 2.0 identity provider for watchword's tests, on PyPI pysaml2 with Debian's xmlsec1.

It signs real responses with an RSA-2048 key of its own (SHA-256 passed explicitly: pysaml2
defaults to SHA-1). Started by the test kit; prints `listening 127.0.0.1:PORT` when it listens.

  GET  /metadata          the IdP's metadata (entity id, HTTP-Redirect SSO URL, signing cert)
  GET  /sso/redirect      an AuthnRequest (HTTP-Redirect binding): shows the login page
  POST /login             the login page's form: answers the request with a signed response
                          in an auto-posting form to the ACS (HTTP-POST binding)
  POST /mint              JSON: a response minted on demand, for the negative tests

Logins: the username is the email. One starting with "mfa" signs in with a multi-factor
AuthnContextClassRef; one starting with "boss" is in the group "admins".
"""

import base64
import datetime
import html
import json
import os
import sys
import tempfile
import urllib.parse
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

warnings.filterwarnings("ignore")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, xmldsig  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS  # noqa: E402
from saml2.server import Server  # noqa: E402

PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
MFA_CONTEXT = "https://refeds.org/profile/mfa"
ALGS = {
    "sha256": (xmldsig.SIG_RSA_SHA256, xmldsig.DIGEST_SHA256),
    "sha1": (xmldsig.SIG_RSA_SHA1, xmldsig.DIGEST_SHA1),
}


def make_key(workdir, days):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "watchword test IdP")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(workdir, "idp.key")
    cert_path = os.path.join(workdir, "idp.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def make_server(base, workdir, days):
    key_path, cert_path = make_key(workdir, days)
    conf = IdPConfig()
    conf.load(
        {
            "entityid": f"{base}/metadata",
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": key_path,
            "cert_file": cert_path,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)]
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "want_authn_requests_signed": False,
                    "policy": {"default": {"lifetime": {"minutes": 5}, "entity_categories": []}},
                }
            },
            "metadata": {},
        }
    )
    return Server(config=conf)


def respond(idp, p):
    """A signed response for the parameters `p` (a dict), base64 as the ACS gets it."""
    email = p["email"]
    sign_alg, digest_alg = ALGS[p.get("alg", "sha256")]
    groups = p.get("groups") or (["admins"] if email.startswith("boss") else [])
    identity = {"mail": [email], "displayName": [p.get("name", email.split("@")[0])]}
    if groups:
        identity["groups"] = groups
    context = p.get("context") or (MFA_CONTEXT if email.startswith("mfa") else PASSWORD_CONTEXT)
    name_id = saml.NameID(
        format=p.get("name_id_format", NAMEID_FORMAT_EMAILADDRESS), text=p.get("name_id", email)
    )
    audience = p.get("audience", p["sp"])
    lifetime = int(p.get("lifetime", 300))
    policy = idp.config.getattr("policy", "idp")
    # A negative lifetime mints an assertion that expired that long ago (signed as such).
    policy._restrictions["default"]["lifetime"] = {"seconds": lifetime}
    resp = idp.create_authn_response(
        identity,
        p.get("in_response_to"),
        p["acs"],
        audience,
        name_id=name_id,
        authn={"class_ref": context, "authn_auth": idp.config.entityid},
        sign_response=p.get("sign") == "response",
        sign_assertion=p.get("sign", "assertion") == "assertion",
        sign_alg=sign_alg,
        digest_alg=digest_alg,
    )
    return base64.b64encode(str(resp).encode()).decode()


class Handler(BaseHTTPRequestHandler):
    idp = None
    base = ""
    pending = {}

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/metadata":
            xml = create_metadata_string(None, self.idp.config, sign=False)
            return self.send(200, xml.decode() if isinstance(xml, bytes) else xml, "application/xml")
        if url.path == "/sso/redirect":
            req = self.idp.parse_authn_request(q["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            msg = req.message
            relay = q.get("RelayState", [""])[0]
            page = f"""<!doctype html><html><body><h1>Test IdP</h1>
<form method="post" action="/login">
<input type="hidden" name="id" value="{html.escape(msg.id)}">
<input type="hidden" name="acs" value="{html.escape(msg.assertion_consumer_service_url)}">
<input type="hidden" name="sp" value="{html.escape(msg.issuer.text)}">
<input type="hidden" name="relay" value="{html.escape(relay)}">
<label>Email <input name="username" id="username"></label>
<button type="submit" id="login">Sign in</button></form></body></html>"""
            return self.send(200, page)
        self.send(404, "not found", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        if self.path == "/mint":
            p = json.loads(body)
            try:
                b64 = respond(self.idp, p)
            except Exception as e:  # the test sees why
                return self.send(400, json.dumps({"error": repr(e)}), "application/json")
            return self.send(200, json.dumps({"SAMLResponse": b64}), "application/json")
        if self.path == "/login":
            f = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
            p = {"email": f["username"], "sp": f["sp"], "acs": f["acs"], "in_response_to": f["id"]}
            b64 = respond(self.idp, p)
            page = f"""<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{html.escape(f['acs'])}">
<input type="hidden" name="SAMLResponse" value="{b64}">
<input type="hidden" name="RelayState" value="{html.escape(f.get('relay', ''))}">
<noscript><button type="submit">Continue</button></noscript></form></body></html>"""
            return self.send(200, page)
        self.send(404, "not found", "text/plain")


def main():
    days = int(os.environ.get("IDP_CERT_DAYS", "365"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = httpd.server_address[1]
    Handler.base = f"http://127.0.0.1:{port}"
    workdir = tempfile.mkdtemp(prefix="saml-idp-")
    Handler.idp = make_server(Handler.base, workdir, days)
    print(f"listening 127.0.0.1:{port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
