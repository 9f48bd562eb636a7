/**
 * Latency histogram bounds, shared by the Prometheus metrics and the admin API's dashboard
 * figures so a p99 reads the same in Grafana and in the console. A module of its own so the
 * admin API (loaded by every CLI command) does not pull in the metrics registry.
 */

/** Buckets (seconds) for request and upstream latency: sub-millisecond decisions to slow upstreams. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** The same bounds in milliseconds (rounded: 0.0005 × 1000 is not exactly 0.5 in binary). */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze(
  DURATION_BUCKETS.map((s) => Math.round(s * 1_000_000) / 1000),
);
