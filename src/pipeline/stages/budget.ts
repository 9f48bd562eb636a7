/**
 * The key's remaining-uses budget, consumed last among the identity stages so a request
 * refused for any other reason never uses one up. Also notes the key as used (last-used times
 * are written in batches, off the request path).
 */
import type { Logger } from 'pino';
import type { KeyUsage } from '../../identity/usage.js';
import { deny } from '../decision.js';
import type { Exchange, Stage } from '../types.js';

export function budgetStage(usage: KeyUsage, logger: Logger): Stage {
  const afterConsume = (exchange: Exchange, result: Awaited<ReturnType<KeyUsage['consume']>>) => {
    if (!result.ok) {
      exchange.remaining = 0;
      return deny('usage_exhausted', 'this key has no remaining uses');
    }
    exchange.remaining = result.remaining;
    return undefined;
  };
  return (exchange) => {
    const entry = exchange.key;
    if (!entry) return undefined;
    usage.touch(entry.key.id);
    if (entry.key.usesBudget === null) return undefined;
    return usage.consume(entry.key).then(
      (result) => afterConsume(exchange, result),
      (error: unknown) => {
        logger.error(
          { requestId: exchange.facts.requestId, err: error },
          'remaining-uses counter unavailable',
        );
        return deny('store_unavailable', 'usage cannot be counted right now');
      },
    );
  };
}
