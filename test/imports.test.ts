import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The layering README.md describes (Architecture) is what `npm run lint` checks; this keeps it
// checked by the suite too, so a cycle or an upward import fails where tests are looked at.
describe('src/ import graph', () => {
  it('has no import cycles and every import goes to a lower layer', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/check-imports.mjs']);
    expect(stdout).toMatch(/no cycles, every import downward/);
  });
});
