// A real OpenID provider (npm `oidc-provider` 9.x) on loopback for Vestibule's sign-in tests:
// OAuth 2.0 next-gen auth (MSC3861, Synapse 1.156 delegating to it) and legacy SSO (Synapse's
// `oidc_providers`). Started by `scripts/oidc.sh start DIR`, which runs it with the Node 22 that
// `scripts/oidc.sh install` put in the cache; see that script for the environment it sets.
//
// What it does on top of oidc-provider's defaults:
//  * Dynamic client registration, open (no initial access token): a native app registers
//    `application_type: native`, `token_endpoint_auth_method: none` and a loopback redirect such as
//    `http://127.0.0.1/callback`; any port is then accepted at /auth (RFC 8252 §7.3).
//  * PKCE (S256) required of every client; refresh tokens issued without `offline_access`;
//    introspection and revocation on. Access tokens live OIDC_ACCESS_TOKEN_TTL seconds.
//  * Two static clients: Synapse's introspection client (MSC3861 `client_id`/`client_secret`) and
//    Synapse's SSO client (`oidc_providers`, redirect `<synapse>/_synapse/client/oidc/callback`).
//  * Test accounts with a password; the ID token / userinfo carry `preferred_username` (= the
//    account name, which is also `sub` and the Matrix localpart).
//  * Its own login page, playable with a cookie jar (over plain HTTP too):
//      GET  /interaction/<uid>        -> 200, an HTML form
//      POST /interaction/<uid>/login  -> form fields `login` and `password`
//                                        (application/x-www-form-urlencoded); 303 back to /auth/<uid>
//      GET  /interaction/<uid>/abort  -> 303 back to /auth/<uid>, which sends the client
//                                        `error=access_denied`
//    Consent is never asked: the grant is made of what was asked for.
//  * Matrix: the device scope of the authorization request (`urn:matrix:org.matrix.msc2967.client:
//    device:<ID>` as matrix-sdk 0.18 sends it, or the stable `urn:matrix:client:device:<ID>`; read
//    from GET /auth, as a browser opens it: not from POST /auth or pushed requests) is remembered
//    with the grant; access tokens with a Matrix API scope carry `username` (the
//    localpart) and `device_id` (extraTokenClaims), which the introspection answer returns, plus
//    `expires_in` (what Synapse caches the answer by). Before such a token is handed out, the
//    user and the device are created in Synapse with its admin API (MSC3861 `admin_token`). When
//    a grant is revoked (logout), its device is deleted in Synapse, as the authentication service
//    does, and the revocation is listed at GET /test/revoked.
//  * Test endpoints: GET /test/revoked, POST /test/accounts {"username", "password"[, "name"]}.
//
// Configuration: the JSON file OIDC_CONFIG (scripts/oidc.sh passes DIR/config.json), each key
// falling back to the environment variable named beside it, then to the default:
//   port                 OIDC_PORT                  (required; issuer http://127.0.0.1:PORT, https: see TLS)
//   synapse_url          OIDC_SYNAPSE_URL           e.g. http://127.0.0.1:8448 (admin API, SSO redirect)
//   synapse_server_name  OIDC_SYNAPSE_SERVER_NAME   default: the authority of synapse_url
//   admin_token          OIDC_ADMIN_TOKEN           vestibule-test-admin-token
//   client_id            OIDC_CLIENT_ID             synapse-msc3861       (introspection client)
//   client_secret        OIDC_CLIENT_SECRET         vestibule-test-msc3861-secret
//   sso_client_id        OIDC_SSO_CLIENT_ID         synapse-sso
//   sso_client_secret    OIDC_SSO_CLIENT_SECRET     vestibule-test-sso-secret
//   accounts             OIDC_ACCOUNTS              alice:alice-password,bob:bob-password
//                        (file: [{"username", "password", "name"?}] or {"alice": "password"})
//   access_token_ttl     OIDC_ACCESS_TOKEN_TTL      3600 (seconds)
//   refresh_token_ttl    OIDC_REFRESH_TOKEN_TTL     1209600 (seconds)
//   delete_device_on_revoke OIDC_DELETE_DEVICE_ON_REVOKE  true
// State (clients, grants, tokens, sessions) is in memory: a restart forgets it.
//
// TLS: with OIDC_TLS_CERT and OIDC_TLS_KEY (PEM files; environment only, scripts/oidc.sh --tls sets
// them to the certificate it made for 127.0.0.1) it serves HTTPS and the issuer is
// https://127.0.0.1:PORT. oidc-provider builds every URL of its discovery document from the request
// (protocol of the socket, Host header) and marks its cookies Secure over a TLS socket; no proxy in
// between, so `proxy` stays off.

