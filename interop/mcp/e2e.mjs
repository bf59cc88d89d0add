// pixie as the authorization server of an MCP server, end to end, with the official
// MCP TypeScript SDK on both sides (README: "Use pixie as the authorization server of an
// MCP server", followed step by step):
//
// 1. the operator turns on dynamic registration and registers the MCP server as a
//    resource (pixie's admin API);
// 2. a small MCP server (Streamable HTTP) publishes RFC 9728 protected resource metadata
//    naming pixie, and accepts only pixie's access tokens for itself (checked against
//    pixie's JWKS: typ at+jwt, iss, exp, aud = its own URL);
// 3. the SDK's own OAuth client finds pixie, registers itself (RFC 7591), sends the user
//    to sign on with S256 PKCE and `resource`; the "user" signs on headless through the
//    flows API and approves the consent step; the SDK exchanges the code;
// 4. the client calls the tool, which answers with what the token said.
//
// Reads PIXIE_URL (pixie's public URL), PIXIE_ENV, PIXIE_ADMIN_TOKEN, PIXIE_USER and
// PIXIE_PASSWORD; prints one JSON line with what it saw; exits non-zero on any failure.

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const PIXIE = env('PIXIE_URL').replace(/\/$/, '');
const ENV = process.env.PIXIE_ENV || 'default';
const ISSUER = `${PIXIE}/${ENV}`;
const ADMIN = env('PIXIE_ADMIN_TOKEN');
const USER = env('PIXIE_USER');
const PASSWORD = env('PIXIE_PASSWORD');

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

