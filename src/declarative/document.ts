/**
 * The declarative file (`portcullis apply -f`, `portcullis export`): parse and validate a
 * document, plan the difference against the store, apply the plan in one transaction.
 * Secrets never appear in a document: keys and HMAC secrets are issued by commands.
 *
 * Sections: `routes` and `policies`. A file without a `policies` section leaves policies
 * alone, even with --prune (files written before policies existed must not wipe the ones
 * added with `portcullis policies add`); `policies: []` manages them and prunes them all.
 * A missing `routes` section still means no routes, as it always has.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { SpecError, type SpecIssue } from '../core/spec-error.js';
import { attachedRoutes, type PolicySpec, parsePolicySpec, policySummary } from '../limits/policy.js';
import type { CompileDefaults } from '../routing/compile.js';
import { parseRouteSpec, type RouteSpec } from '../routing/spec.js';
import { RouteTable } from '../routing/table.js';
import type { Repositories, Store } from '../store/types.js';

/** Top-level sections a document may hold; `settings` belongs to start-up configuration. */
const SECTIONS = new Set(['routes', 'policies', 'settings']);

export interface DeclarativeDocument {
  routes: RouteSpec[];
  /** Undefined when the file has no `policies` section: the file then does not manage policies. */
  policies?: PolicySpec[];
}

/** What the store holds now, as far as a document is concerned. */
export interface CurrentState {
  routes: readonly RouteSpec[];
  policies: readonly PolicySpec[];
}

export async function readCurrentState(store: Pick<Store, 'routes' | 'policies'>): Promise<CurrentState> {
  const [routes, policies] = await Promise.all([store.routes.list(), store.policies.list()]);
  return { routes: routes.map((r) => r.spec), policies: policies.map((p) => p.spec) };
}

export function parseDocumentText(text: string, source: string): DeclarativeDocument {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new SpecError([
      { path: source, message: `not valid YAML: ${(error as Error).message.split('\n')[0]}` },
    ]);
  }
  return parseDocument(raw ?? {}, source);
}

export function parseDocument(raw: unknown, source = 'document'): DeclarativeDocument {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SpecError([{ path: source, message: 'must be a YAML mapping with a "routes" list' }]);
  }
  const issues: SpecIssue[] = [];
  for (const key of Object.keys(raw)) {
    if (!SECTIONS.has(key)) {
      issues.push({
        path: key,
        message: `unknown section; this version understands: ${[...SECTIONS].join(', ')}`,
      });
    }
  }
  const routesRaw = (raw as Record<string, unknown>)['routes'] ?? [];
  const routes: RouteSpec[] = [];
  if (!Array.isArray(routesRaw)) issues.push({ path: 'routes', message: 'must be a list' });
  else {
    routesRaw.forEach((item, index) => {
      try {
        routes.push(parseRouteSpec(item, `routes[${index}]`));
      } catch (error) {
        if (error instanceof SpecError) issues.push(...error.issues);
        else throw error;
      }
    });
  }
  const policiesRaw = (raw as Record<string, unknown>)['policies'];
  let policies: PolicySpec[] | undefined;
  if (policiesRaw !== undefined && policiesRaw !== null) {
    if (!Array.isArray(policiesRaw)) issues.push({ path: 'policies', message: 'must be a list' });
    else {
      const list: PolicySpec[] = [];
      policies = list;
      const firstIndex = new Map<string, number>();
      policiesRaw.forEach((item, index) => {
        try {
          const policy = parsePolicySpec(item, `policies[${index}]`);
          const first = firstIndex.get(policy.id);
          if (first !== undefined) {
            issues.push({
              path: `policies[${index}].id`,
              message: `"${policy.id}" is also policies[${first}]`,
            });
          } else {
            firstIndex.set(policy.id, index);
            list.push(policy);
          }
        } catch (error) {
          if (error instanceof SpecError) issues.push(...error.issues);
          else throw error;
        }
      });
    }
  }
  if (issues.length > 0) throw new SpecError(issues);
  return policies === undefined ? { routes } : { routes, policies };
}

