"""An OAuth 2.0 client for watchword's tests, on PyPI authlib (requests integration).

Usage: authlib_client.py ISSUER CLIENT_ID CLIENT_SECRET AUTH_METHOD COMMAND [ARG]
  AUTH_METHOD  client_secret_basic | client_secret_post
  COMMAND      token [SCOPE]     client credentials grant; prints the token response as JSON
               revoke TOKEN      RFC 7009 revocation; prints {"status": N}
               authorize REDIRECT_URI SCOPE
                                 an authorization URL with PKCE S256; prints {url, state, verifier}
               exchange REDIRECT_URI STATE VERIFIER CALLBACK_URL
                                 the code of CALLBACK_URL exchanged (state checked); prints tokens
               refresh REFRESH_TOKEN
                                 a refresh; prints the new tokens
  An empty CLIENT_SECRET makes a public client (AUTH_METHOD none).
The endpoints are read from the RFC 8414 metadata at ISSUER/.well-known/oauth-authorization-server.
"""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session


def main():
    issuer, client_id, secret, method, command, *rest = sys.argv[1:]
    meta = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    redirect_uri = rest[0] if command in ("authorize", "exchange") else None
    client = OAuth2Session(
        client_id,
        secret or None,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        scope=rest[1] if command == "authorize" else None,
    )
    if command == "authorize":
        from authlib.common.security import generate_token

        verifier = generate_token(64)
        url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        print(json.dumps({"url": url, "state": state, "verifier": verifier}))
    elif command == "exchange":
        _, state, verifier, callback = rest
        try:
            token = client.fetch_token(
                meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
            )
            print(json.dumps(dict(token)))
        except Exception as e:
            print(json.dumps({"error": getattr(e, "error", repr(e)), "description": getattr(e, "description", "")}))
    elif command == "refresh":
        try:
            token = client.refresh_token(meta["token_endpoint"], refresh_token=rest[0])
            print(json.dumps(dict(token)))
        except Exception as e:
            print(json.dumps({"error": getattr(e, "error", repr(e)), "description": getattr(e, "description", "")}))
    elif command == "token":
        scope = rest[0] if rest else None
        try:
            token = client.fetch_token(
                meta["token_endpoint"], grant_type="client_credentials", scope=scope
            )
            print(json.dumps(dict(token)))
        except Exception as e:  # the test reads the error the server gave
            print(json.dumps({"error": getattr(e, "error", repr(e)), "description": getattr(e, "description", "")}))
    elif command == "revoke":
        res = client.revoke_token(meta["revocation_endpoint"], rest[0], token_type_hint="access_token")
        print(json.dumps({"status": res.status_code}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
