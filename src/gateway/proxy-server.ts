/**
 * The proxy listener: a plain node:http server (no framework on the hot path — the router is
 * our own compiled table, so a framework's router would only add work; measured in
 * docs/benchmarks.md). Hardened defaults against slow and oversized input, one request
 * handler shared by the gateway door and the reserved `/_portcullis/` prefix.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ListenAddress } from '../config/settings.js';
import type { ErrorCode } from '../errors/catalog.js';
import { deny } from '../pipeline/decision.js';
import type { Decide } from '../pipeline/pipeline.js';
import type { Decision, Deny, RequestFacts } from '../pipeline/types.js';
import { createForwarder, type ForwardResult } from './forward.js';
import type { HeaderPolicy } from './headers.js';
import { writeDeny, writeRawProblem } from './problem-response.js';
import { readRequestBody } from './read-body.js';
import { type FactsOptions, readFacts, scanHeaders } from './request-facts.js';
import { requestIdFor } from './request-id.js';
import type { UpstreamPools } from './upstreams.js';
import { relayUpgrade } from './websocket.js';

export const RESERVED_PREFIX = '/_portcullis/';

export interface HttpLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** What happened to one request, for telemetry (the recorder plugs in here). */
export interface Outcome {
  facts: RequestFacts | undefined;
  decision: Decision | undefined;
  status: number;
  upstreamMs: number | undefined;
  totalMs: number;
  /** Response body bytes relayed from the upstream (0 for answers the gateway wrote itself). */
  bytesOut: number;
  /** Why the upstream exchange failed (502/504), when it did. */
  upstreamError: ErrorCode | undefined;
}

/** What a reserved-path handler may use to answer like the gateway does. */
export interface ReservedContext {
  report(facts: RequestFacts | undefined, decision: Decision | undefined, status: number): void;
  fault(res: ServerResponse, requestId: string, error: unknown, facts?: RequestFacts): void;
}

/** Handler for paths under the reserved prefix; return false to answer 404. */
export type ReservedHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  facts: RequestFacts,
  context: ReservedContext,
) => boolean;

export interface ProxyServerOptions {
  decide: Decide;
  facts: FactsOptions;
  limits: HttpLimits;
  pools: UpstreamPools;
  bodyIdleTimeoutMs: number;
  /** Identity aliases, trace context: what forwarded requests get beyond the fixed headers. */
  headerPolicy: HeaderPolicy;
  logger: Logger;
  reserved?: ReservedHandler;
  onOutcome?: (outcome: Outcome) => void;
}

export interface ProxyServer {
  readonly server: Server;
  listen(address: ListenAddress): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish (bounded), then close what is left. */
  drain(timeoutMs: number): Promise<void>;
  readonly draining: boolean;
  readonly inFlight: number;
}

const ignore = (): void => {};

function unreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  const { decide, logger, onOutcome } = options;
  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const upgraded = new Set<Duplex>();
  // Requests whose 100 Continue was already sent because a stage read the body.
  const continued = new WeakSet<IncomingMessage>();

  const forward = createForwarder({
    pools: options.pools,
    bodyIdleTimeoutMs: options.bodyIdleTimeoutMs,
    headerPolicy: options.headerPolicy,
    onUpstreamError: (facts, routeId, code, error) =>
      logger.warn(
        {
          requestId: facts.requestId,
          route: routeId,
          code,
          err: (error as { code?: string }).code ?? error.message,
        },
        'upstream error',
      ),
  });

  const finished = () => {
    inFlight--;
    if (draining && inFlight === 0) drained?.();
  };

  const report = (
    facts: RequestFacts | undefined,
    decision: Decision | undefined,
    status: number,
    forwarded?: ForwardResult,
  ) => {
    if (!onOutcome) return;
    const startedAt = facts?.startedAt;
    onOutcome({
      facts,
      decision,
      status,
      upstreamMs: forwarded?.upstreamMs,
      totalMs: startedAt === undefined ? 0 : performance.now() - startedAt,
      bytesOut: forwarded?.bytesOut ?? 0,
      upstreamError: forwarded?.error,
    });
  };

  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    decision: Deny,
    requestId: string,
    facts?: RequestFacts,
  ) => {
    // A refused request's body is never read: close the connection instead of draining an
    // upload the client should not have sent (an attacker could otherwise stream gigabytes).
    writeDeny(res, decision, requestId, draining || unreadBody(req));
    report(facts, decision, decision.status);
  };

  const act = (
    req: IncomingMessage,
    res: ServerResponse,
    facts: RequestFacts,
    decision: Decision,
    expectsContinue: boolean,
  ) => {
    if (decision.kind === 'deny') {
      refuse(req, res, decision, facts.requestId, facts);
      return;
    }
    if (expectsContinue && !continued.has(req)) res.writeContinue();
    // No closure per request when nothing observes the outcome.
    const finish = decision.onFinish;
    forward(
      req,
      res,
      facts,
      decision,
      onOutcome || finish
        ? (result: ForwardResult) => {
            if (finish) for (const fn of finish) fn(result.status);
            report(facts, decision, result.status, result);
          }
        : ignore,
    );
  };

  const fault = (res: ServerResponse, requestId: string, error: unknown, facts?: RequestFacts) => {
    logger.error({ requestId, err: error }, 'pipeline fault');
    if (!res.headersSent) writeDeny(res, deny('internal_error'), requestId, true);
    else res.destroy();
    report(facts, undefined, 500);
  };

  const reservedContext: ReservedContext = { report, fault };

  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const startedAt = performance.now();
    inFlight++;
    res.on('close', finished);
    if (draining) res.shouldKeepAlive = false;
    const scan = scanHeaders(req.rawHeaders);
    const requestId = requestIdFor(scan.requestId);
    const facts = readFacts(req, scan, requestId, 'gateway', options.facts, startedAt);
    if ((facts as Deny).kind === 'deny') {
      refuse(req, res, facts as Deny, requestId);
      return;
    }
    const f = facts as RequestFacts;
    if (f.path.startsWith(RESERVED_PREFIX)) {
      if (!options.reserved?.(req, res, f, reservedContext)) {
        refuse(req, res, deny('no_route', 'unknown /_portcullis/ endpoint'), requestId, f);
      }
      return;
    }
    const readBody = (limit: number) => {
      if (expectsContinue && !continued.has(req)) {
        continued.add(req);
        res.writeContinue();
      }
      return readRequestBody(req, limit);
    };
    let decision: Decision | Promise<Decision>;
    try {
      decision = decide(f, readBody);
    } catch (error) {
      fault(res, requestId, error, f);
      return;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => act(req, res, f, d, expectsContinue),
        (error: unknown) => fault(res, requestId, error, f),
      );
    } else {
      act(req, res, f, decision, expectsContinue);
    }
  };

  const server = createServer(
    {
      maxHeaderSize: options.limits.maxHeaderBytes,
      headersTimeout: options.limits.headersTimeoutMs,
      requestTimeout: options.limits.requestTimeoutMs,
      keepAliveTimeout: options.limits.keepAliveTimeoutMs,
      // Node checks header/request timeouts on this interval (default 30 s); a tighter check
      // makes the slowloris guard bite close to the configured time.
      connectionsCheckingInterval: 1000,
      requireHostHeader: true,
      insecureHTTPParser: false,
      noDelay: true,
    },
    (req, res) => handle(req, res, false),
  );
  // Decide before inviting the body: a denied upload is refused before the client sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code;
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (code === 'HPE_HEADER_OVERFLOW')
      writeRawProblem(socket, 'request_header_fields_too_large', undefined, undefined);
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
      writeRawProblem(socket, 'request_timeout', undefined, undefined);
    else writeRawProblem(socket, 'bad_request', 'malformed HTTP request', undefined);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const startedAt = performance.now();
    const scan = scanHeaders(req.rawHeaders);
    const requestId = requestIdFor(scan.requestId);
    if (draining) {
      writeRawProblem(socket, 'shutting_down', undefined, requestId);
      return;
    }
    socket.on('error', () => socket.destroy());
    const facts = readFacts(req, scan, requestId, 'gateway', options.facts, startedAt);
    if ((facts as Deny).kind === 'deny') {
      const d = facts as Deny;
      writeRawProblem(socket, d.code, d.detail, requestId, d.headers);
      report(undefined, d, d.status);
      return;
    }
    const f = facts as RequestFacts;
    const onDecision = (decision: Decision) => {
      if (decision.kind === 'deny') {
        writeRawProblem(socket, decision.code, decision.detail, requestId, decision.headers);
        report(f, decision, decision.status);
        return;
      }
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      relayUpgrade(options.pools, req, socket, head, f, decision, options.headerPolicy, (status) =>
        report(f, decision, status),
      );
    };
    const onFault = (error: unknown) => {
      logger.error({ requestId, err: error }, 'pipeline fault');
      writeRawProblem(socket, 'internal_error', undefined, requestId);
    };
    try {
      const decision = decide(f);
      if (decision instanceof Promise) decision.then(onDecision, onFault);
      else onDecision(decision);
    } catch (error) {
      onFault(error);
    }
  });

  return {
    server,
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
    listen(address) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(address.port, address.host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async drain(timeoutMs) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          const timer = setTimeout(resolve, timeoutMs);
          timer.unref();
        });
      }
      server.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      await closed;
    },
  };
}