/** Key-order-independent JSON, so a diff reports real changes only. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export interface Change<T> {
  id: string;
  before?: T;
  after?: T;
}

export interface SectionPlan<T> {
  create: Change<T>[];
  update: Change<T>[];
  remove: Change<T>[];
  /** In the store but not in the file, kept because --prune was not given (or the file has no such section). */
  kept: string[];
  unchanged: string[];
}

export interface Plan {
  routes: SectionPlan<RouteSpec>;
  policies: SectionPlan<PolicySpec>;
  /** False when the file has no `policies` section: every policy is kept, whatever --prune says. */
  policiesInFile: boolean;
}

function planSection<T extends { id: string }>(
  current: readonly T[],
  desired: readonly T[],
  prune: boolean,
): SectionPlan<T> {
  const byId = new Map(current.map((item) => [item.id, item]));
  const plan: SectionPlan<T> = { create: [], update: [], remove: [], kept: [], unchanged: [] };
  const wanted = new Set<string>();
  for (const item of desired) {
    wanted.add(item.id);
    const existing = byId.get(item.id);
    if (!existing) plan.create.push({ id: item.id, after: item });
    else if (canonicalJson(existing) !== canonicalJson(item))
      plan.update.push({ id: item.id, before: existing, after: item });
    else plan.unchanged.push(item.id);
  }
  for (const item of current) {
    if (wanted.has(item.id)) continue;
    if (prune) plan.remove.push({ id: item.id, before: item });
    else plan.kept.push(item.id);
  }
  return plan;
}

/**
 * Diff the file against the store. Refused (SpecError, nothing written) when the resulting
 * state, the file plus what is kept, would be inconsistent: an ambiguous route table, a route
 * naming a policy that would not exist, or a policy attached to a route that would not exist.
 */
export function planChanges(
  current: CurrentState,
  desired: DeclarativeDocument,
  prune: boolean,
  defaults: CompileDefaults,
): Plan {
  const policiesInFile = desired.policies !== undefined;
  const plan: Plan = {
    routes: planSection(current.routes, desired.routes, prune),
    policies: planSection(current.policies, desired.policies ?? [], prune && policiesInFile),
    policiesInFile,
  };
  const keptRoutes = new Set(plan.routes.kept);
  const keptPolicies = new Set(plan.policies.kept);
  const routes = [...desired.routes, ...current.routes.filter((r) => keptRoutes.has(r.id))];
  const policies = [...(desired.policies ?? []), ...current.policies.filter((p) => keptPolicies.has(p.id))];
  // The resulting table must compile: ambiguous routes are refused before anything is written.
  RouteTable.compile(routes, defaults);
  checkReferences(desired, routes, policies, plan);
  return plan;
}

function checkReferences(
  desired: DeclarativeDocument,
  routes: readonly RouteSpec[],
  policies: readonly PolicySpec[],
  plan: Plan,
): void {
  const issues: SpecIssue[] = [];
  const routeIds = new Set(routes.map((r) => r.id));
  const policyIds = new Set(policies.map((p) => p.id));
  const prunedRoutes = new Set(plan.routes.remove.map((c) => c.id));
  const prunedPolicies = new Set(plan.policies.remove.map((c) => c.id));
  const fileRoutes = new Map(desired.routes.map((r, i) => [r.id, i]));
  const filePolicies = new Map((desired.policies ?? []).map((p, i) => [p.id, i]));
  const why = (pruned: boolean) =>
    pruned ? 'which --prune would remove' : 'which is neither in the file nor in the store';

  for (const route of routes) {
    (route.policies ?? []).forEach((policyId, j) => {
      if (policyIds.has(policyId)) return;
      const index = fileRoutes.get(route.id);
      const pruned = prunedPolicies.has(policyId);
      if (index !== undefined) {
        issues.push({
          path: `routes[${index}].policies[${j}]`,
          message: `route "${route.id}" names policy "${policyId}", ${why(pruned)}`,
        });
      } else {
        issues.push({
          path: 'policies',
          message: `route "${route.id}" (kept in the store) names policy "${policyId}", ${why(pruned)}`,
        });
      }
    });
  }
  for (const policy of policies) {
    const attach = policy.attach ?? [];
    for (const routeId of attachedRoutes(policy)) {
      if (routeIds.has(routeId)) continue;
      const index = filePolicies.get(policy.id);
      const pruned = prunedRoutes.has(routeId);
      if (index !== undefined) {
        issues.push({
          path: `policies[${index}].attach[${attach.indexOf(`route:${routeId}`)}]`,
          message: `policy "${policy.id}" is attached to route "${routeId}", ${why(pruned)}`,
        });
      } else {
        issues.push({
          path: 'routes',
          message: `policy "${policy.id}" (kept in the store) is attached to route "${routeId}", ${why(pruned)}`,
        });
      }
    }
  }
  if (issues.length > 0) throw new SpecError(issues);
}

