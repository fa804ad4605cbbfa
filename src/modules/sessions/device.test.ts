import { describe, expect, it } from 'vitest';
import { deviceSummary } from './device.js';

describe('deviceSummary', () => {
  it('names the browser family and system, never the full User-Agent', () => {
    expect(deviceSummary('Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0')).toBe('Firefox on Linux');
    expect(deviceSummary('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0')).toBe('Edge on Windows');
    expect(deviceSummary('Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1')).toBe('Safari on iOS');
    expect(deviceSummary('curl/8.5.0')).toBe('curl');
    expect(deviceSummary(undefined)).toBe('Unknown device');
  });

  it('stays bounded for hostile input', () => {
    const summary = deviceSummary(`${'x'.repeat(100_000)} Firefox/1`);
    expect(summary.length).toBeLessThanOrEqual(40);
  });
});
