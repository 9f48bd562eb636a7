/**
 * Anomalies found by the detector (PRODUCT.md §10): list and show them with their evidence,
 * the alert's deliveries and the block they caused; resolve one (lifting its own block); run
 * the detector on the interval in progress. What `portcullis anomalies …` shows.
 */
import { Type } from '@sinclair/typebox';
import type { Finding } from '../../../anomaly/detector.js';
import { resolveAnomaly } from '../../../anomaly/operations.js';
import { SIGNALS, type Signal as SignalName } from '../../../anomaly/signals.js';
import { SpecError } from '../../../core/spec-error.js';
import type { AlertDeliveryRecord, AnomalyRecord, AnomalyRepository } from '../../../store/types.js';
import type { ResourceRoutes } from '../context.js';
import { AdminProblem } from '../errors.js';
import { since as pastTime } from '../input.js';
import { decodeCursor, encodeCursor } from '../pagination.js';
import {
  IdParams,
  iso,
  isoOrNull,
  NullableTimestamp,
  Page,
  PageQuery,
  problems,
  Timestamp,
} from '../schemas.js';
import { blockView, OneOf } from './blocks.js';

const Signal = OneOf(SIGNALS);
const IdentityKind = OneOf(['key', 'client', 'user', 'ip'], {
  description: 'what `identity` names: a key id, a client id, a user id or an IP (an IPv6 /64 as a CIDR)',
});
const Status = OneOf(['open', 'resolved']);
const Action = OneOf(['recorded', 'shadow', 'alerted', 'blocked'], {
  description:
    'what the detector did: recorded only (rule `record`), shadow (shadow mode: nothing done), alerted, or blocked (and alerted)',
});
const NullableString = Type.Union([Type.String(), Type.Null()]);

/**
 * Observed vs expected figures and the recent series. The fields the detector writes are
 * named; any other is passed through (evidence is stored as the detector made it).
 */
const Evidence = Type.Object(
  {
    metric: Type.Optional(Type.String({ description: 'what was counted, e.g. requests, ips' })),
    observed: Type.Optional(Type.Number()),
    expected: Type.Optional(Type.Number()),
    stddev: Type.Optional(Type.Number()),
    threshold: Type.Optional(Type.Number({ description: 'the observed value that makes a finding' })),
    history: Type.Optional(
      Type.String({ description: '`own` (the identity’s baseline) or `floor` (too new: the global floor)' }),
    ),
    requests: Type.Optional(Type.Number({ description: 'requests in the interval' })),
    series: Type.Optional(Type.Array(Type.Number(), { description: 'recent intervals, oldest first' })),
  },
  { additionalProperties: true },
);

export const Anomaly = Type.Object(
  {
    id: Type.String(),
    signal: Signal,
    identityKind: IdentityKind,
    identity: Type.String(),
    bucketStart: Timestamp,
    intervalMs: Type.Integer(),
    detectedAt: Timestamp,
    lastSeenAt: Timestamp,
    occurrences: Type.Integer({ description: 'findings folded into this incident (1 at first)' }),
    score: Type.Number({ description: 'standard deviations above the expectation' }),
    observed: Type.Number(),
    expected: Type.Number(),
    explanation: Type.String(),
    evidence: Evidence,
    action: Action,
    blockId: NullableString,
    blockExpiresAt: NullableTimestamp,
    alertId: NullableString,
    status: Status,
    resolvedAt: NullableTimestamp,
    resolvedBy: NullableString,
    resolutionNote: NullableString,
  },
  { $id: 'Anomaly' },
);

export function anomalyView(a: AnomalyRecord) {
  return {
    id: a.id,
    // Stored as text; the detector only writes names from SIGNALS.
    signal: a.signal as SignalName,
    identityKind: a.identityKind,
    identity: a.identity,
    bucketStart: iso(a.bucketStart),
    intervalMs: a.intervalMs,
    detectedAt: iso(a.detectedAt),
    lastSeenAt: iso(a.lastSeenAt),
    occurrences: a.occurrences,
    score: a.score,
    observed: a.observed,
    expected: a.expected,
    explanation: a.explanation,
    evidence: a.evidence,
    action: a.action,
    blockId: a.blockId,
    blockExpiresAt: isoOrNull(a.blockExpiresAt),
    alertId: a.alertId,
    status: a.status,
    resolvedAt: isoOrNull(a.resolvedAt),
    resolvedBy: a.resolvedBy,
    resolutionNote: a.resolutionNote,
  };
}

