// A real OpenID provider for the tests (oidc-provider, a certified implementation), on a free port
// of 127.0.0.1: one confidential client (the board), PKCE required, and the people below, whose
// role and department travel in their tokens' claims as a city's provider would put them.
// Access tokens for the services' audience are JWTs. Its login and consent pages are the package's
// own development pages: any password signs a listed person in.
//
//   node tests/support/oidc_provider.mjs '{"redirect_uri": …, "post_logout_redirect_uri": …,
//                                          "audience": …, "client_secret": …}'
// prints {"issuer": "http://127.0.0.1:<port>"} once it listens, and runs until stdin closes.
import crypto from 'node:crypto';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

const options = JSON.parse(process.argv[2]);

// The provider's values, not ours: the services map them (OIDC_ROLES).
const PEOPLE = {
  'erika.econ': { name: 'Erika Econ', email: 'erika.econ@city.example', roles: ['Board.Department'], department: 'ECON' },
  'max.mayor': { name: 'Max Mayor', email: 'max.mayor@city.example', roles: ['Board.Department'], department: 'MAYOR' },
  'carla.coordinator': { name: 'Carla Coordinator', email: 'carla@city.example', roles: ['Board.Coordinator'], department: 'OIA' },
  // Someone at the city with no role on the board.
  'vera.visitor': { name: 'Vera Visitor', email: 'vera@city.example', roles: ['Library.Staff'], department: 'CULT' },
};

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'board',
    client_secret: options.client_secret,
    redirect_uris: [options.redirect_uri],
    post_logout_redirect_uris: [options.post_logout_redirect_uri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  // The board renews a person's access token before it expires.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  jwks: { keys: [{ ...signingKey, kid: 'test-key-1', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: ['name', 'roles', 'department'], email: ['email'] },
  // The ID token carries the profile too, as Entra ID's and Keycloak's do.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => options.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== options.audience) throw new errors.InvalidTarget();
        return { scope: 'services', audience: options.audience, accessTokenTTL: options.access_token_ttl ?? 600,
                 accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // The person's role and department in the services' access token.
  extraTokenClaims: (ctx, token) => {
    const person = PEOPLE[token.accountId];
    return person && { name: person.name, roles: person.roles, department: person.department };
  },
  findAccount: (ctx, id) => PEOPLE[id] && {
    accountId: id,
    claims: () => ({ sub: id, ...PEOPLE[id] }),
  },
});
server.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.stdin.resume();
process.stdin.on('end', () => server.close(() => process.exit(0)));