import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const entry = process.env.OIDC_PROVIDER_ENTRY; // oidc-provider's lib/index.js in the cache
const { default: Provider, errors } = await import(entry ? pathToFileURL(entry).href : 'oidc-provider');

// --------------------------------------------------------------------------------------- config

const configFile = process.env.OIDC_CONFIG;
const fileConfig = configFile && existsSync(configFile)
  ? JSON.parse(readFileSync(configFile, 'utf8'))
  : {};

function opt(key, envName, fallback) {
  if (fileConfig[key] !== undefined && fileConfig[key] !== null) return fileConfig[key];
  const env = process.env[envName];
  if (env !== undefined && env !== '') return env;
  return fallback;
}

function bool(value) {
  return value === true || ['1', 'true', 'yes', 'on'].includes(String(value).toLowerCase());
}

const port = Number(opt('port', 'OIDC_PORT', ''));
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`provider.mjs: bad or missing port (OIDC_PORT / "port"): ${opt('port', 'OIDC_PORT', '')}`);
  process.exit(2);
}
const tlsCert = process.env.OIDC_TLS_CERT || '';
const tlsKey = process.env.OIDC_TLS_KEY || '';
if (Boolean(tlsCert) !== Boolean(tlsKey)) {
  console.error('provider.mjs: OIDC_TLS_CERT and OIDC_TLS_KEY go together (both PEM files, or neither)');
  process.exit(2);
}
const tls = tlsCert ? { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } : undefined;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
const synapseUrl = String(opt('synapse_url', 'OIDC_SYNAPSE_URL', '')).replace(/\/+$/, '');
const synapseServerName = opt('synapse_server_name', 'OIDC_SYNAPSE_SERVER_NAME',
  synapseUrl ? new URL(synapseUrl).host : '');
const adminToken = opt('admin_token', 'OIDC_ADMIN_TOKEN', 'vestibule-test-admin-token');
const introspectionClient = {
  id: opt('client_id', 'OIDC_CLIENT_ID', 'synapse-msc3861'),
  secret: opt('client_secret', 'OIDC_CLIENT_SECRET', 'vestibule-test-msc3861-secret'),
};
const ssoClient = {
  id: opt('sso_client_id', 'OIDC_SSO_CLIENT_ID', 'synapse-sso'),
  secret: opt('sso_client_secret', 'OIDC_SSO_CLIENT_SECRET', 'vestibule-test-sso-secret'),
};
const accessTokenTtl = Number(opt('access_token_ttl', 'OIDC_ACCESS_TOKEN_TTL', 3600));
const refreshTokenTtl = Number(opt('refresh_token_ttl', 'OIDC_REFRESH_TOKEN_TTL', 14 * 24 * 3600));
const deleteDeviceOnRevoke = bool(opt('delete_device_on_revoke', 'OIDC_DELETE_DEVICE_ON_REVOKE', true));

/** username -> { password, name } */
const accounts = new Map();
function addAccount(username, password, name) {
  if (typeof username !== 'string' || !/^[a-z0-9._=\-/+]+$/.test(username)) {
    throw new Error(`bad username (a Matrix localpart: a-z 0-9 ._=-/+): ${username}`);
  }
  if (typeof password !== 'string' || password === '') throw new Error('missing password');
  accounts.set(username, { password, name: typeof name === 'string' ? name : username });
}
{
  const raw = opt('accounts', 'OIDC_ACCOUNTS', 'alice:alice-password,bob:bob-password');
  if (Array.isArray(raw)) {
    for (const a of raw) addAccount(a.username, a.password, a.name);
  } else if (typeof raw === 'object') {
    for (const [u, p] of Object.entries(raw)) addAccount(u, p);
  } else {
    for (const item of String(raw).split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = item.indexOf(':');
      if (i <= 0) throw new Error(`OIDC_ACCOUNTS: expected user:password, got ${item}`);
      addAccount(item.slice(0, i), item.slice(i + 1));
    }
  }
}

function log(message) {
  console.log(`${new Date().toISOString()} ${message}`);
}

// --------------------------------------------------------------------------------------- matrix