const Delivery = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  url: Type.String({ description: 'the webhook’s origin only: its path and credentials are the secret' }),
  status: OneOf(['delivered', 'failed']),
  attempts: Type.Integer(),
  lastStatus: Type.Union([Type.Integer(), Type.Null()], { description: 'the receiver’s last HTTP status' }),
  lastError: NullableString,
  createdAt: Timestamp,
  finishedAt: Timestamp,
});

/**
 * The origin of the webhook URL. Deliveries are recorded without the path already; this keeps
 * it so for a record written otherwise: an incoming-webhook URL's path is its secret.
 */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparsable URL)';
  }
}

function deliveryView(d: AlertDeliveryRecord) {
  return {
    id: d.id,
    kind: d.kind,
    url: originOf(d.url),
    status: d.status,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: iso(d.createdAt),
    finishedAt: iso(d.finishedAt),
  };
}

const AnomalyDetail = Type.Composite([
  Type.Omit(Anomaly, []),
  Type.Object({
    deliveries: Type.Array(Delivery, {
      description: 'attempts to deliver the anomaly’s alert, newest first',
    }),
    block: Type.Union([Type.Ref('Block'), Type.Null()], {
      description:
        'the block it caused while it is in place; null once lifted or expired, or when there was none',
    }),
  }),
]);

const FindingView = Type.Object({
  signal: Signal,
  identityKind: IdentityKind,
  identity: Type.String(),
  observed: Type.Number(),
  expected: Type.Number(),
  score: Type.Number(),
  explanation: Type.String(),
  evidence: Evidence,
});

function findingView(f: Finding) {
  return {
    signal: f.signal,
    identityKind: f.kind,
    identity: f.value,
    observed: f.observed,
    expected: f.expected,
    score: f.score,
    explanation: f.explanation,
    evidence: f.evidence,
  };
}

const RunAnswer = Type.Object({
  bucketStart: Timestamp,
  intervalMs: Type.Integer(),
  identities: Type.Integer({ description: 'identities with counts in the interval' }),
  findings: Type.Array(FindingView, { description: 'everything found, whatever the rules do with it' }),
  anomalies: Type.Array(Type.Ref('Anomaly'), {
    description: 'anomalies recorded by this run (a finding of an incident already open is folded into it)',
  }),
});

const ResolveBody = Type.Object(
  {
    note: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'why, for the record' })),
    keepBlock: Type.Optional(
      Type.Boolean({ description: 'leave the block the detector put in place (default: lift it)' }),
    ),
  },
  { additionalProperties: false },
);

type AnomalyFilter = NonNullable<Parameters<AnomalyRepository['list']>[0]>;

/** A control character in a note would forge lines in logs and terminals that show it. */
function checkNote(note: string | undefined): string | undefined {
  if (note === undefined) return undefined;
  const trimmed = note.trim();
  if (trimmed === '' || /\p{Cc}/u.test(note))
    throw new SpecError([
      { path: 'note', message: 'must be 1-500 visible characters (no line breaks or control characters)' },
    ]);
  return trimmed;
}

