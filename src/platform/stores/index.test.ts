import { describe, expect, it } from 'vitest';
import { createManualClock } from '../clock.js';
import { createStore } from './index.js';

describe('createStore', () => {
  it('uses the memory adapter in embedded mode, with expiry on the given clock', async () => {
    const clock = createManualClock();
    const store = await createStore({ mode: 'embedded', prefix: 'unit', clock });
    await store.set('k', 'v', 1);
    clock.advance(1_000);
    expect(await store.get('k')).toBeNull();
    await store.close();
  });

  it('refuses server mode without a Redis URL', async () => {
    await expect(createStore({ mode: 'server', prefix: 'unit', clock: createManualClock() })).rejects.toThrow('Redis URL');
  });
});
