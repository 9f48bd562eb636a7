/**
 * Prometheus metrics under `portcullis start --workers N`. The workers share the admin port,
 * so a scrape lands on any one of them; answering with that worker's own counters would make
 * every series jump between N unrelated values (read by Prometheus as counter resets). So the
 * worker that gets the scrape asks the primary, which collects every worker's registry
 * (prom-client's AggregatorRegistry, over the cluster IPC channel) and merges them: counters
 * and histograms summed, and gauges by their `aggregator` (metrics.ts: health by min, degraded
 * mode by max, build info first).
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'portcullis:metrics-request';
const ANSWER = 'portcullis:metrics-answer';
/** prom-client gives each worker 5 s to answer the primary; a little more for the round trip. */
const TIMEOUT_MS = 6_000;

export interface Scrape {
  contentType: string;
  body: string;
}

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsAnswer {
  type: typeof ANSWER;
  id: number;
  contentType?: string;
  body?: string;
  error?: string;
}

function isRequest(message: unknown): message is MetricsRequest {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === REQUEST;
}

function isAnswer(message: unknown): message is MetricsAnswer {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === ANSWER;
}

/**
 * In a worker: offer `registry` to the primary's collection and return the scrape function
 * for the admin listener (the merged metrics of every worker, through the primary).
 */
export function workerMetrics(registry: Registry): () => Promise<Scrape> {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener that answers the primary's collection.
  new AggregatorRegistry();
  let next = 0;
  const pending = new Map<number, { resolve: (s: Scrape) => void; reject: (e: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isAnswer(message)) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error !== undefined || message.body === undefined)
      waiting.reject(new Error(`metrics from the primary failed: ${message.error ?? 'no body'}`));
    else waiting.resolve({ contentType: message.contentType ?? registry.contentType, body: message.body });
  });
  return () =>
    new Promise<Scrape>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no metrics from the primary within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      pending.set(id, {
        resolve: (scrape) => {
          clearTimeout(timer);
          resolve(scrape);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      const request: MetricsRequest = { type: REQUEST, id };
      process.send?.(request);
    });
}

/**
 * In the primary: answer a worker's metrics request (returns false for any other message).
 * Created once: the AggregatorRegistry's listeners live on the cluster module.
 */
export function primaryMetrics(): (worker: Worker, message: unknown) => boolean {
  const aggregator = new AggregatorRegistry();
  return (worker, message) => {
    if (!isRequest(message)) return false;
    aggregator.clusterMetrics().then(
      (body) => {
        const answer: MetricsAnswer = {
          type: ANSWER,
          id: message.id,
          contentType: aggregator.contentType,
          body,
        };
        if (worker.isConnected()) worker.send(answer);
      },
      (error: unknown) => {
        const answer: MetricsAnswer = {
          type: ANSWER,
          id: message.id,
          error: String((error as Error).message ?? error),
        };
        if (worker.isConnected()) worker.send(answer);
      },
    );
    return true;
  };
}
