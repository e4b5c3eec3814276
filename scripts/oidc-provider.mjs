// The OpenID / OAuth2 provider slimbox's OAuth tests run against: node's
// `oidc-provider` (npm, pinned in scripts/oidc/package-lock.json) on 127.0.0.1.
// Started by scripts/oidc-harness, which installs the package and sets the
// environment below; not meant to be run by hand.
//
// Environment:
//   OIDC_PORT          the loopback port to listen on (required)
//   OIDC_ACCESS_TTL    lifetime of access tokens in seconds (default 3600);
//                      a test sets it short to see a token expire during a run
//   OIDC_REFRESH_TTL   lifetime of refresh tokens in seconds (default 86400)
//   OIDC_ROTATE_REFRESH  "1" (default): a refresh gives a new refresh token and
//                      the old one is used up, as Microsoft does; reusing a
//                      used one revokes the whole grant. "0": the refresh token
//                      stays the same, as Google does.
//   OIDC_REDIRECT_URIS more redirect URIs of the client "slimbox", separated
//                      by spaces (loopback ones match on any port)
//   OIDC_WATCH_PID     exit when the process with this pid is gone (the test
//                      that started the provider), so none is left behind
//
// Issuer: http://127.0.0.1:PORT (discovery at /.well-known/openid-configuration;
// endpoints /auth, /token, /device/auth, /device, /token/introspection,
// /token/revocation, /me, /jwks).
//
// Users (account id = `sub` = the Dovecot user): alice/alicepw, bob/bobpw.
//
// Clients:
//   slimbox        public native client (no secret, PKCE S256 required) for the
//                  authorization code flow with a loopback redirect URI:
//                  http://127.0.0.1:ANYPORT/ and http://127.0.0.1:ANYPORT/callback
//                  (RFC 8252 7.3: the port is ignored for native clients; the
//                  same for http://[::1] and http://localhost; more with
//                  OIDC_REDIRECT_URIS), the device flow and refresh tokens.
//                  Scopes: openid email offline_access imap.
//   slimbox-app    confidential client (secret "slimbox-app-secret",
//                  client_secret_basic or client_secret_post) for the client
//                  credentials grant; scope "imap.app" (stands for Microsoft's
//                  https://outlook.office365.com/.default). Its tokens log in
//                  to any mailbox (app-only access, as in Microsoft 365).
//   dovecot        confidential client (secret "dovecot-secret") that Dovecot
//                  uses to introspect tokens; it may introspect only access
//                  tokens (not refresh tokens).
//
// Tokens: opaque access tokens (43 characters of [A-Za-z0-9_-]); Dovecot
// checks them by introspection (POST /token/introspection), so a revoked,
// expired or unknown token is refused at once. A refresh token is issued to
// every code or device grant (offline_access is not needed). Revoking a
// refresh token (or an access token) revokes the whole grant: its access
// tokens stop working too. Every access token carries the claim `imap_user`:
// the account id for a user's token, "*" for an app token.
//
// Driving the sign-in over plain HTTP (what tests/support/oidc.rs does; keep
// cookies by name and send them all back, ignore paths):
//   Code + PKCE:
//   1. GET /auth?response_type=code&client_id=slimbox&redirect_uri=http://127.0.0.1:PORT/callback
//        &scope=openid%20offline_access%20imap&state=S&code_challenge=C&code_challenge_method=S256
//      -> 303 Location: /interaction/UID (sets cookies)
//   2. GET /interaction/UID -> 200, the login form (form id "login").
//   3. POST /interaction/UID/login  login=alice&password=alicepw
//      -> 303 Location: /auth/UID -> 303 Location: /interaction/UID2
//      A wrong password gives 200 with the form again and "Invalid login".
//   4. GET /interaction/UID2 -> 200, the consent form (form id "consent").
//   5. POST /interaction/UID2/confirm (empty body) -> 303 /auth/UID2
//      -> 303 Location: REDIRECT_URI?code=...&state=S&iss=...
//      POST /interaction/UID2/abort instead refuses consent: the redirect then
//      carries error=access_denied.
//   6. POST /token grant_type=authorization_code&code=...&redirect_uri=...
//        &client_id=slimbox&code_verifier=V
//      -> {access_token, refresh_token, id_token, expires_in, token_type, scope}
//   Device flow:
//   1. POST /device/auth client_id=slimbox&scope=openid%20offline_access%20imap
//      -> {device_code, user_code, verification_uri, verification_uri_complete, interval}
//   2. GET /device -> 200, a form with a hidden input name="xsrf".
//   3. POST /device xsrf=X&user_code=USERCODE -> 200, the confirm form with a
//      new hidden xsrf.
//   4. POST /device xsrf=X2&user_code=USERCODE&confirm=yes -> 303 to
//      /interaction/UID: then login and consent as in steps 2-5 above (their
//      redirects go to /device/UID instead of /auth/UID), ending at a 200 page
//      with "<h1>Sign-in Success</h1>".
//      (abort=yes instead of confirm=yes refuses: the device poll then gets
//      access_denied.)
//   5. POST /token grant_type=urn:ietf:params:oauth:grant-type:device_code
//        &device_code=...&client_id=slimbox
//      -> authorization_pending before step 4, then the tokens.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('oidc-provider.mjs: OIDC_PORT must be set to a port number');
  process.exit(2);
}
const seconds = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`oidc-provider.mjs: ${name} must be a positive number of seconds`);
    process.exit(2);
  }
  return value;
};
const accessTtl = seconds('OIDC_ACCESS_TTL', 3600);
const refreshTtl = seconds('OIDC_REFRESH_TTL', 86400);
const rotateRefresh = (process.env.OIDC_ROTATE_REFRESH ?? '1') !== '0';
const issuer = `http://127.0.0.1:${port}`;
const extraRedirects = (process.env.OIDC_REDIRECT_URIS ?? '').split(' ').filter(Boolean);
const loopbackRedirects = ['127.0.0.1', '[::1]', 'localhost']
  .flatMap((host) => [`http://${host}/`, `http://${host}/callback`]);

