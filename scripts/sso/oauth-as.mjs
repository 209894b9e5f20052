// npm `oidc-provider` as an OAuth 2.0 authorization server, the performance peer of watchword's
// OAuth endpoints: the client credentials grant (opaque access tokens, its in-memory store) and
// token introspection, for one confidential client authenticated with client_secret_basic.
//
// Usage: node oauth-as.mjs  (env AS_CLIENT_ID, AS_CLIENT_SECRET). Prints
// "listening http://127.0.0.1:PORT" once up; the token endpoint is /token, introspection
// /token/introspection.
import Provider from 'oidc-provider';
import http from 'node:http';

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: process.env.AS_CLIENT_ID,
      client_secret: process.env.AS_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'members:read',
    }],
    scopes: ['members:read'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
    },
    cookies: { keys: ['watchword-bench-only-cookie-key'] },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});
