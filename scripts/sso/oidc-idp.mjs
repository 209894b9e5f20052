// An OpenID Provider for the SSO tests: npm `oidc-provider` (certified, nobody here wrote it)
// with a login page that signs anyone in under the login name they type. The
// login becomes the subject and the email (`grace@acme.test`); `name` is derived from it, and
// `groups` is ["staff"], with "admins" for logins starting with "boss"; `amr` is ["pwd"], or
// ["pwd", "otp"] for logins starting with "mfa".
//
// Usage: node oidc-idp.mjs  (env IDP_CLIENTS: JSON list of {client_id, client_secret,
// redirect_uris}; IDP_PORT: port, 0 for any; IDP_CONFORM=1: profile claims in userinfo only). Prints "listening http://127.0.0.1:PORT" once up.
import Provider from 'oidc-provider';
import http from 'node:http';

// The provider's own login and consent pages: a login form (any login, any password) and a
// consent button. A login starting with "mfa" is recorded as password + one-time code (`amr`).
async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const prompt = details.prompt.name;
  if (req.method === 'GET') {
    const fields = prompt === 'login'
      ? '<input required type="text" name="login" placeholder="Enter any login"><input required type="password" name="password" placeholder="and password"><button type="submit">Sign-in</button>'
      : '<button type="submit">Continue</button>';
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><title>${prompt}</title><form method="post" action="/interaction/${details.uid}"><input type="hidden" name="prompt" value="${prompt}"/>${fields}</form>`);
    return;
  }
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  if (prompt === 'login') {
    const login = form.get('login');
    const amr = login.split('@')[0].startsWith('mfa') ? ['pwd', 'otp'] : ['pwd'];
    await provider.interactionFinished(req, res, { login: { accountId: login, amr } }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

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
    claims: { openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
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
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/interaction/')) {
      interaction(provider, req, res).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    } else {
      callback(req, res);
    }
  });
  console.log(`listening ${issuer}`);
});
