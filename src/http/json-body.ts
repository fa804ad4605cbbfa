import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { AppError } from '../platform/errors.js';

export interface JsonBodyLimits {
  /** Largest accepted body in bytes (413 above). */
  bodyLimitBytes: number;
  /** Deepest accepted nesting of objects and arrays (400 above). */
  maxDepth: number;
}

/**
 * Nesting depth of a JSON text, counted without parsing so a hostile 1 MiB of "[[[[..." is
 * refused in one linear pass instead of recursing through the parser.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 0x5c) index++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) max = Math.max(max, ++depth);
    else if (char === 0x7d || char === 0x5d) depth--;
  }
  return max;
}

/**
 * JSON is the only accepted body type (anything else: 415). Keys that pollute prototypes
 * (__proto__, constructor.prototype) are refused, not silently dropped.
 */
export function registerJsonBody(app: FastifyInstance, limits: JsonBodyLimits) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: limits.bodyLimitBytes },
    (_request, body, done) => {
      const text = body as string;
      if (text.length === 0) {
        done(new AppError(400, 'malformed_json', { detail: 'The body is empty but declared as JSON.' }), undefined);
        return;
      }
      if (jsonDepth(text) > limits.maxDepth) {
        done(new AppError(400, 'json_too_deep', { detail: `JSON nesting deeper than ${limits.maxDepth} is refused.` }), undefined);
        return;
      }
      try {
        done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
      } catch (error) {
        const polluting = error instanceof SyntaxError && /prototype|constructor/i.test(error.message);
        done(
          polluting
            ? new AppError(400, 'forbidden_key', { detail: 'Keys such as "__proto__" and "constructor.prototype" are refused.' })
            : new AppError(400, 'malformed_json', { detail: 'The body is not valid JSON.' }),
          undefined,
        );
      }
    },
  );
}
