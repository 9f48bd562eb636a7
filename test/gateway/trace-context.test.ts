/**
 * W3C Trace Context on forwarded requests: a valid traceparent (and its tracestate) passes
 * through unchanged; with `traceparent` enabled, a request without one — or with an invalid or
 * duplicated one — gets a new trace instead.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HeaderPolicy, upstreamRequestHeaders } from '../../src/gateway/headers.js';
import type { Allow, RequestFacts } from '../../src/pipeline/types.js';
import { compileRoute } from '../../src/routing/compile.js';

const route = compileRoute(
  { id: 'r', host: '*', path: '/*', methods: { '*': ['public'] }, upstream: { url: 'http://u:1' } },
  { upstreamTimeoutMs: 1000 },
);
const decision = {
  kind: 'allow',
  match: { route, params: {} },
  principal: { kind: 'anonymous', scopes: [] },
  credential: undefined,
} as unknown as Allow;
const facts = { clientIp: '192.0.2.1', protocol: 'http', host: 'a', requestId: 'rid' } as RequestFacts;

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const on: HeaderPolicy = { identityAliases: false, traceparent: true };
const off: HeaderPolicy = { identityAliases: false, traceparent: false };

function trace(raw: string[], policy: HeaderPolicy): { parent: string[]; state: string[] } {
  const out = upstreamRequestHeaders(raw, undefined, facts, decision, policy);
  const values = (name: string) => out.filter((_, i) => i % 2 === 1 && out[i - 1] === name);
  return {
    parent: [...values('traceparent'), ...values('Traceparent')],
    state: [...values('tracestate'), ...values('Tracestate')],
  };
}

describe('trace context on forwarded requests', () => {
  it('a valid traceparent and its tracestate pass through unchanged, enabled or not', () => {
    for (const policy of [on, off]) {
      assert.deepEqual(trace(['traceparent', VALID, 'tracestate', 'a=1'], policy), {
        parent: [VALID],
        state: ['a=1'],
      });
    }
  });

  it('disabled: nothing is added, anything is passed as it came', () => {
    assert.deepEqual(trace([], off), { parent: [], state: [] });
    assert.deepEqual(trace(['traceparent', 'garbage'], off), { parent: ['garbage'], state: [] });
  });

  it('enabled: a missing, invalid or duplicated traceparent starts a new trace', () => {
    const cases: string[][] = [
      [],
      ['traceparent', 'garbage', 'tracestate', 'a=1'],
      ['traceparent', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
      ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
      ['traceparent', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
      ['traceparent', VALID.toUpperCase()],
      ['traceparent', VALID, 'traceparent', VALID],
    ];
    const seen = new Set<string>();
    for (const raw of cases) {
      const { parent, state } = trace(raw, on);
      assert.equal(parent.length, 1, JSON.stringify(raw));
      assert.match(parent[0] as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.notEqual(parent[0], VALID);
      assert.deepEqual(state, [], 'a tracestate without its traceparent is dropped');
      seen.add(parent[0] as string);
    }
    assert.equal(seen.size, cases.length, 'every new trace has its own ids');
  });
});