const API_SCOPES = ['urn:matrix:org.matrix.msc2967.client:api:*', 'urn:matrix:client:api:*'];
const DEVICE_PREFIXES = ['urn:matrix:org.matrix.msc2967.client:device:', 'urn:matrix:client:device:'];

/** The device ID asked for in a scope string (either form), or undefined. */
function deviceFromScope(scope) {
  const ids = new Set();
  for (const s of String(scope ?? '').split(' ')) {
    for (const prefix of DEVICE_PREFIXES) {
      if (s.startsWith(prefix) && s.length > prefix.length) ids.add(s.slice(prefix.length));
    }
  }
  if (ids.size > 1) throw new Error(`more than one device in scope: ${[...ids].join(', ')}`);
  return ids.values().next().value;
}

/** grantId -> { account, clientId, deviceId, scope } (what a grant was made for). */
const grants = new Map();
/** interaction uid -> the device asked for by the authorization request that started it. */
const interactionDevices = new Map();
/** What was revoked, in order: GET /test/revoked. */
const revoked = [];
/** "user|device" -> Promise of the Synapse provisioning. */
const provisioned = new Map();

function matrixUserId(localpart) {
  if (!synapseServerName) throw new Error('no Synapse configured (OIDC_SYNAPSE_URL / "synapse_url")');
  return `@${localpart}:${synapseServerName}`;
}

async function synapseAdmin(method, path, body) {
  if (!synapseUrl) throw new Error('no Synapse configured (OIDC_SYNAPSE_URL / "synapse_url")');
  const response = await fetch(`${synapseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`Synapse admin API ${method} ${path}: HTTP ${response.status} ${text}`);
  }
  return text ? JSON.parse(text) : {};
}

/** Create the user (and the device) in Synapse, once per user and device. */
function provision(localpart, deviceId) {
  const key = `${localpart}|${deviceId ?? ''}`;
  let done = provisioned.get(key);
  if (!done) {
    done = (async () => {
      const userId = matrixUserId(localpart);
      const enc = encodeURIComponent(userId);
      await synapseAdmin('PUT', `/_synapse/admin/v2/users/${enc}`, {
        displayname: accounts.get(localpart)?.name ?? localpart,
      });
      if (deviceId) {
        await synapseAdmin('POST', `/_synapse/admin/v2/users/${enc}/devices`, { device_id: deviceId });
      }
      log(`provisioned ${userId}${deviceId ? ` device ${deviceId}` : ''} in Synapse`);
    })();
    provisioned.set(key, done);
    done.catch(() => provisioned.delete(key));
  }
  return done;
}

async function deleteDevice(localpart, deviceId) {
  const userId = matrixUserId(localpart);
  provisioned.delete(`${localpart}|${deviceId}`);
  await synapseAdmin('DELETE',
    `/_synapse/admin/v2/users/${encodeURIComponent(userId)}/devices/${encodeURIComponent(deviceId)}`);
  log(`deleted device ${deviceId} of ${userId} in Synapse`);
}

// ------------------------------------------------------------------------------------- provider

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'vestibule-test', alg: 'RS256', use: 'sig' };

const clients = [{
  client_id: introspectionClient.id,
  client_secret: introspectionClient.secret,
  client_name: 'Synapse (token introspection)',
  grant_types: [],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
}];
if (synapseUrl) {
  clients.push({
    client_id: ssoClient.id,
    client_secret: ssoClient.secret,
    client_name: 'Synapse (single sign-on)',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [`${synapseUrl}/_synapse/client/oidc/callback`],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'profile', ...API_SCOPES],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'] },
  responseTypes: ['code'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true, initialAccessToken: false },
    // Any confidential client (Synapse) may introspect any token; a public one only its own.
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => client.clientAuthMethod !== 'none'
        || token.clientId === ctx.oidc.client.clientId,
    },
    // A client revokes only its own tokens (another's: ignored for a public client, as the spec
    // wants, an error for a confidential one).
    revocation: {
      enabled: true,
      allowedPolicy: async (_ctx, client, token) => {
        if (token.clientId === client.clientId) return true;
        if (client.clientAuthMethod === 'none') return false;
        throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
      },
    },
  },
  clientBasedCORS: () => true,
  ttl: {
    AccessToken: accessTokenTtl,
    RefreshToken: refreshTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: refreshTokenTtl,
    Grant: refreshTokenTtl,
  },
  // Refresh tokens for every client allowed the refresh_token grant, offline_access or not; and
  // tokens that outlive the provider's browser session.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  // A revoked access or refresh token ends its whole grant (and so the Matrix session).
  revokeGrantPolicy: () => true,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: account.name };
      },
    };
  },
  // Grant what is asked for (so no consent page), and remember the Matrix device of the request
  // (oidc-provider drops the device scope from the request's parameters, being no scope it knows:
  // the middleware below takes it from the raw /auth request and carries it over interactions).
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grant = new oidc.provider.Grant({
      accountId: oidc.account.accountId,
      clientId: oidc.client.clientId,
    });
    const scope = [...oidc.requestParamOIDCScopes].join(' ');
    if (scope) grant.addOIDCScope(scope);
    const claims = oidc.requestParamClaims;
    if (claims && claims.size) grant.addOIDCClaims([...claims]);
    const grantId = await grant.save();
    const deviceId = ctx.state.matrixDevice;
    grants.set(grantId, { account: oidc.account.accountId, clientId: oidc.client.clientId, deviceId, scope });
    log(`grant ${grantId}: ${oidc.account.accountId} to client ${oidc.client.clientId}, scope "${scope}"`
      + `${deviceId ? `, device ${deviceId}` : ''}`);
    return grant;
  },
  async extraTokenClaims(_ctx, token) {
    const scopes = String(token.scope ?? '').split(' ');
    if (token.kind !== 'AccessToken' || !scopes.some((s) => API_SCOPES.includes(s))) return undefined;
    const info = grants.get(token.grantId);
    const deviceId = info?.deviceId;
    await provision(token.accountId, deviceId);
    return deviceId ? { username: token.accountId, device_id: deviceId } : { username: token.accountId };
  },
  async renderError(ctx, out, error) {
    log(`error page: ${out.error}: ${out.error_description ?? ''}${error?.stack && !error.expose ? `\n${error.stack}` : ''}`);
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>Error</title><h1>${escapeHtml(out.error)}</h1>`
      + `<p id="error_description">${escapeHtml(out.error_description ?? '')}</p>`;
  },
});
provider.proxy = false;

