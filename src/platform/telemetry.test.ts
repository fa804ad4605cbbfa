import { describe, expect, it } from 'vitest';
import { instrumentationConfig, redactQuery, redactedUrlAttributes } from './telemetry.js';

describe('telemetry redaction', () => {
  it('keeps query parameter names and replaces every value', () => {
    expect(redactQuery('token=abc&limit=5&token=def')).toBe('token=REDACTED&limit=REDACTED&token=REDACTED');
    expect(redactQuery('?code=xyz')).toBe('code=REDACTED');
    expect(redactQuery('')).toBe('');
  });

  it('sets url.query (and url.full with a base) only when there is a query', () => {
    expect(redactedUrlAttributes('/health/live')).toEqual({});
    expect(redactedUrlAttributes(undefined)).toEqual({});
    expect(redactedUrlAttributes('/v1/models?key=sk-secret')).toEqual({ 'url.query': 'key=REDACTED' });
    expect(redactedUrlAttributes('/v1/models?key=sk-secret', 'https://api.example.com')).toEqual({
      'url.query': 'key=REDACTED',
      'url.full': 'https://api.example.com/v1/models?key=REDACTED',
    });
  });

  it('records no headers, disables fs/dns/net, and reduces Redis statements to the command', () => {
    const config = instrumentationConfig();
    const http = config['@opentelemetry/instrumentation-http']!;
    expect(http.headersToSpanAttributes).toEqual({
      server: { requestHeaders: [], responseHeaders: [] },
      client: { requestHeaders: [], responseHeaders: [] },
    });
    expect(config['@opentelemetry/instrumentation-undici']!.headersToSpanAttributes).toEqual({ requestHeaders: [], responseHeaders: [] });
    for (const noisy of ['fs', 'dns', 'net'] as const) expect(config[`@opentelemetry/instrumentation-${noisy}`]!.enabled).toBe(false);
    expect(config['@opentelemetry/instrumentation-ioredis']!.dbStatementSerializer!('set', ['session:abc', 'value'])).toBe('set');
    expect(config['@opentelemetry/instrumentation-pg']!.enhancedDatabaseReporting).toBe(false);
  });
});
