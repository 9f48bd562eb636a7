/**
 * PORTCULLIS_FAILSAFE for key bindings: when the binding is not cached and the database cannot
 * answer, `closed` refuses with 503 failsafe_closed (never 401/403) and `open` lets the request
 * through. Real KeyBindings over a real (closed) store; the stage as the pipeline runs it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import type { KeyEntry } from '../../src/identity/catalog.js';
import { KeyBindings } from '../../src/ip-controls/bindings.js';
import { Blocklist } from '../../src/ip-controls/blocklist.js';
import { InterceptRecorder } from '../../src/ip-controls/intercepts.js';
import { ipRulesStage } from '../../src/pipeline/stages/ip-rules.js';
import type { Deny, Exchange } from '../../src/pipeline/types.js';
import { openState } from '../../src/state/open-state.js';
import { openStore } from '../../src/store/open-store.js';

const logger = pino({ level: 'silent' });

describe('failsafe for key bindings', () => {
  for (const failsafe of ['closed', 'open'] as const) {
    it(`${failsafe}: the store cannot answer`, async () => {
      const clock = new ManualClock();
      const store = await openStore({ url: 'sqlite::memory:', clock });
      await store.migrate();
      const state = await openState({ clock });
      const blocklist = new Blocklist({ store, clock, logger });
      await blocklist.refresh();
      const bindings = new KeyBindings({ store, clock, logger });
      const intercepts = new InterceptRecorder({
        store,
        state,
        clock,
        logger,
        alerts: { threshold: 0, windowS: 60, send: () => undefined },
      });
      await store.close(); // the database is gone from here on
      const stage = ipRulesStage({ blocklist, bindings, intercepts, failsafe: { failsafe }, logger });
      const key = {
        key: {
          id: 'key_1',
          clientId: 'acme',
          bindingMode: 'single',
          maxIps: null,
          bindPrefixV4: null,
          bindPrefixV6: null,
        },
        ipAllow: undefined,
        ipDeny: undefined,
      } as unknown as KeyEntry;
      const exchange = {
        facts: { clientIp: '192.0.2.1', requestId: 'r', method: 'GET', path: '/' },
        match: undefined,
        principal: { kind: 'api_key', keyId: 'key_1', clientId: 'acme', scopes: [] },
        key,
      } as unknown as Exchange;
      const result = await stage(exchange);
      if (failsafe === 'closed') {
        const refused = result as Deny;
        assert.deepEqual([refused.status, refused.code], [503, 'failsafe_closed']);
        assert.deepEqual(refused.headers, [['retry-after', '1']]);
      } else {
        assert.equal(result, undefined, 'open: the request goes on');
      }
      await state.close();
    });
  }
});