// Synapse (msc3861) caches an introspection answer for 2 minutes unless it carries `expires_in`
// (seconds from now, as the authentication service sends it): without it an expired access token
// would keep working and a client would never be made to refresh.
provider.use(async (ctx, next) => {
  ctx.state.afterRevoke = [];
  if (ctx.path === '/auth') {
    // The authorization request as the browser sent it (GET, as matrix-sdk opens it).
    try {
      ctx.state.matrixDevice = deviceFromScope(ctx.query.scope);
    } catch (e) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_scope', error_description: e.message };
      return;
    }
  } else if (ctx.path.startsWith('/auth/')) {
    // Resuming after an interaction: the device of the request that started it.
    ctx.state.matrixDevice = interactionDevices.get(ctx.path.slice('/auth/'.length));
  }
  await next();
  if (ctx.oidc?.route === 'introspection' && ctx.body && ctx.body.active && ctx.body.exp) {
    ctx.body.expires_in = Math.max(0, ctx.body.exp - Math.floor(Date.now() / 1000));
  }
  if (ctx.state.afterRevoke.length) await Promise.allSettled(ctx.state.afterRevoke);
});

provider.on('interaction.started', (ctx) => {
  const uid = ctx.oidc?.entities?.Interaction?.uid;
  if (uid && ctx.state?.matrixDevice) interactionDevices.set(uid, ctx.state.matrixDevice);
});

provider.on('grant.revoked', (ctx, grantId) => {
  const info = grants.get(grantId) ?? {};
  const entities = ctx.oidc?.entities ?? {};
  const token = entities.AccessToken ?? entities.RefreshToken;
  const entry = {
    at: new Date().toISOString(),
    grant_id: grantId,
    route: ctx.oidc?.route,
    token_kind: token?.kind,
    token_id: token?.jti,
    client_id: info.clientId ?? token?.clientId,
    username: info.account ?? token?.accountId,
    device_id: info.deviceId,
    device_deleted: false,
  };
  revoked.push(entry);
  log(`revoked grant ${grantId} (${entry.route}, ${entry.token_kind ?? '-'}) of ${entry.username ?? '?'}`
    + `${entry.device_id ? ` device ${entry.device_id}` : ''}`);
  if (deleteDeviceOnRevoke && entry.device_id && entry.username && synapseUrl) {
    const p = deleteDevice(entry.username, entry.device_id)
      .then(() => { entry.device_deleted = true; })
      .catch((e) => log(`deleting device ${entry.device_id}: ${e.message}`));
    (ctx.state?.afterRevoke ?? []).push(p);
  }
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'registration_create.error',
  'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error']) {
  provider.on(event, (_ctx, error) => log(`${event}: ${error?.name}: ${error?.message}`
    + `${error?.error_description ? ` (${error.error_description})` : ''}`
    + `${event === 'server_error' && error?.stack ? `\n${error.stack}` : ''}`));
}
provider.on('registration_create.success', (_ctx, client) => {
  log(`registered client ${client.clientId} (${client.applicationType}, ${client.clientName ?? 'no name'}, `
    + `redirect ${client.redirectUris.join(' ')})`);
});

