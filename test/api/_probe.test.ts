import { test } from 'vitest';
import { Type } from 'typebox';
import { createTestApp } from '../setup/test-app.js';
test('probe', async () => {
  console.log(JSON.stringify(Type.Record(Type.String(), Type.Number())), JSON.stringify(Type.Optional(Type.Object({a: Type.String()}))));
  const t = await createTestApp();
  for (const [m, h] of [['OPTIONS', {}], ['OPTIONS', { origin: 'http://x', 'access-control-request-method': 'GET' }]] as const) {
    const r = await t.app.inject({ method: m, url: '/api/v1/orgs', headers: h });
    console.log(r.statusCode, r.body);
  }
  await t.close();
});
