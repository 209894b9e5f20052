// An OpenID Provider for the SSO tests: npm `oidc-provider` (certified, nobody here wrote it)
// with its development login page, which signs anyone in under the login name they type. The
// login becomes the subject and the email (`grace@acme.test`); `name` is derived from it, and
// `groups` is ["staff"], with "admins" for logins starting with "boss".
//
// Usage: node oidc-idp.mjs  (env IDP_CLIENTS: JSON list of {client_id, client_secret,
// redirect_uris}; IDP_PORT: port, 0 for any; IDP_CONFORM=1: profile claims in userinfo only). Prints "listening http://127.0.0.1:PORT" once up.
import Provider from 'oidc-provider';
import http from 'node:http';

const clients = JSON.parse(process.env.IDP_CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));

const server = http.createServer();
server.listen(Number(process.env.IDP_PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients,
    pkce: { required: () => true },
    // Put the scopes' claims (email, name) in the ID token, as Okta and Entra ID do; with
    // IDP_CONFORM=1 they are in the userinfo answer only (the provider's default).
    conformIdTokenClaims: process.env.IDP_CONFORM === '1',
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['watchword-tests-only-cookie-key'] },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const local = id.split('@')[0];
          // People whose login starts with "boss" are in the group "admins".
          const groups = local.startsWith('boss') ? ['staff', 'admins'] : ['staff'];
          return { sub: id, email: id, email_verified: true, name: `${local[0].toUpperCase()}${local.slice(1)} Example`, groups };
        },
      };
    },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});
