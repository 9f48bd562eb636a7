/**
 * Administrative operations on anomalies, shared by the admin API and the CLI (which calls
 * the API): resolving an incident, and with it lifting the block the detector put there.
 */
import { NotFoundError } from '../store/errors.js';
import type { AnomalyRecord, Store } from '../store/types.js';

export interface ResolveResult {
  anomaly: AnomalyRecord;
  /** The block lifted with it, if any. */
  liftedBlock: string | null;
}

/**
 * Mark an anomaly resolved. Unless `keepBlock`, the block it caused is lifted — only a block
 * the detector made for this anomaly (its reason names the anomaly): a block that was already
 * there, put by an admin, stays. Resolving a resolved anomaly changes nothing and says so by
 * returning it as it is.
 */
export async function resolveAnomaly(
  store: Store,
  id: string,
  by: { actor: string; note?: string | undefined; keepBlock?: boolean | undefined },
  now: number,
): Promise<ResolveResult> {
  const current = await store.anomalies.get(id);
  if (!current) throw new NotFoundError('anomaly', id);
  if (current.status === 'resolved') return { anomaly: current, liftedBlock: null };
  const anomaly =
    (await store.anomalies.resolve(id, { at: now, actor: by.actor, note: by.note ?? null })) ?? current;
  let liftedBlock: string | null = null;
  if (!by.keepBlock && current.blockId !== null) {
    const block = await store.blocks.get(current.blockId);
    if (
      block &&
      block.source === 'anomaly' &&
      block.reason.includes(id) &&
      (await store.blocks.remove(block.id))
    )
      liftedBlock = block.id;
  }
  return { anomaly, liftedBlock };
}
