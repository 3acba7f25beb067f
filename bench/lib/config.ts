/** Benchmark knobs, all from the environment, with modest defaults (the suite takes a few minutes). */
function num(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return v;
}

export const config = {
  /** Measured seconds per ingest run (baseline and Switchyard each). */
  durationS: num('BENCH_DURATION_S', 10),
  /**
   * Ingest runs per side, alternating baseline and Switchyard; the best run of
   * each side is reported (other engineers' test runs share the machine, and
   * noise only ever lowers a throughput).
   */
  rounds: Math.max(1, Math.round(num('BENCH_ROUNDS', 1))),
  /** Unmeasured warm-up seconds before each ingest run (JIT, connection setup). */
  warmupS: num('BENCH_WARMUP_S', 2),
  /** autocannon connections for single-event requests. */
  singleConnections: num('BENCH_CONNECTIONS', 50),
  /** autocannon connections for 100-event batches (~46 KB bodies). */
  batchConnections: num('BENCH_BATCH_CONNECTIONS', 16),
  /** Offered load for `e2e`, events/s (as 100-event batches). */
  e2eRate: num('BENCH_E2E_RATE', 10_000),
  e2eDurationS: num('BENCH_E2E_DURATION_S', 15),
  /** How long `e2e` waits for the backlog to drain after the load. */
  drainTimeoutS: num('BENCH_DRAIN_TIMEOUT_S', 30),
  backlogEvents: num('BENCH_BACKLOG_EVENTS', 1_000_000),
  /** Seconds `backlog` keeps sampling RSS after ingest (retries keep running). */
  backlogSettleS: num('BENCH_BACKLOG_SETTLE_S', 20),
  /** `503` (sink answers 503: retries pile up) or `closed` (connection refused). */
  backlogSink: process.env.BENCH_BACKLOG_SINK === 'closed' ? ('closed' as const) : ('503' as const),
  rssLimitMb: 300,
};
