import { describe, expect, it } from 'vitest';
import { createMetrics, instrumentRunner } from '../../src/observability/index.js';
import { fakeRunner } from '../jobs/fake-runner.js';

describe('dumptruck_alert_reruns_total', () => {
  it('counts every run an alert started (each retry too), and nothing else', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const fake = fakeRunner();
    const run = instrumentRunner(fake.runBackup, { metrics });
    const runs = [
      run({ target: 'app-db', trigger: { kind: 'alert', by: 'B0AWS', detail: 'C0ALERTS/1.1' } }),
      run({ target: 'app-db', trigger: { kind: 'alert', by: 'B0AWS', detail: 'C0ALERTS/1.1 (attempt 2 of 3)' } }),
      run({ target: 'app-db', trigger: { kind: 'slack', by: 'U0ALICE' } }),
    ];
    for (const r of fake.runs) r.succeed();
    await Promise.all(runs);
    const text = await metrics.registry.metrics();
    expect(text).toContain('dumptruck_alert_reruns_total{target="app-db"} 2\n');
  });
});
