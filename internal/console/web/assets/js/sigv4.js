// AWS Signature Version 4 on Web Crypto, as the Switchboard server checks
// it (spec section 7): header-signed POSTs for REST operations (7.2) and
// presigned WebSocket URLs for signaling (7.3). The service name is always
// "kinesisvideo"; the region is the server's.

export const SERVICE = 'kinesisvideo';
export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** SHA-256 of the empty string: the payload hash of a presigned GET. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const utf8 = new TextEncoder();

function bytes(data) {
  return typeof data === 'string' ? utf8.encode(data) : data;
}

function hex(buffer) {
  let out = '';
  for (const b of new Uint8Array(buffer)) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Hex SHA-256 of a string or byte array. */
export async function sha256Hex(data) {
  return hex(await crypto.subtle.digest('SHA-256', bytes(data)));
}

async function hmac(key, message) {
  const k = await crypto.subtle.importKey('raw', bytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, bytes(message));
}

/** Formats a time as SigV4 wants it: 20261121T210638Z. */
export function amzDate(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * Percent-encodes the SigV4 way: letters, digits and - _ . ~ stay, every
 * other byte becomes %XX with upper-case hex. encodeURIComponent leaves
 * ! ' ( ) * alone, so those are finished by hand.
 */
export function uriEncode(value) {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function credentialScope(day, region) {
  return `${day}/${region}/${SERVICE}/aws4_request`;
}

// The signing key is an HMAC chain over the secret, day, region, service.
async function signingKey(secret, day, region) {
  let key = await hmac('AWS4' + secret, day);
  key = await hmac(key, region);
  key = await hmac(key, SERVICE);
  return hmac(key, 'aws4_request');
}

/** Signature of a canonical request (exported for the test vectors). */
export async function signCanonical({ canonicalRequest, secretAccessKey, region, stamp }) {
  const day = stamp.slice(0, 8);
  const stringToSign = [ALGORITHM, stamp, credentialScope(day, region), await sha256Hex(canonicalRequest)].join('\n');
  return hex(await hmac(await signingKey(secretAccessKey, day, region), stringToSign));
}

// Each path segment is encoded on its own, so "/" separators survive.
function canonicalPath(pathname) {
  if (!pathname) return '/';
  return pathname.split('/').map((s) => uriEncode(decodeURIComponent(s))).join('/');
}

function canonicalQuery(params) {
  return Object.keys(params).sort()
    .map((name) => `${uriEncode(name)}=${uriEncode(params[name])}`)
    .join('&');
}

function canonicalHeaderValue(value) {
  return String(value).trim().replace(/\s+/g, ' ');
}

/**
 * Signs a REST request. Returns the headers to send: the caller's, plus
 * X-Amz-Date, Authorization and, with temporary credentials,
 * X-Amz-Security-Token. Host is signed as the browser will send it (the
 * URL's host, with the port when it is not the default one).
 *
 * @param {object} req
 * @param {string} req.url absolute URL of the operation
 * @param {string} [req.method] POST unless told
 * @param {Object<string,string>} [req.headers] headers to sign and send
 * @param {string} [req.body] exact body text
 * @param {{accessKeyId:string, secretAccessKey:string, sessionToken?:string}} req.credentials
 * @param {string} req.region
 * @param {Date} [req.now]
 */
export async function signRequest({ url, method = 'POST', headers = {}, body = '', credentials, region, now = new Date() }) {
  const target = new URL(url);
  const stamp = amzDate(now);
  const send = { ...headers, 'X-Amz-Date': stamp };
  if (credentials.sessionToken) send['X-Amz-Security-Token'] = credentials.sessionToken;
  const signed = { host: target.host };
  for (const [name, value] of Object.entries(send)) signed[name.toLowerCase()] = canonicalHeaderValue(value);
  const names = Object.keys(signed).sort();
  const canonicalRequest = [
    method,
    canonicalPath(target.pathname),
    canonicalQuery(Object.fromEntries(target.searchParams)),
    names.map((n) => `${n}:${signed[n]}\n`).join(''),
    names.join(';'),
    await sha256Hex(body),
  ].join('\n');
  const signature = await signCanonical({ canonicalRequest, secretAccessKey: credentials.secretAccessKey, region, stamp });
  const scope = credentialScope(stamp.slice(0, 8), region);
  send.Authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return send;
}

/**
 * Presigns a signaling WebSocket URL (spec 6.1 and 7.3): only "host" is a
 * signed header, and the channel ARN, the viewer's client id and the
 * session token are query parameters inside the signed canonical query.
 *
 * @param {object} p
 * @param {string} p.endpoint the WSS endpoint (wss://host[:port][/path])
 * @param {string} p.channelARN
 * @param {string} [p.clientId] viewers only
 * @param {{accessKeyId:string, secretAccessKey:string, sessionToken?:string}} p.credentials
 * @param {string} p.region
 * @param {Date} [p.now]
 * @param {number} [p.expires] seconds the URL stays valid
 */
export async function presignWebSocketURL({ endpoint, channelARN, clientId, credentials, region, now = new Date(), expires = 299 }) {
  const target = new URL(endpoint);
  const stamp = amzDate(now);
  const path = target.pathname || '/';
  const params = {
    'X-Amz-Algorithm': ALGORITHM,
    'X-Amz-ChannelARN': channelARN,
    'X-Amz-Credential': `${credentials.accessKeyId}/${credentialScope(stamp.slice(0, 8), region)}`,
    'X-Amz-Date': stamp,
    'X-Amz-Expires': String(expires),
    'X-Amz-SignedHeaders': 'host',
  };
  if (clientId) params['X-Amz-ClientId'] = clientId;
  if (credentials.sessionToken) params['X-Amz-Security-Token'] = credentials.sessionToken;
  const query = canonicalQuery(params);
  const canonicalRequest = ['GET', canonicalPath(path), query, `host:${target.host}\n`, 'host', EMPTY_SHA256].join('\n');
  const signature = await signCanonical({ canonicalRequest, secretAccessKey: credentials.secretAccessKey, region, stamp });
  return `${target.protocol}//${target.host}${path}?${query}&X-Amz-Signature=${signature}`;
}
