// Control-plane and HTTPS data-plane calls (spec sections 3, 4 and 5.1):
// each one a signed JSON POST to its operation path, exactly as an AWS SDK
// sends it. Failures become ApiError (the AWS error shape) or NetworkError
// (the request never got an answer).

import { signRequest } from './sigv4.js';

/** An error reply in the AWS shape: {__type, Message} and x-amzn-ErrorType. */
export class ApiError extends Error {
  constructor({ name, message, status, requestId }) {
    super(message || name);
    this.name = name;
    this.status = status;
    this.requestId = requestId;
  }
}

/** The request got no HTTP answer: server down, or its certificate not trusted. */
export class NetworkError extends Error {
  constructor(url, cause) {
    super(`No answer from ${new URL(url).origin}`);
    this.name = 'NetworkError';
    this.url = url;
    this.cause = cause;
  }
}

// The signature phrases the server uses when a clock is too far off.
const CLOCK_SKEW = /Signature expired|Signature not yet current/;

/** A client for one server and one key pair. */
export class KvsClient {
  /**
   * @param {{endpoint:string, region:string, credentials:object}} opts
   * endpoint is the control plane's origin, e.g. https://localhost:8443
   */
  constructor({ endpoint, region, credentials }) {
    this.endpoint = endpoint.replace(/\/+$/, '');
    this.region = region;
    this.credentials = credentials;
    this.clockOffsetMs = 0; // server time minus local time, learnt from Date
  }

  /** POSTs input to an operation path and returns the decoded reply. */
  async call(path, input = {}, base = this.endpoint) {
    const url = base.replace(/\/+$/, '') + path;
    const body = JSON.stringify(input);
    let reply = await this.#send(url, body);
    if (reply.error && CLOCK_SKEW.test(reply.error.message) && this.#learnClock(reply.date)) {
      reply = await this.#send(url, body); // once more, with the server's clock
    }
    if (reply.error) throw reply.error;
    return reply.data;
  }

  async #send(url, body) {
    const headers = await signRequest({
      url, body, headers: { 'Content-Type': 'application/json' },
      credentials: this.credentials, region: this.region,
      now: new Date(Date.now() + this.clockOffsetMs),
    });
    let response;
    try {
      response = await fetch(url, { method: 'POST', headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (err) {
      throw new NetworkError(url, err);
    }
    const text = await response.text();
    const date = response.headers.get('Date');
    if (response.ok) return { data: text ? JSON.parse(text) : {}, date };
    return { error: parseError(response, text), date };
  }

  // Adopts the server's clock when the local one is off by over a minute.
  #learnClock(dateHeader) {
    const server = Date.parse(dateHeader || '');
    if (Number.isNaN(server)) return false;
    const offset = server - Date.now();
    if (Math.abs(offset - this.clockOffsetMs) < 60_000) return false;
    this.clockOffsetMs = offset;
    return true;
  }

  // ---- channels (spec 3) ----

  createChannel({ name, ttlSeconds, tags = [] }) {
    const input = { ChannelName: name, ChannelType: 'SINGLE_MASTER', SingleMasterConfiguration: { MessageTtlSeconds: ttlSeconds } };
    if (tags.length) input.Tags = tags;
    return this.call('/createSignalingChannel', input);
  }

  async describeChannel({ name, arn }) {
    const input = arn ? { ChannelARN: arn } : { ChannelName: name };
    return (await this.call('/describeSignalingChannel', input)).ChannelInfo;
  }

  /** One page of channels whose names begin with prefix. */
  async listChannels({ prefix = '', maxResults = 25, nextToken } = {}) {
    const input = { MaxResults: maxResults };
    if (prefix) input.ChannelNameCondition = { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: prefix };
    if (nextToken) input.NextToken = nextToken;
    const out = await this.call('/listSignalingChannels', input);
    return { channels: out.ChannelInfoList || [], nextToken: out.NextToken || null };
  }

  updateChannel({ arn, version, ttlSeconds }) {
    return this.call('/updateSignalingChannel', {
      ChannelARN: arn, CurrentVersion: version, SingleMasterConfiguration: { MessageTtlSeconds: ttlSeconds },
    });
  }

  deleteChannel({ arn, version }) {
    const input = { ChannelARN: arn };
    if (version) input.CurrentVersion = version;
    return this.call('/deleteSignalingChannel', input);
  }

  // ---- tags (spec 3.6-3.8) ----

  tagResource(arn, tags) {
    return this.call('/TagResource', { ResourceARN: arn, Tags: tags });
  }

  untagResource(arn, keys) {
    return this.call('/UntagResource', { ResourceARN: arn, TagKeyList: keys });
  }

  async listTags(arn) {
    return (await this.call('/ListTagsForResource', { ResourceARN: arn })).Tags || {};
  }

  // ---- endpoints and ICE (spec 4 and 5.1) ----

  /** The channel's endpoints for a role, as {WSS, HTTPS}. */
  async getEndpoints(arn, role) {
    const out = await this.call('/getSignalingChannelEndpoint', {
      ChannelARN: arn,
      SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
    });
    const byProtocol = {};
    for (const e of out.ResourceEndpointList || []) byProtocol[e.Protocol] = e.ResourceEndpoint;
    return byProtocol;
  }

  /** GetIceServerConfig on the channel's HTTPS endpoint. */
  async getIceServerConfig(httpsEndpoint, arn, clientId) {
    const out = await this.call('/v1/get-ice-server-config', { ChannelARN: arn, ClientId: clientId }, httpsEndpoint);
    return out.IceServerList || [];
  }

  /**
   * Who is connected (the Switchboard extension operation). Resolves to
   * null when the server does not offer it.
   */
  async describeConnections(arn) {
    try {
      const out = await this.call('/switchboard/describeSignalingChannelConnections', { ChannelARN: arn });
      return { masterConnected: !!out.MasterConnected, viewerCount: out.ViewerCount || 0 };
    } catch (err) {
      if (err instanceof ApiError && err.name === 'UnknownOperationException') return null;
      throw err;
    }
  }
}

// parseError reads the AWS error shape; the header wins over the body, and
// anything after ":" in the header is a documentation link.
function parseError(response, text) {
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch { /* not JSON: keep the status */ }
  const header = (response.headers.get('x-amzn-ErrorType') || '').split(':')[0];
  const name = header || body.__type || `HTTP ${response.status}`;
  const message = body.Message || body.message || response.statusText || name;
  return new ApiError({ name, message, status: response.status, requestId: response.headers.get('x-amzn-RequestId') });
}
