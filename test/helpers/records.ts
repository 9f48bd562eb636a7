/** Store records for tests that write to a real store directly. */
import type { NewApiKey } from '../../src/store/types.js';

/** A key with every optional feature off; `extra` turns on what a test needs. */
export function newApiKey(id: string, clientId: string, extra: Partial<NewApiKey> = {}): NewApiKey {
  return {
    id,
    clientId,
    name: null,
    environment: 'live',
    scopes: [],
    expiresAt: null,
    ipAllow: [],
    ipDeny: [],
    bindingMode: 'off',
    maxIps: null,
    bindPrefixV4: null,
    bindPrefixV6: null,
    policy: null,
    usesBudget: null,
    ...extra,
  };
}
