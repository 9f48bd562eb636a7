/**
 * Find the credential a request presents: `Authorization: Bearer …` (an API key or a JWT,
 * told apart by shape), `Authorization: HMAC …`, `X-API-Key`, or (off by default) a query
 * parameter. Exactly one may be presented: two Authorization headers, or a header plus a
 * query key, are ambiguous — different components could each believe a different one — and
 * are refused with 400.
 */
import { looksLikeApiKey } from '../../auth/api-key/format.js';
import { deny } from '../decision.js';
import type { Credential, Stage } from '../types.js';

export interface CredentialOptions {
  /** Query parameter accepted as an API key; undefined = never read keys from the URL. */
  queryParam: string | undefined;
}

function queryValues(query: string, name: string): string[] {
  if (query.length < 2) return [];
  const values: string[] = [];
  for (const pair of query.slice(1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key !== name) continue;
    try {
      values.push(decodeURIComponent(eq === -1 ? '' : pair.slice(eq + 1).replaceAll('+', ' ')));
    } catch {
      values.push('');
    }
  }
  return values;
}

export function credentialStage(options: CredentialOptions): Stage {
  return (exchange) => {
    if ((exchange.requirement as readonly string[])[0] === 'public') return undefined;
    const raw = exchange.facts.rawHeaders;
    let authorization: string | undefined;
    let apiKeyHeader: string | undefined;
    let count = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        if (authorization !== undefined) return deny('bad_request', 'more than one Authorization header');
        authorization = raw[i + 1] as string;
        count++;
      } else if (name.length === 9 && name.toLowerCase() === 'x-api-key') {
        if (apiKeyHeader !== undefined) return deny('bad_request', 'more than one X-API-Key header');
        apiKeyHeader = raw[i + 1] as string;
        count++;
      }
    }
    let fromQuery: string | undefined;
    if (options.queryParam !== undefined) {
      const values = queryValues(exchange.facts.query, options.queryParam);
      if (values.length > 1) return deny('bad_request', 'more than one API key in the query');
      if (values.length === 1) {
        fromQuery = values[0];
        count++;
      }
    }
    if (count > 1) return deny('bad_request', 'more than one credential presented');
    let credential: Credential | undefined;
    if (authorization !== undefined) {
      const space = authorization.indexOf(' ');
      const scheme = (space === -1 ? authorization : authorization.slice(0, space)).toLowerCase();
      const value = space === -1 ? '' : authorization.slice(space + 1).trim();
      if (scheme === 'bearer') {
        credential = looksLikeApiKey(value)
          ? { kind: 'api_key', value, from: 'authorization' }
          : { kind: 'jwt', value };
      } else if (scheme === 'hmac') {
        credential = { kind: 'hmac', value: authorization };
      } else {
        return deny('invalid_credentials', 'unsupported authorization scheme');
      }
    } else if (apiKeyHeader !== undefined) {
      credential = { kind: 'api_key', value: apiKeyHeader.trim(), from: 'x-api-key' };
    } else if (fromQuery !== undefined) {
      credential = { kind: 'api_key', value: fromQuery, from: 'query', param: options.queryParam as string };
    }
    exchange.credential = credential;
    return undefined;
  };
}
