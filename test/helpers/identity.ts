/** CLI shortcuts for identity set-up in integration tests (through the real `portcullis` CLI). */
import assert from 'node:assert/strict';
import type { GatewayProcess } from './gateway.js';

export async function cliJson<T = Record<string, unknown>>(gw: GatewayProcess, args: string[]): Promise<T> {
  const result = await gw.cli([...args, '--json']);
  assert.equal(
    result.code,
    0,
    `portcullis ${args.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`,
  );
  return JSON.parse(result.stdout) as T;
}

export async function addClient(gw: GatewayProcess, id: string, name = id): Promise<void> {
  await cliJson(gw, ['clients', 'add', '--id', id, '--name', name]);
}

export async function createKey(
  gw: GatewayProcess,
  client: string,
  extra: string[] = [],
): Promise<{ id: string; key: string }> {
  return cliJson<{ id: string; key: string }>(gw, ['keys', 'create', '--client', client, ...extra]);
}

export async function grant(gw: GatewayProcess, client: string, route: string, methods = '*'): Promise<void> {
  await cliJson(gw, ['grants', 'add', '--client', client, '--route', route, '--methods', methods]);
}

/** Wait until the running gateway has seen the latest change (its config poll runs every 200 ms in tests). */
export function settle(ms = 700): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