async function admin(method, path, body) {
  const resp = await fetch(`${PIXIE}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

// ---- The MCP server: a resource server whose authorization server is pixie. ----

async function startMcpServer() {
  const app = createMcpExpressApp();
  const listening = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${listening.address().port}`;
  const resource = `${base}/mcp`;
  const prmUrl = `${base}/.well-known/oauth-protected-resource/mcp`;
  const jwks = createRemoteJWKSet(new URL(`${ISSUER}/as/jwks`));

  // RFC 9728: who issues tokens for this server, and for what scopes.
  app.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => {
    res.json({ resource, authorization_servers: [ISSUER], scopes_supported: ['files:read'] });
  });

  // Only pixie's access tokens for this server: signed by a key of the JWKS, typ at+jwt,
  // from the issuer, not expired, aud this server's URL.
  const verifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: ISSUER,
          audience: resource,
          typ: 'at+jwt',
          algorithms: ['ES256', 'RS256'],
        });
        return {
          token,
          clientId: String(payload.client_id),
          scopes: String(payload.scope || '').split(' ').filter(Boolean),
          expiresAt: payload.exp,
          resource: new URL(resource),
          extra: { sub: payload.sub, aud: payload.aud },
        };
      } catch (e) {
        throw new InvalidTokenError(`not a token for this server: ${e.code || e.message}`);
      }
    },
  };
  const auth = requireBearerAuth({ verifier, resourceMetadataUrl: prmUrl, expectedResource: new URL(resource) });

  app.post('/mcp', auth, async (req, res) => {
    const server = new McpServer({ name: 'pixie-e2e-files', version: '1.0.0' });
    server.registerTool('whoami', { description: 'Tells who the access token names' }, async (extra) => ({
      content: [
        {
          type: 'text',
          text: JSON.stringify({
            sub: extra.authInfo?.extra?.sub,
            aud: extra.authInfo?.extra?.aud,
            client_id: extra.authInfo?.clientId,
            scopes: extra.authInfo?.scopes,
          }),
        },
      ],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return { listening, resource, prmUrl };
}

// ---- The user, headless: pixie's flows API instead of a browser. ----

function cookiesOf(resp) {
  return (resp.headers.getSetCookie?.() || []).map((c) => c.split(';')[0]);
}

/// Follows an authorization URL as a user would: sign on through the flows API, approve
/// the consent step, resume; returns the redirect URI's query.
async function signOnHeadless(authorizationUrl) {
  const start = await fetch(authorizationUrl, { redirect: 'manual' });
  check(start.status === 302, `authorization answered ${start.status}: ${await start.text()}`);
  const cookies = cookiesOf(start);
  const flowId = new URL(start.headers.get('location'), PIXIE).searchParams.get('flowId');
  check(flowId, 'the authorization endpoint started a sign-on flow');
  const flowUrl = `${ISSUER}/flows/${flowId}`;
  const signedOn = await fetch(flowUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.pixie.usernamePassword.check+json' },
    body: JSON.stringify({ username: USER, password: PASSWORD }),
  }).then((r) => r.json());
  check(signedOn.status === 'CONSENT_REQUIRED', `consent asked for a self-registered client: ${JSON.stringify(signedOn)}`);
  check(signedOn.client.verified === false, 'the client is marked as not verified');
  const approved = await fetch(flowUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.pixie.consent+json' },
    body: JSON.stringify({ approve: true }),
  }).then((r) => r.json());
  check(approved.status === 'COMPLETED', `consent approved: ${JSON.stringify(approved)}`);
  const resume = await fetch(new URL(approved.resumeUrl, PIXIE), {
    redirect: 'manual',
    headers: { cookie: cookies.join('; ') },
  });
  check(resume.status === 302, `resume answered ${resume.status}`);
  return { consent: signedOn, query: new URL(resume.headers.get('location')).searchParams };
}

// ---- The MCP client: the SDK's OAuth client, with an in-memory provider. ----

function memoryProvider(redirectUrl) {
  const saved = { client: undefined, tokens: undefined, verifier: undefined, authorizationUrl: undefined };
  return {
    saved,
    get redirectUrl() {
      return redirectUrl;
    },
    get clientMetadata() {
      return {
        client_name: 'pixie e2e MCP client',
        redirect_uris: [redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      };
    },
    clientInformation: () => saved.client,
    saveClientInformation: (info) => {
      saved.client = info;
    },
    tokens: () => saved.tokens,
    saveTokens: (tokens) => {
      saved.tokens = tokens;
    },
    redirectToAuthorization: (url) => {
      saved.authorizationUrl = url;
    },
    saveCodeVerifier: (v) => {
      saved.verifier = v;
    },
    codeVerifier: () => saved.verifier,
  };
}

async function main() {
  // 1. The operator's set-up (README step 1).
  const mcp = await startMcpServer();
  let r = await admin('PATCH', `/admin/environments/${ENV}`, { registration: { dynamic: true } });
  check(r.status === 200, `dynamic registration on: ${JSON.stringify(r)}`);
  r = await admin('POST', `/admin/environments/${ENV}/resources`, {
    uri: mcp.resource,
    scopes: ['files:read'],
    name: 'Files',
  });
  check(r.status === 201, `resource registered: ${JSON.stringify(r)}`);

  // The MCP server refuses a request without a token, pointing at its metadata.
  const bare = await fetch(mcp.resource, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  check(bare.status === 401, 'no token: 401');
  check((bare.headers.get('www-authenticate') || '').includes(`resource_metadata="${mcp.prmUrl}"`), 'WWW-Authenticate names the metadata');

  // 2-3. The SDK's client: discovery, registration, authorization with PKCE + resource.
  const provider = memoryProvider('http://127.0.0.1:53682/callback');
  const client = new Client({ name: 'pixie-e2e', version: '1.0.0' });
  let transport = new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: provider });
  let unauthorized = false;
  try {
    await client.connect(transport);
  } catch (e) {
    unauthorized = e instanceof UnauthorizedError;
    if (!unauthorized) throw e;
  }
  check(unauthorized, 'the first connection needs authorization');
  check(provider.saved.client?.client_id, 'the SDK registered itself');
  const authUrl = provider.saved.authorizationUrl;
  check(authUrl, 'the SDK sent the user to authorize');
  check(authUrl.searchParams.get('code_challenge_method') === 'S256', 'S256 PKCE');
  check(authUrl.searchParams.get('resource') === mcp.resource, 'resource sent at authorization');
  const { consent, query } = await signOnHeadless(authUrl);
  check(query.get('iss') === ISSUER, 'iss in the authorization response');
  check(query.get('state') === authUrl.searchParams.get('state'), 'state returned');
  await transport.finishAuth(query.get('code'));
  check(provider.saved.tokens?.access_token, 'the SDK exchanged the code');

  // 4. Connected with the token, the tool answers.
  transport = new StreamableHTTPClientTransport(new URL(mcp.resource), { authProvider: provider });
  await client.connect(transport);
  const tools = await client.listTools();
  check(tools.tools.some((t) => t.name === 'whoami'), 'the tool is listed');
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  const seen = JSON.parse(result.content[0].text);
  check(seen.aud === mcp.resource || (Array.isArray(seen.aud) && seen.aud.includes(mcp.resource)), `aud is the MCP server: ${JSON.stringify(seen)}`);
  check(seen.client_id === provider.saved.client.client_id, 'the token is the registered client\'s');
  await client.close();

  // A refresh asking for a resource the grant does not cover is refused by pixie.
  const refused = !provider.saved.tokens.refresh_token ? null : await fetch(`${ISSUER}/as/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: provider.saved.tokens.refresh_token,
      client_id: provider.saved.client.client_id,
      resource: 'https://elsewhere.example/mcp',
    }),
  }).then(async (resp) => ({ status: resp.status, body: await resp.json() }));
  mcp.listening.close();
  console.log(
    JSON.stringify({
      ok: true,
      client_id: provider.saved.client.client_id,
      consent_client: consent.client,
      scopes_asked: consent.scopes,
      resources_asked: consent.resources,
      tool_saw: seen,
      refresh_elsewhere: refused,
    }),
  );
}

main().catch((e) => {
  console.error(e?.stack || String(e));
  process.exit(1);
});
