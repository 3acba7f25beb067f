export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

export interface ScenarioReport {
  name: string;
  verdicts: Verdict[];
  /** Everything measured, for BENCH_JSON. */
  data: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  description: string;
  run(): Promise<ScenarioReport>;
}
