import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createLogger } from './logger.js';

const streamOf = (logger: ReturnType<typeof createLogger>) => (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];

describe('logger', () => {
  it('gives every stdout logger of a process one destination and one exit listener', () => {
    const first = createLogger('info');
    const listeners = process.listenerCount('beforeExit');
    const others = Array.from({ length: 20 }, () => createLogger('debug'));
    expect(process.listenerCount('beforeExit')).toBe(listeners);
    for (const logger of others) expect(streamOf(logger)).toBe(streamOf(first));
  });

  it('writes to a destination it is given, not to stdout', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) });
    logger.info({ password: 'hunter2' }, 'hello');
    expect(streamOf(logger)).not.toBe(streamOf(createLogger('info')));
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'hello', password: '[redacted]', service: 'violentutf-api' });
  });
});
