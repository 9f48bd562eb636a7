import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RULES, formatRules, parseRules } from '../../src/anomaly/rules.js';
import { loadConfig } from '../../src/config/load.js';

describe('anomaly rules', () => {
  it('defaults block only credential stuffing (15 minutes) and alert on the rest', () => {
    assert.equal(
      formatRules(DEFAULT_RULES),
      'burst=alert,auth_failures=block:15m,error_rate=alert,key_sharing=alert,rate_limited=alert',
    );
    assert.deepEqual(parseRules(''), DEFAULT_RULES);
  });

  it('parses every action; unnamed signals keep their default', () => {
    const rules = parseRules(' burst = block:10m , key_sharing=block, error_rate=record,rate_limited=off ');
    assert.deepEqual(rules.burst, { action: 'block', durationMs: 600_000 });
    assert.deepEqual(rules.key_sharing, { action: 'block', durationMs: null });
    assert.deepEqual(rules.error_rate, { action: 'record' });
    assert.deepEqual(rules.rate_limited, { action: 'off' });
    assert.deepEqual(rules.auth_failures, DEFAULT_RULES.auth_failures);
    assert.equal(
      formatRules(rules),
      'burst=block:10m,auth_failures=block:15m,error_rate=record,key_sharing=block,rate_limited=off',
    );
    assert.equal(formatRules(parseRules('burst=block:90s')).split(',')[0], 'burst=block:90s');
    assert.equal(formatRules(parseRules('burst=block:2d')).split(',')[0], 'burst=block:2d');
  });

  it('refuses mistakes with a message naming the entry', () => {
    const cases: Array<[string, RegExp]> = [
      ['bursts=alert', /"bursts" is not a signal \(one of burst, auth_failures/],
      ['burst', /burst: expected burst=off\|record\|alert\|block\|block:<duration>/],
      ['burst=ban', /burst: "ban" is not an action/],
      ['burst=block:0s', /burst: "0s" is not a block duration/],
      ['burst=block:400d', /not a block duration/],
      ['burst=block:10', /not a block duration/],
      ['burst=alert,burst=block', /burst is named twice/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseRules(text), message, text);
  });

  it('is a setting: PORTCULLIS_ANOMALY_RULES is validated at start and shown normalised', () => {
    const ok = loadConfig({ env: { PORTCULLIS_ANOMALY_RULES: 'burst=block:10m' }, cwd: '/nonexistent' });
    assert.match(ok.settings.anomalyRules, /^burst=block:10m,auth_failures=block:15m,/);
    assert.throws(
      () => loadConfig({ env: { PORTCULLIS_ANOMALY_RULES: 'burst=nope' }, cwd: '/nonexistent' }),
      /anomaly_rules|ANOMALY_RULES/,
    );
  });
});
