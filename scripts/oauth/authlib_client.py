"""An OAuth 2.0 client for watchword's tests, on PyPI authlib (requests integration).

Usage: authlib_client.py ISSUER CLIENT_ID CLIENT_SECRET AUTH_METHOD COMMAND [ARG]
  AUTH_METHOD  client_secret_basic | client_secret_post
  COMMAND      token [SCOPE]     client credentials grant; prints the token response as JSON
               revoke TOKEN      RFC 7009 revocation; prints {"status": N}
The endpoints are read from the RFC 8414 metadata at ISSUER/.well-known/oauth-authorization-server.
"""

import json
import sys

import requests
from authlib.integrations.requests_client import OAuth2Session


def main():
    issuer, client_id, secret, method, command, *rest = sys.argv[1:]
    meta = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
    client = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    if command == "token":
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