const USERS = new Map([['alice', 'alicepw'], ['bob', 'bobpw']]);

const configuration = {
  clients: [
    {
      client_id: 'slimbox',
      client_name: 'slimbox',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: [...loopbackRedirects, ...extraRedirects],
      scope: 'openid email offline_access imap',
    },
    {
      client_id: 'slimbox-app',
      client_secret: 'slimbox-app-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'imap.app',
    },
    {
      client_id: 'dovecot',
      client_secret: 'dovecot-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  clientDefaults: { token_endpoint_auth_method: 'client_secret_basic' },
  // Both ways of sending a client secret work for the confidential clients.
  clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
  scopes: ['openid', 'email', 'offline_access', 'imap', 'imap.app'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  async findAccount(_ctx, id) {
    if (!USERS.has(id)) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Dovecot may look at access tokens only: a refresh token is no login.
      async allowedPolicy(ctx, client, token) {
        if (client.clientId === 'dovecot') {
          return token.kind === 'AccessToken' || token.kind === 'ClientCredentials';
        }
        return client.clientAuthMethod !== 'none' || token.clientId === client.clientId;
      },
    },
    revocation: { enabled: true },
  },
  // Refresh tokens for every grant of a client allowed them, offline_access or
  // not (the provider drops offline_access without prompt=consent).
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  async expiresWithSession() {
    return false;
  },
  rotateRefreshToken: () => rotateRefresh,
  async extraTokenClaims(_ctx, token) {
    return { imap_user: token.accountId ?? '*' };
  },
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    RefreshToken: refreshTtl,
    AuthorizationCode: 600,
    DeviceCode: 600,
    Grant: refreshTtl,
    IdToken: accessTtl,
    Interaction: 3600,
    Session: 86400,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>oops</h1><pre id="error">${
      escape(JSON.stringify(out))}</pre></body></html>`;
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const providerCallback = provider.callback();

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body><h1>${title}</h1>${body}</body></html>`;
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginForm(uid, clientId, message) {
  return page('Sign in', `<p>to ${escape(clientId)}</p>${message ? `<p id="message">${escape(message)}</p>` : ''}
<form id="login" method="post" action="/interaction/${uid}/login">
<input name="login" autofocus><input name="password" type="password">
<button type="submit">Sign in</button></form>
<form id="abort" method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`);
}

function consentForm(uid, clientId, scope) {
  return page('Authorize', `<p>${escape(clientId)} asks for: <span id="scope">${escape(scope)}</span></p>
<form id="consent" method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form id="abort" method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`);
}

async function grantConsent(details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  // Scopes that are neither OpenID's nor a resource's (imap) are granted too.
  grant.addOIDCScope(String(params.scope ?? ''));
  const id = await grant.save();
  return grantId ? {} : { consent: { grantId: id } };
}

// The sign-in pages: /interaction/UID (GET), .../login, .../confirm, .../abort (POST).
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, page('Wrong interaction', '<p>This sign-in is not the current one.</p>'));
    return;
  }
  const clientId = String(details.params.client_id);
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') send(res, 200, loginForm(uid, clientId));
    else send(res, 200, consentForm(uid, clientId, String(details.params.scope ?? '')));
    return;
  }
  if (req.method !== 'POST' || !action) {
    send(res, 405, page('Method not allowed', ''));
    return;
  }
  const form = await formBody(req);
  let result;
  if (action === 'abort') {
    result = { error: 'access_denied', error_description: 'The user refused the sign-in' };
  } else if (action === 'login') {
    const login = form.get('login') ?? '';
    if (details.prompt.name !== 'login' || USERS.get(login) !== form.get('password')) {
      send(res, 200, loginForm(uid, clientId, 'Invalid login or password'));
      return;
    }
    result = { login: { accountId: login } };
  } else if (action === 'confirm' && details.prompt.name === 'consent') {
    result = await grantConsent(details);
  } else {
    send(res, 400, page('Bad request', `<p>Nothing to ${escape(action)} here.</p>`));
    return;
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const server = createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  const m = path.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/);
  if (!m) {
    providerCallback(req, res);
    return;
  }
  interaction(req, res, m[1], m[2]).catch((err) => {
    console.error('interaction error', err);
    if (!res.headersSent) send(res, 400, page('Sign-in failed', `<pre id="error">${escape(err.message)}</pre>`));
  });
});
server.on('error', (err) => {
  console.error(`oidc-provider.mjs: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(err.code === 'EADDRINUSE' ? 98 : 1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer} (access tokens ${accessTtl}s, refresh tokens ${refreshTtl}s)`);
});
const watched = Number(process.env.OIDC_WATCH_PID ?? 0);
if (watched > 0) {
  setInterval(() => {
    try {
      process.kill(watched, 0);
    } catch {
      console.log(`process ${watched} is gone: stopping`);
      process.exit(0);
    }
  }, 1000).unref();
}
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