/** The cursor is the (detectedAt, id) of the last anomaly of a page: the repository's `before`. */
function parseCursor(cursor: string): { detectedAt: number; id: string } {
  const match = /^(\d{1,16}):(.+)$/s.exec(decodeCursor(cursor));
  if (!match) throw new SpecError([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  return { detectedAt: Number(match[1]), id: match[2] as string };
}

export const anomalyRoutes: ResourceRoutes = (app, deps) => {
  const tags = ['anomalies'];
  app.addSchema(Anomaly);

  app.get(
    '/anomalies',
    {
      schema: {
        tags,
        summary: 'List anomalies, newest first',
        querystring: Type.Object(
          {
            ...PageQuery,
            status: Type.Optional(Status),
            signal: Type.Optional(Signal),
            identityKind: Type.Optional(IdentityKind),
            identity: Type.Optional(
              Type.String({ maxLength: 200, description: 'a key, client or user id, or an IP, as shown' }),
            ),
            since: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'detected from (inclusive): a duration ago (24h) or an ISO date',
              }),
            ),
            until: Type.Optional(
              Type.String({
                maxLength: 100,
                description: 'detected until (exclusive): a duration ago or an ISO date',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Type.Ref('Anomaly')), ...problems(400, 401, 403, 422) },
      },
    },
    async (request) => {
      const { limit, cursor, status, signal, identityKind, identity, since, until } = request.query;
      const now = deps.clock.now();
      const issues: { path: string; message: string }[] = [];
      const attempt = <T>(fn: () => T): T | undefined => {
        try {
          return fn();
        } catch (error) {
          if (!(error instanceof SpecError)) throw error;
          issues.push(...error.issues);
          return undefined;
        }
      };
      const from = since === undefined ? undefined : attempt(() => pastTime('since', since, now));
      const to = until === undefined ? undefined : attempt(() => pastTime('until', until, now));
      const before = cursor === undefined ? undefined : attempt(() => parseCursor(cursor));
      if (issues.length > 0) throw new SpecError(issues);
      const size = limit ?? 100;
      const filter: AnomalyFilter = {
        ...(status !== undefined ? { status } : {}),
        ...(signal !== undefined ? { signal } : {}),
        ...(identityKind !== undefined ? { identityKind } : {}),
        ...(identity !== undefined ? { identity } : {}),
        ...(from !== undefined ? { since: from } : {}),
        ...(to !== undefined ? { until: to } : {}),
        ...(before !== undefined ? { before } : {}),
        // One more than the page: whether there is a next page without another query.
        limit: size + 1,
      };
      const rows = await request.scope.store.anomalies.list(filter);
      const items = rows.slice(0, size);
      const last = items.at(-1);
      return {
        items: items.map(anomalyView),
        nextCursor: rows.length > size && last ? encodeCursor(`${last.detectedAt}:${last.id}`) : null,
      };
    },
  );

  app.get(
    '/anomalies/:id',
    {
      schema: {
        tags,
        summary: 'Show an anomaly with its evidence, its alert’s deliveries and the block it caused',
        params: IdParams,
        response: { 200: AnomalyDetail, ...problems(401, 403, 404) },
      },
    },
    async (request) => {
      const { store } = request.scope;
      const anomaly = await store.anomalies.get(request.params.id);
      if (!anomaly) throw new AdminProblem('not_found', `no anomaly ${request.params.id}`);
      const [deliveries, block] = await Promise.all([
        anomaly.alertId === null ? [] : store.alertDeliveries.list({ alertId: anomaly.alertId }),
        anomaly.blockId === null ? undefined : store.blocks.get(anomaly.blockId),
      ]);
      const now = deps.clock.now();
      // An expired entry may linger until housekeeping prunes it: it no longer blocks anything.
      const inForce = block && (block.expiresAt === null || block.expiresAt > now) ? block : undefined;
      return {
        ...anomalyView(anomaly),
        deliveries: deliveries.map(deliveryView),
        block: inForce ? blockView(inForce, now) : null,
      };
    },
  );

  app.post(
    '/anomalies/:id/resolve',
    {
      schema: {
        tags,
        summary: 'Resolve an anomaly, lifting the block the detector put in place for it unless keepBlock',
        description:
          'Only a block the detector made for this anomaly is lifted: one that was already there (an admin’s) stays. ' +
          'Resolving a resolved anomaly changes nothing and answers it as it is.',
        params: IdParams,
        body: Type.Optional(ResolveBody),
        response: {
          200: Type.Object({
            anomaly: Type.Ref('Anomaly'),
            liftedBlock: Type.Union([Type.String(), Type.Null()], {
              description: 'the id of the block lifted',
            }),
          }),
          ...problems(400, 401, 403, 404, 422),
        },
      },
    },
    async (request) => {
      const note = checkNote(request.body?.note);
      // The request's store is audited as the caller: the resolution and the lifted block are recorded.
      const result = await resolveAnomaly(
        request.scope.store,
        request.params.id,
        { actor: request.scope.principal.name, note, keepBlock: request.body?.keepBlock },
        deps.clock.now(),
      );
      return { anomaly: anomalyView(result.anomaly), liftedBlock: result.liftedBlock };
    },
  );

  app.post(
    '/anomalies/run',
    {
      schema: {
        tags,
        summary: 'Run the detector now on the interval in progress (learns nothing; acts by the rules)',
        description:
          'Needs the detector of a running gateway: 409 when anomaly detection is off, and in the CLI’s local mode.',
        body: Type.Optional(Type.Object({}, { additionalProperties: false })),
        response: { 200: RunAnswer, ...problems(400, 401, 403, 409) },
      },
    },
    async () => {
      const detector = deps.anomalies;
      if (!detector?.enabled)
        throw new AdminProblem(
          'conflict',
          deps.localPrincipal
            ? 'the detector runs inside a gateway, not in the CLI’s local mode: call a running gateway with --url'
            : 'anomaly detection is off (the live setting anomalyDetection, or anomaly_detection in the configuration)',
        );
      const result = await detector.runNow();
      return {
        bucketStart: iso(result.bucketStart),
        intervalMs: result.intervalMs,
        identities: result.identities,
        findings: result.findings.map(findingView),
        anomalies: result.anomalies.map(anomalyView),
      };
    },
  );
};
