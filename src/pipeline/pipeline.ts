/**
 * Runs the ordered stages. The order lives in one place (`createGatewayStages`); doors only
 * call `decide`. Synchronous stages stay synchronous: the common public-route request makes
 * no Promise at all.
 */
import { anonymous } from './principal.js';
import type { BodyReader, Decision, Deny, Exchange, RequestFacts, Stage } from './types.js';

export type Decide = (facts: RequestFacts, readBody?: BodyReader) => Decision | Promise<Decision>;

/** Records who was refused and on which route, when known (for records and metrics). */
function withPrincipal(decision: Deny, exchange: Exchange): Deny {
  if (!exchange.principal && !exchange.match) return decision;
  return {
    ...decision,
    ...(exchange.principal ? { principal: exchange.principal } : {}),
    ...(exchange.match ? { routeId: exchange.match.route.id } : {}),
  };
}

export function createPipeline(stages: readonly Stage[]): Decide {
  const count = stages.length;

  const finish = (exchange: Exchange): Decision => {
    if (!exchange.match) throw new Error('pipeline finished without a route match');
    return {
      kind: 'allow',
      match: exchange.match,
      principal: exchange.principal ?? anonymous,
      credential: exchange.credential,
      remaining: exchange.remaining,
      body: exchange.body,
      responseHeaders: exchange.responseHeaders,
      onFinish: exchange.onFinish,
      rateLimit: exchange.rateLimit,
    };
  };

  const resume = async (
    exchange: Exchange,
    from: number,
    pending: Promise<Deny | undefined>,
  ): Promise<Decision> => {
    const first = await pending;
    if (first) return withPrincipal(first, exchange);
    for (let i = from; i < count; i++) {
      const result = await (stages[i] as Stage)(exchange);
      if (result) return withPrincipal(result, exchange);
    }
    return finish(exchange);
  };

  return (facts, readBody) => {
    const exchange: Exchange = {
      facts,
      match: undefined,
      requirement: undefined,
      credential: undefined,
      principal: undefined,
      key: undefined,
      remaining: null,
      body: undefined,
      readBody,
      responseHeaders: undefined,
      onFinish: undefined,
      rateLimit: undefined,
      shadowDenied: undefined,
    };
    for (let i = 0; i < count; i++) {
      const result = (stages[i] as Stage)(exchange);
      if (result === undefined) continue;
      if (result instanceof Promise) return resume(exchange, i + 1, result);
      return withPrincipal(result, exchange);
    }
    return finish(exchange);
  };
}