export function planIsEmpty(plan: Plan): boolean {
  const r = plan.routes;
  const p = plan.policies;
  return (
    r.create.length +
      r.update.length +
      r.remove.length +
      p.create.length +
      p.update.length +
      p.remove.length ===
    0
  );
}

/** Apply a plan in one transaction: the file is applied whole or not at all. */
export async function applyPlan(store: Store, plan: Plan): Promise<void> {
  if (planIsEmpty(plan)) return;
  await store.write(async (repos: Repositories) => {
    for (const change of plan.routes.remove) await repos.routes.remove(change.id);
    for (const change of plan.policies.remove) await repos.policies.remove(change.id);
    for (const change of plan.policies.update) await repos.policies.replace(change.after as PolicySpec);
    for (const change of plan.policies.create) await repos.policies.insert(change.after as PolicySpec);
    for (const change of plan.routes.update) await repos.routes.replace(change.after as RouteSpec);
    for (const change of plan.routes.create) await repos.routes.insert(change.after as RouteSpec);
  });
}

/** The whole current configuration; `policies` is always present, so the export manages them. */
export async function exportDocument(store: Store): Promise<DeclarativeDocument> {
  const { routes, policies } = await readCurrentState(store);
  return { routes: [...routes], policies: [...policies] };
}

export function documentToYaml(document: DeclarativeDocument): string {
  return stringifyYaml(document, { lineWidth: 0 });
}

/** Human-readable plan, one line per change, with changed fields for updates. */
export function describePlan(plan: Plan): string[] {
  const lines: string[] = [];
  for (const c of plan.routes.create) lines.push(`+ route ${c.id} (${c.after?.host} ${c.after?.path})`);
  for (const c of plan.routes.update) lines.push(`~ route ${c.id}: ${changedFields(c)}`);
  for (const c of plan.routes.remove) lines.push(`- route ${c.id}`);
  for (const id of plan.routes.kept)
    lines.push(`  route ${id} is not in the file (kept; --prune removes it)`);
  for (const c of plan.policies.create)
    lines.push(`+ policy ${c.id} (${policySummary(c.after as PolicySpec)})`);
  for (const c of plan.policies.update) lines.push(`~ policy ${c.id}: ${changedFields(c)}`);
  for (const c of plan.policies.remove) lines.push(`- policy ${c.id}`);
  if (plan.policiesInFile) {
    for (const id of plan.policies.kept)
      lines.push(`  policy ${id} is not in the file (kept; --prune removes it)`);
  } else if (plan.policies.kept.length > 0) {
    lines.push(
      `  policies are not in the file (${plan.policies.kept.length} kept, even with --prune; a policies: section manages them)`,
    );
  }
  return lines;
}

function changedFields(change: Change<unknown>): string {
  const before = change.before as Record<string, unknown>;
  const after = change.after as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => canonicalJson(before[k]) !== canonicalJson(after[k]))
    .sort();
  return fields
    .map((f) => `${f} ${canonicalJson(before[f]) ?? '(unset)'} → ${canonicalJson(after[f]) ?? '(unset)'}`)
    .join('; ');
}
