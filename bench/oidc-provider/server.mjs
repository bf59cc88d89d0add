// oidc-provider 9.x configured like pixie in bench/compare.sh: in-memory store, two
// public clients (ES256 and RS256 ID tokens), PKCE S256 required, JWT access tokens
// signed ES256, one account whose password is checked once at sign-in.
// Usage: node server.mjs PORT        (prints "listening" when ready)
// OP_ADAPTER=map (the default here) stores in plain Maps, expired entries swept every
// 5 s; OP_ADAPTER=default keeps oidc-provider's own development adapter (an LRU cache).
// compare.sh measures both and keeps the faster (BENCHMARKS.md says which).
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3000);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:pixie-bench:api';
const account = { username: 'bench', password: 'bench password' };

const jwk = (type, opts, kid) => ({ ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }), kid });
const client = (alg) => ({
  client_id: `bench-${alg.toLowerCase()}`,
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://127.0.0.1/callback'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  id_token_signed_response_alg: alg,
});

// A plain Map per model: what an in-memory store costs at least.
const models = new Map();
const byGrant = new Map();
class MapAdapter {
  constructor(name) {
    if (!models.has(name)) models.set(name, new Map());
    this.store = models.get(name);
  }
  async upsert(id, payload, expiresIn) {
    const exp = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    this.store.set(id, { payload, exp });
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, []);
      byGrant.get(payload.grantId).push([this.store, id]);
    }
    if (payload.uid) this.store.set(`uid:${payload.uid}`, { payload: id, exp });
    if (payload.userCode) this.store.set(`userCode:${payload.userCode}`, { payload: id, exp });
  }
  async find(id) {
    const e = this.store.get(id);
    return e && e.exp > Date.now() ? e.payload : undefined;
  }
  async findByUid(uid) {
    const id = await this.find(`uid:${uid}`);
    return id ? this.find(id) : undefined;
  }
  async findByUserCode(code) {
    const id = await this.find(`userCode:${code}`);
    return id ? this.find(id) : undefined;
  }
  async consume(id) {
    const e = this.store.get(id);
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { this.store.delete(id); }
  async revokeByGrantId(grantId) {
    for (const [store, id] of byGrant.get(grantId) || []) store.delete(id);
    byGrant.delete(grantId);
  }
}
setInterval(() => {
  const now = Date.now();
  for (const store of models.values()) for (const [k, e] of store) if (e.exp <= now) store.delete(k);
  for (const [g, list] of byGrant) if (list.every(([store, id]) => !store.has(id))) byGrant.delete(g);
}, 5000).unref();
const adapter = (process.env.OP_ADAPTER || 'map') === 'map' ? { adapter: MapAdapter } : {};

const provider = new Provider(issuer, {
  ...adapter,
  clients: [client('ES256'), client('RS256')],
  jwks: { keys: [jwk('ec', { namedCurve: 'P-256' }, 'es'), jwk('rsa', { modulusLength: 2048 }, 'rs')] },
  cookies: { keys: ['bench-cookie-signing-key-0123456789'] },
  pkce: { required: () => true },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});

const form = (req) => new Promise((resolve, reject) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => resolve(new URLSearchParams(body)));
  req.on('error', reject);
});

// The sign-in step: POST /interaction/:uid/login with username and password; the grant
// (openid, and the API's scope) is given at once, as pixie does for its own clients.
const login = async (req, res) => {
  const details = await provider.interactionDetails(req, res);
  const f = await form(req);
  if (f.get('username') !== account.username || f.get('password') !== account.password) {
    res.writeHead(401).end('wrong username or password');
    return;
  }
  const grant = new provider.Grant({ accountId: account.username, clientId: details.params.client_id });
  grant.addOIDCScope('openid');
  grant.addResourceScope(resource, 'api');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: account.username }, consent: { grantId } },
    { mergeWithLastSubmission: false });
};

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.method === 'POST' && /^\/interaction\/[^/]+\/login$/.test(req.url)) {
    login(req, res).catch((e) => { res.writeHead(400).end(String(e)); });
  } else {
    callback(req, res);
  }
}).listen(port, '127.0.0.1', () => console.log(`listening on ${issuer}`));