// ---------------------------------------------------------------------------------- interaction

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, clientName, error) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to ${escapeHtml(clientName)}</h1>
${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<p><a id="abort" href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>
</body></html>
`;
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

function json(res, status, value) {
  send(res, status, 'application/json', `${JSON.stringify(value, null, 2)}\n`);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function interaction(req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
  if (!m) return send(res, 404, 'text/plain', 'not found\n');
  const [, uid, action] = m;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (e) {
    log(`interaction ${uid}: ${e.message}`);
    return send(res, 400, 'text/plain',
      `no such interaction (expired, or its _interaction cookie was not sent): ${e.message}\n`);
  }
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction cookie is for another interaction\n');
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName ?? details.params.client_id;

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'The user cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
  }

  if (details.prompt.name !== 'login') {
    // Consent (native clients are always asked): granted at once, see loadExistingGrant.
    if (action) return send(res, 400, 'text/plain', `this interaction is a ${details.prompt.name}, not a login\n`);
    return provider.interactionFinished(req, res, { consent: {} }, { mergeWithLastSubmission: true });
  }

  if (action !== 'login') {
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'use GET\n');
    return send(res, 200, 'text/html; charset=utf-8', loginPage(uid, clientName));
  }
  if (req.method !== 'POST') return send(res, 405, 'text/plain', 'use POST\n');
  const form = new URLSearchParams(await readBody(req));
  const login = form.get('login') ?? '';
  const account = accounts.get(login);
  if (!account || account.password !== form.get('password')) {
    log(`interaction ${uid}: wrong username or password for "${login}"`);
    return send(res, 401, 'text/html; charset=utf-8', loginPage(uid, clientName, 'Wrong username or password'));
  }
  log(`interaction ${uid}: ${login} signed in for client ${details.params.client_id}`);
  return provider.interactionFinished(req, res, {
    login: { accountId: login },
    consent: {},
  }, { mergeWithLastSubmission: false });
}

// ---------------------------------------------------------------------------------- test routes

async function testRoute(req, res, url) {
  if (url.pathname === '/test/revoked' && req.method === 'GET') {
    return json(res, 200, { revoked });
  }
  if (url.pathname === '/test/accounts' && req.method === 'POST') {
    let body;
    try {
      body = JSON.parse(await readBody(req));
      addAccount(body.username, body.password, body.name);
    } catch (e) {
      return json(res, 400, { error: e.message });
    }
    log(`account ${body.username} added`);
    return json(res, 200, { username: body.username });
  }
  return send(res, 404, 'text/plain', 'not found\n');
}

// ------------------------------------------------------------------------------------- server

const callback = provider.callback();
function handle(req, res) {
  const url = new URL(req.url, issuer);
  res.on('finish', () => log(`${req.method} ${url.pathname} ${res.statusCode}`));
  let route;
  if (url.pathname.startsWith('/interaction/')) route = interaction;
  else if (url.pathname.startsWith('/test/')) route = testRoute;
  if (!route) return callback(req, res);
  return route(req, res, url).catch((e) => {
    log(`${req.method} ${url.pathname}: ${e.stack ?? e}`);
    if (!res.headersSent) send(res, 500, 'text/plain', `${e.message}\n`);
    else res.end();
  });
}
const server = tls ? createTlsServer(tls, handle) : createServer(handle);

server.listen(port, '127.0.0.1', () => {
  log(`oidc-provider ${process.env.OIDC_PROVIDER_VERSION ?? ''} on Node ${process.version} listening; issuer ${issuer}`
    + `, Synapse ${synapseUrl || '(none)'}, access tokens live ${accessTokenTtl} s`
    + `${tls ? `, TLS with ${tlsCert}` : ''}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
