// npm `openid-client` (v6) as an OAuth 2.0 client of watchword, for the OAuth tests: discovery
// from the RFC 8414 document, authorization code + PKCE, refresh, client credentials,
// introspection and revocation. One command per run; prints JSON.
//
// Usage: node oauth-client.mjs ISSUER CLIENT_ID CLIENT_SECRET COMMAND [ARGS]
//   authorize REDIRECT_URI SCOPE                      -> {url, state, verifier}
//   exchange REDIRECT_URI STATE VERIFIER CALLBACK_URL -> the token response
//   refresh REFRESH_TOKEN                             -> the token response
//   token [SCOPE]                                     -> the client credentials token response
//   introspect TOKEN                                  -> the introspection answer
//   revoke TOKEN                                      -> {"revoked": true}
// Errors print {"error", "error_description"} as the server gave them.
import * as client from 'openid-client';

const [issuer, clientId, secret, command, ...args] = process.argv.slice(2);

async function main() {
  const config = await client.discovery(new URL(issuer), clientId, secret || undefined, undefined, {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
  });
  switch (command) {
    case 'authorize': {
      const [redirect_uri, scope] = args;
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri,
        scope,
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, state, verifier };
    }
    case 'exchange': {
      const [, state, verifier, callback] = args;
      const t = await client.authorizationCodeGrant(config, new URL(callback), {
        pkceCodeVerifier: verifier,
        expectedState: state,
      });
      return { ...t };
    }
    case 'refresh':
      return { ...(await client.refreshTokenGrant(config, args[0])) };
    case 'token':
      return { ...(await client.clientCredentialsGrant(config, args[0] ? { scope: args[0] } : {})) };
    case 'introspect':
      return await client.tokenIntrospection(config, args[0]);
    case 'revoke':
      await client.tokenRevocation(config, args[0]);
      return { revoked: true };
    default:
      throw new Error(`unknown command ${command}`);
  }
}

main()
  .then((out) => console.log(JSON.stringify(out)))
  .catch((e) => console.log(JSON.stringify({ error: e.error || e.code || String(e), error_description: e.error_description || e.message })));
