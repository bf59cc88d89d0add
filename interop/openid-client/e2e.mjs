// pixie's PAR (RFC 9126) and DPoP (RFC 9449) with a third-party client: panva's
// openid-client (pinned in package.json), its own PAR, PKCE, DPoP proofs, nonce
// handling, ID token and `iss` checks. The user signs on headless through pixie's flows
// API. Set-up (an environment with a public client and a user) is done by the caller.
//
// Reads PIXIE_ISSUER, PIXIE_CLIENT_ID, PIXIE_REDIRECT_URI, PIXIE_USER, PIXIE_PASSWORD;
// prints one JSON line with what it saw; exits non-zero on any failure.
//
// With PIXIE_FAPI=1 (and PIXIE_ADMIN_URL, PIXIE_ADMIN_TOKEN) it is the client of a
// `fapi2` environment, as the README sets one up: it makes its own ES256 key, registers
// itself through the admin API with that public key (private_key_jwt), and
// authenticates every back-channel request with a client assertion besides the DPoP
// proof; PIXIE_CLIENT_ID is then not read.

import * as client from 'openid-client';

if (!globalThis.crypto) {
  globalThis.crypto = (await import('node:crypto')).webcrypto;
}

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const env_var = env;
const ISSUER = env('PIXIE_ISSUER');
const REDIRECT_URI = env('PIXIE_REDIRECT_URI');

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

function cookiesOf(resp) {
  return (resp.headers.getSetCookie?.() || []).map((c) => c.split(';')[0]);
}

/// The user at the authorization URL, headless: the flows API, then resume; returns
/// the URL the browser would land on at the redirect URI.
async function signOn(authorizationUrl) {
  const start = await fetch(authorizationUrl, { redirect: 'manual' });
  check(start.status === 302, `authorization answered ${start.status}: ${await start.text()}`);
  const cookies = cookiesOf(start);
  const flowId = new URL(start.headers.get('location'), ISSUER).searchParams.get('flowId');
  check(flowId, 'a sign-on flow started');
  const done = await fetch(`${ISSUER}/flows/${flowId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.pixie.usernamePassword.check+json' },
    body: JSON.stringify({ username: env('PIXIE_USER'), password: env('PIXIE_PASSWORD') }),
  }).then((r) => r.json());
  check(done.status === 'COMPLETED', `signed on: ${JSON.stringify(done)}`);
  const resume = await fetch(done.resumeUrl, { redirect: 'manual', headers: { cookie: cookies.join('; ') } });
  check(resume.status === 302, `resume answered ${resume.status}`);
  return new URL(resume.headers.get('location'));
}

/// A fapi2 client: its own key, registered through the admin API; its client id and
/// its authentication method.
async function registerWithKey() {
  const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
  const env = new URL(ISSUER).pathname.replace(/^\//, '');
  const resp = await fetch(`${env_var('PIXIE_ADMIN_URL')}/admin/environments/${env}/applications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env_var('PIXIE_ADMIN_TOKEN')}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'openid-client (fapi2)',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ kty, crv, x, y, kid: 'k1' }] },
      scope: 'openid profile email offline_access',
    }),
  });
  const app = await resp.json();
  check(resp.status === 201, `registered with its key: ${JSON.stringify(app)}`);
  check(!app.client_secret, 'no secret for a private_key_jwt client');
  return { clientId: app.client_id, auth: client.PrivateKeyJwt({ key: privateKey, kid: 'k1' }) };
}

async function main() {
  const fapi = process.env.PIXIE_FAPI === '1';
  const { clientId, auth } = fapi ? await registerWithKey() : { clientId: env('PIXIE_CLIENT_ID'), auth: client.None() };
  const config = await client.discovery(new URL(ISSUER), clientId, { redirect_uris: [REDIRECT_URI] }, auth, {
    execute: [client.allowInsecureRequests],
  });
  const meta = config.serverMetadata();
  check(meta.pushed_authorization_request_endpoint, 'PAR endpoint in metadata');
  check(meta.dpop_signing_alg_values_supported?.includes('ES256'), 'DPoP algorithms in metadata');

  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  // PAR, with a DPoP proof (which binds the code to the key).
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    },
    { DPoP },
  );
  check(url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'), 'a request_uri');
  const callback = await signOn(url);
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP },
  );
  check(tokens.token_type.toLowerCase() === 'dpop', `token_type DPoP: ${tokens.token_type}`);
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  check(info.sub === claims.sub, 'UserInfo with DPoP');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  check(refreshed.token_type.toLowerCase() === 'dpop', 'refreshed with the same key');

  // Another key cannot use a public client's refresh token (it is bound to the key; a
  // confidential client's is bound by its authentication instead).
  let stolen = null;
  if (!fapi) {
    const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    try {
      await client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: thief });
      stolen = 'accepted';
    } catch (e) {
      stolen = e.error || e.code || String(e);
    }
    check(stolen === 'invalid_grant', `another key's refresh refused: ${stolen}`);
  }
  const access = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url'));
  console.log(
    JSON.stringify({
      ok: true,
      fapi,
      client_id: clientId,
      token_type: tokens.token_type,
      cnf: access.cnf,
      sub: claims.sub,
      userinfo_sub: info.sub,
      stolen_refresh: stolen,
    }),
  );
}

main().catch((e) => {
  console.error(e?.stack || String(e), e?.cause ? JSON.stringify(e.cause) : '');
  process.exit(1);
});
