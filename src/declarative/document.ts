/**
 * The declarative file (`portcullis apply -f`, `portcullis export`): parse and validate a
 * document, plan the difference against the store, apply the plan in one transaction.
 * Secrets never appear in a document: keys and HMAC secrets are issued by commands.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { SpecError, type SpecIssue } from '../core/spec-error.js';
import type { CompileDefaults } from '../routing/compile.js';
import { parseRouteSpec, type RouteSpec } from '../routing/spec.js';
import { RouteTable } from '../routing/table.js';
import type { Repositories, Store } from '../store/types.js';

/** Top-level sections a document may hold; `settings` belongs to start-up configuration. */
const SECTIONS = new Set(['routes', 'settings']);

export interface DeclarativeDocument {
  routes: RouteSpec[];
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
  if (issues.length > 0) throw new SpecError(issues);
  return { routes };
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

export interface Plan {
  routes: {
    create: Change<RouteSpec>[];
    update: Change<RouteSpec>[];
    remove: Change<RouteSpec>[];
    /** In the store but not in the file, kept because --prune was not given. */
    kept: string[];
    unchanged: string[];
  };
}

export function planChanges(
  current: readonly RouteSpec[],
  desired: DeclarativeDocument,
  prune: boolean,
  defaults: CompileDefaults,
): Plan {
  const byId = new Map(current.map((r) => [r.id, r]));
  const plan: Plan = { routes: { create: [], update: [], remove: [], kept: [], unchanged: [] } };
  const wanted = new Set<string>();
  for (const route of desired.routes) {
    wanted.add(route.id);
    const existing = byId.get(route.id);
    if (!existing) plan.routes.create.push({ id: route.id, after: route });
    else if (canonicalJson(existing) !== canonicalJson(route))
      plan.routes.update.push({ id: route.id, before: existing, after: route });
    else plan.routes.unchanged.push(route.id);
  }
  for (const route of current) {
    if (wanted.has(route.id)) continue;
    if (prune) plan.routes.remove.push({ id: route.id, before: route });
    else plan.routes.kept.push(route.id);
  }
  // The resulting table must compile: ambiguous routes are refused before anything is written.
  const result = [...desired.routes, ...current.filter((r) => !wanted.has(r.id) && !prune)];
  RouteTable.compile(result, defaults);
  return plan;
}

export function planIsEmpty(plan: Plan): boolean {
  const r = plan.routes;
  return r.create.length + r.update.length + r.remove.length === 0;
}

/** Apply a plan in one transaction: the file is applied whole or not at all. */
export async function applyPlan(store: Store, plan: Plan): Promise<void> {
  if (planIsEmpty(plan)) return;
  await store.write(async (repos: Repositories) => {
    for (const change of plan.routes.remove) await repos.routes.remove(change.id);
    for (const change of plan.routes.update) await repos.routes.replace(change.after as RouteSpec);
    for (const change of plan.routes.create) await repos.routes.insert(change.after as RouteSpec);
  });
}

export async function exportDocument(store: Store): Promise<DeclarativeDocument> {
  const routes = (await store.routes.list()).map((r) => r.spec);
  return { routes };
}

export function documentToYaml(document: DeclarativeDocument): string {
  return stringifyYaml(document, { lineWidth: 0 });
}

/** Human-readable plan, one line per change, with changed fields for updates. */
export function describePlan(plan: Plan): string[] {
  const lines: string[] = [];
  for (const c of plan.routes.create) lines.push(`+ route ${c.id} (${c.after?.host} ${c.after?.path})`);
  for (const c of plan.routes.update) {
    const before = c.before as unknown as Record<string, unknown>;
    const after = c.after as unknown as Record<string, unknown>;
    const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])]
      .filter((k) => canonicalJson(before[k]) !== canonicalJson(after[k]))
      .sort();
    lines.push(
      `~ route ${c.id}: ${fields.map((f) => `${f} ${canonicalJson(before[f]) ?? '(unset)'} → ${canonicalJson(after[f]) ?? '(unset)'}`).join('; ')}`,
    );
  }
  for (const c of plan.routes.remove) lines.push(`- route ${c.id}`);
  for (const id of plan.routes.kept)
    lines.push(`  route ${id} is not in the file (kept; --prune removes it)`);
  return lines;
}
