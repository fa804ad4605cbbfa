import { constants as fsConstants, fstatSync, openSync } from 'node:fs';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import sonicBoom, { type SonicBoom as SonicBoomStream, type SonicBoomOpts } from 'sonic-boom';

// A CommonJS module: at run time the default import is the constructor itself.
const SonicBoom = sonicBoom as unknown as new (options: SonicBoomOpts) => SonicBoomStream;

export type { Logger };

/** The `service` field of every log line. */
export const SERVICE_NAME = 'violentutf-api';

/**
 * Paths whose values never reach a log line: credentials, tokens, key material and cookies,
 * at the top level, one level down and inside request/response headers.
 */
const SECRET_FIELDS = [
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'mfaToken',
  'apiKey',
  'secret',
  'clientSecret',
  'privateKey',
  'key',
  'keys',
  'authorization',
  'cookie',
  'credentials',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((field) => `*.${field}`),
  ...SECRET_FIELDS.map((field) => `*.*.${field}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-metrics-token"]',
  'res.headers["set-cookie"]',
];

/**
 * Errors are logged by name, message, code and stack only: database errors also carry the
 * query parameters and row values (`params`, `detail`), which may hold personal data or secrets.
 */
export function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code, constraint, table, routine } = error as Error & Record<string, unknown>;
  return {
    type: error.name,
    message: error.message,
    ...(code !== undefined ? { code } : {}),
    ...(constraint !== undefined ? { constraint } : {}),
    ...(table !== undefined ? { table } : {}),
    ...(routine !== undefined ? { routine } : {}),
    stack: error.stack,
    ...(error.cause !== undefined ? { cause: serializeError(error.cause) } : {}),
  };
}

/**
 * JSON lines to stdout (or the given destination). Stdout is written asynchronously in 4 KiB
 * batches: synchronous writes were the largest cost per request under load. Graceful shutdown
 * flushes what is buffered; a hard crash may lose the last batch of operational lines (the audit
 * trail, not the log, is the durable record).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: SERVICE_NAME },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
  };
  if (destination) return pino(options, destination);
  return pino(options, stdoutDestination());
}

let sharedStdout: SonicBoomStream | undefined;

/**
 * The process's one stdout destination, shared by every logger it creates: each one of its own would
 * open another descriptor and add another exit listener (a test process builds hundreds of services).
 */
function stdoutDestination(): SonicBoomStream {
  if (sharedStdout) return sharedStdout;
  // A reader that stops reading must not hold the process: give up on a full pipe after 2 s
  // (sonic-boom otherwise retries EAGAIN forever).
  // Retries come every ~100 ms; a longer gap starts a new blocked episode.
  let blockedSinceMs = 0;
  let lastRetryMs = 0;
  // SonicBoom directly, not pino.destination: that one flushes synchronously at exit, which blocks
  // forever on a pipe nobody reads. Graceful shutdown flushes with a deadline (flushLogs) instead.
  const stdout = new SonicBoom({
    fd: stdoutDescriptor(),
    sync: false,
    minLength: 4096,
    // A stalled reader must not grow memory without bound: past 16 MiB queued, lines are dropped.
    maxLength: 16 * 1024 * 1024,
    retryEAGAIN: () => {
      const now = Date.now();
      if (now - lastRetryMs > 500) blockedSinceMs = now;
      lastRetryMs = now;
      return now - blockedSinceMs < 2000;
    },
  });
  // A write given up on (or a closed stdout) drops log lines; it must never crash the service.
  stdout.on('error', () => undefined);
  // A process that ends by running out of work (operator commands) writes out its last lines;
  // once only, so a stalled stdout cannot keep it alive.
  process.once('beforeExit', () => stdout.flush());
  sharedStdout = stdout;
  return stdout;
}

/**
 * When stdout is a pipe, a second, non-blocking descriptor for it: a blocking write to a pipe nobody
 * reads would park a thread-pool thread forever, and process exit waits for every such thread.
 * Non-blocking, a full pipe answers EAGAIN, which the destination retries for 2 s and then drops.
 */
function stdoutDescriptor(): number {
  try {
    if (!fstatSync(1).isFIFO()) return 1;
    return openSync('/proc/self/fd/1', fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_NONBLOCK);
  } catch {
    return 1;
  }
}

/** Writes out buffered lines, waiting at most `timeoutMs` (a stalled stdout must not hold shutdown). */
export function flushLogs(logger: Pick<Logger, 'flush'>, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}


type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * A request's child logger, made only when the request first logs through it. A pino child
 * runs redaction over its bindings when created, which on every request cost more than the
 * health check itself; most requests never log through their child (the access line does not).
 */
class LazyChildLogger {
  #real: Logger | undefined;
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: object,
  ) {}

  private get real(): Logger {
    return (this.#real ??= this.parent.child(this.bindings, this.options));
  }
  get level(): string {
    return this.#real?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.real.level = level;
  }
  child(bindings: Record<string, unknown>, options?: object): Logger {
    return this.real.child(bindings, options);
  }
}
for (const method of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] satisfies LogMethod[]) {
  Object.defineProperty(LazyChildLogger.prototype, method, {
    value(this: { real: Logger }, ...args: unknown[]) {
      const log: (...values: unknown[]) => void = this.real[method];
      log.apply(this.real, args);
    },
  });
}

/** Fastify's childLoggerFactory: per-request loggers created lazily (see LazyChildLogger). */
export const lazyChildLogger = (parent: Logger, bindings: Record<string, unknown>, options: object): Logger =>
  new LazyChildLogger(parent, bindings, options) as unknown as Logger;
