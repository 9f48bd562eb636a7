/**
 * Shared fixtures for the JWT tests: keys generated at test time, a hand-rolled token
 * builder (so attacks can set any header, payload or signature bytes), a recording HTTP
 * server on 127.0.0.1:0, and a logger that keeps warnings.
 */
import {
  constants,
  createHmac,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JwtLogger } from '../../../src/auth/jwt/jwks-cache.js';
import type { JwtAlgorithm } from '../../../src/auth/jwt/spec.js';
import { ManualClock } from '../../../src/core/clock.js';
import { deriveSecretKeys } from '../../../src/core/crypto.js';

export const secretKeys = deriveSecretKeys(randomBytes(32));

export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
  privatePem: string;
  publicJwk: JsonWebKey;
}

function pair(kp: { privateKey: KeyObject; publicKey: KeyObject }): TestKeyPair {
  return {
    ...kp,
    publicPem: kp.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicJwk: kp.publicKey.export({ format: 'jwk' }),
  };
}

export const rsaKeyPair = (bits = 2048): TestKeyPair =>
  pair(generateKeyPairSync('rsa', { modulusLength: bits }));
export const ecKeyPair = (curve: 'P-256' | 'P-384' | 'P-521' = 'P-256'): TestKeyPair =>
  pair(generateKeyPairSync('ec', { namedCurve: curve }));
export const edKeyPair = (): TestKeyPair => pair(generateKeyPairSync('ed25519'));

export function b64u(data: Buffer | string | object): string {
  if (Buffer.isBuffer(data)) return data.toString('base64url');
  if (typeof data === 'string') return Buffer.from(data, 'utf8').toString('base64url');
  return Buffer.from(JSON.stringify(data), 'utf8').toString('base64url');
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** Sign a JWS signing input the way RFC 7518 §3 says, with node:crypto only (independent of jose). */
export function signInput(alg: string, input: string, key: KeyObject | Buffer | string): Buffer {
  const data = Buffer.from(input, 'ascii');
  const hash = HASH[alg.slice(2)] ?? 'sha256';
  if (alg.startsWith('HS'))
    return createHmac(hash, key as Buffer)
      .update(data)
      .digest();
  const k = key as KeyObject;
  if (alg.startsWith('RS')) return sign(hash, data, k);
  if (alg.startsWith('PS')) {
    return sign(hash, data, {
      key: k,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: Number(alg.slice(2)) / 8,
    });
  }
  if (alg.startsWith('ES')) return sign(hash, data, { key: k, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA') return sign(null, data, k);
  throw new Error(`cannot sign ${alg}`);
}

/** A compact JWS from any header and payload; `signature` overrides the computed one. */
export function craft(
  header: Record<string, unknown>,
  payload: Record<string, unknown> | unknown[] | string,
  key?: KeyObject | Buffer | string,
  signature?: Buffer | string,
): string {
  const input = `${b64u(header)}.${typeof payload === 'string' ? b64u(payload) : b64u(payload)}`;
  if (signature !== undefined)
    return `${input}.${typeof signature === 'string' ? signature : b64u(signature)}`;
  if (key === undefined) return `${input}.`;
  return `${input}.${b64u(signInput(String(header.alg), input, key))}`;
}

/** Flip one bit in the decoded bytes of a segment (0 header, 1 payload, 2 signature). */
export function flipByte(token: string, segment: 0 | 1 | 2, index?: number): string {
  const parts = token.split('.');
  const bytes = Buffer.from(parts[segment] as string, 'base64url');
  const i = index ?? Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] as number) ^ 0x01;
  parts[segment] = bytes.toString('base64url');
  return parts.join('.');
}

export function claimsAt(clock: ManualClock, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(clock.now() / 1000);
  return { iat: now, exp: now + 300, sub: 'alice', ...extra };
}

export interface RecordedWarning {
  fields: Record<string, unknown>;
  message: string;
}

export function recordingLogger(): JwtLogger & { warnings: RecordedWarning[] } {
  const warnings: RecordedWarning[] = [];
  return {
    warnings,
    warn(fields, message) {
      warnings.push({ fields, message });
    },
  };
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  readonly origin: string;
  /** `url` of every request received, in order. */
  readonly requests: string[];
  handler: Handler;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1, port 0, recording every request. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: string[] = [];
  const state = { handler };
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    state.handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    get handler() {
      return state.handler;
    },
    set handler(h: Handler) {
      state.handler = h;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A handler serving `{ keys }` as JSON; `keys` is read on every request so tests can rotate it. */
export function serveJwks(source: { keys: unknown[] }): Handler {
  return (_req, res) => {
    const body = JSON.stringify({ keys: source.keys });
    res.writeHead(200, {
      'content-type': 'application/jwk-set+json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
}

export function jwkFor(
  kp: TestKeyPair,
  kid: string | undefined,
  alg?: JwtAlgorithm,
): Record<string, unknown> {
  const jwk: Record<string, unknown> = { ...kp.publicJwk, use: 'sig' };
  if (kid !== undefined) jwk.kid = kid;
  if (alg !== undefined) jwk.alg = alg;
  return jwk;
}

export { ManualClock };
