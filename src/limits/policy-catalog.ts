/**
 * Which rate-limit policies apply to a request. Policies attach globally, to routes (the
 * route's `policies:` list or the policy's `attach: route:<id>`), to clients and to keys (the
 * policy's `attach: key:<id>`, or the key's own `policy` override). The most specific level
 * that has any policy wins — key > client > route > global — and every policy of that level
 * must pass. Compiled once per configuration change; a request does a few map lookups.
 */
import type { Logger } from 'pino';
import type { CompiledRoute } from '../routing/compile.js';
import type { Store } from '../store/types.js';
import { type CompiledPolicy, compilePolicy, type PolicySpec, parsePolicySpec } from './policy.js';

const NONE: readonly CompiledPolicy[] = Object.freeze([]);

function push(map: Map<string, CompiledPolicy[]>, key: string, policy: CompiledPolicy): void {
  const list = map.get(key);
  if (list) list.push(policy);
  else map.set(key, [policy]);
}

export class PolicyCatalog {
  readonly #store: Store;
  readonly #logger: Logger;
  #byId = new Map<string, CompiledPolicy>();
  #byKey = new Map<string, CompiledPolicy[]>();
  #byClient = new Map<string, CompiledPolicy[]>();
  #byRoute = new Map<string, CompiledPolicy[]>();
  #global: readonly CompiledPolicy[] = NONE;
  /** Route-level sets merged from both attachment styles, memoized per compiled route. */
  #routeSets = new WeakMap<CompiledRoute, readonly CompiledPolicy[]>();

  /** Policies served from memory only (the demo's), in addition to the stored ones. */
  readonly #overlay: readonly PolicySpec[];

  constructor(options: { store: Store; logger: Logger; overlay?: readonly PolicySpec[] }) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#overlay = options.overlay ?? [];
  }

  get size(): number {
    return this.#byId.size;
  }

  async refresh(): Promise<void> {
    const stored = await this.#store.policies.list();
    const records = [...this.#overlay.map((spec) => ({ id: spec.id, spec })), ...stored];
    const byId = new Map<string, CompiledPolicy>();
    const byKey = new Map<string, CompiledPolicy[]>();
    const byClient = new Map<string, CompiledPolicy[]>();
    const byRoute = new Map<string, CompiledPolicy[]>();
    const global: CompiledPolicy[] = [];
    for (const record of records) {
      let policy: CompiledPolicy;
      try {
        policy = compilePolicy(parsePolicySpec(record.spec, `policies.${record.id}`));
      } catch (error) {
        this.#logger.error({ policy: record.id, err: error }, 'rate-limit policy is invalid; ignored');
        continue;
      }
      byId.set(policy.id, policy);
      if (policy.attach.global) global.push(policy);
      for (const id of policy.attach.routes) push(byRoute, id, policy);
      for (const id of policy.attach.clients) push(byClient, id, policy);
      for (const id of policy.attach.keys) push(byKey, id, policy);
    }
    this.#byId = byId;
    this.#byKey = byKey;
    this.#byClient = byClient;
    this.#byRoute = byRoute;
    this.#global = global;
    this.#routeSets = new WeakMap();
  }

  get(id: string): CompiledPolicy | undefined {
    return this.#byId.get(id);
  }

  /** The policies that apply, from the most specific level that has any. */
  applicable(
    route: CompiledRoute,
    clientId: string | undefined,
    keyId: string | undefined,
    keyPolicy: string | null | undefined,
  ): readonly CompiledPolicy[] {
    if (this.#byId.size === 0) return NONE;
    if (keyId !== undefined) {
      const override = keyPolicy ? this.#byId.get(keyPolicy) : undefined;
      const attached = this.#byKey.get(keyId);
      if (override && attached) return [override, ...attached.filter((p) => p !== override)];
      if (override) return [override];
      if (attached) return attached;
    }
    if (clientId !== undefined) {
      const attached = this.#byClient.get(clientId);
      if (attached) return attached;
    }
    const routeLevel = this.#routeLevel(route);
    if (routeLevel.length > 0) return routeLevel;
    return this.#global;
  }

  #routeLevel(route: CompiledRoute): readonly CompiledPolicy[] {
    let set = this.#routeSets.get(route);
    if (!set) {
      const named = (route.spec.policies ?? [])
        .map((id) => this.#byId.get(id))
        .filter((p): p is CompiledPolicy => p !== undefined);
      const attached = this.#byRoute.get(route.id) ?? [];
      set = [...new Set([...named, ...attached])];
      this.#routeSets.set(route, set);
    }
    return set;
  }
}
