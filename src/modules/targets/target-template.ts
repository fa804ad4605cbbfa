import { JSONPath } from 'jsonpath-plus';

/**
 * HTTP targets' request templates and response extraction (DESIGN §9). A template is a parsed JSON
 * value; placeholders are replaced inside its string leaves and the result is serialised once, so a
 * prompt is always one JSON string: quotes, newlines or `"}` in it cannot add fields.
 */

export const TEMPLATE_MAX_BYTES = 64 * 1024;
export const TEMPLATE_MAX_DEPTH = 16;
const PROMPT = '{{prompt}}';
const SESSION = '{{sessionId}}';

export interface TemplateValues {
  prompt: string;
  sessionId: string;
}

/** Why a template is refused (shown to whoever configures the target). */
export function checkTemplate(template: unknown): string | undefined {
  let serialised: string | undefined;
  try {
    serialised = JSON.stringify(template);
  } catch {
    return 'bodyTemplate must be a JSON value.';
  }
  if (serialised === undefined) return 'bodyTemplate must be a JSON value.';
  if (Buffer.byteLength(serialised, 'utf8') > TEMPLATE_MAX_BYTES) return `bodyTemplate is over ${TEMPLATE_MAX_BYTES} bytes.`;
  if (depthOf(template) > TEMPLATE_MAX_DEPTH) return `bodyTemplate nests deeper than ${TEMPLATE_MAX_DEPTH} levels.`;
  if (!serialised.includes(PROMPT)) return 'bodyTemplate must hold {{prompt}} in a string value.';
  return undefined;
}

function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

const PLACEHOLDERS = /(\{\{prompt\}\}|\{\{sessionId\}\})/;

// One pass over the template's own text: a prompt holding `{{sessionId}}`, `$&` or `$1` stays literal
// (a second replacement over filled text, or String.replace patterns, would rewrite it).
const fillString = (text: string, values: TemplateValues): string =>
  text
    .split(PLACEHOLDERS)
    .map((part) => (part === PROMPT ? values.prompt : part === SESSION ? values.sessionId : part))
    .join('');

/** A new value with every string leaf filled; object keys are copied as they are, never filled. */
export function fillTemplate(template: unknown, values: TemplateValues): unknown {
  if (typeof template === 'string') return fillString(template, values);
  if (Array.isArray(template)) return template.map((item) => fillTemplate(item, values));
  if (template !== null && typeof template === 'object') {
    const filled: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(template)) {
      // defineProperty: a "__proto__" key in a template stays a plain own field.
      Object.defineProperty(filled, key, { value: fillTemplate(item, values), enumerable: true, writable: true, configurable: true });
    }
    return filled;
  }
  return template;
}

export interface Extraction {
  text: string | null;
  error?: string;
}

/**
 * The answer at `path` in a JSON body, with script evaluation disabled (jsonpath-plus `eval: false`:
 * filter expressions are refused instead of run). Without a path the body is the answer.
 */
export function extractText(body: Buffer, path: string | undefined): Extraction {
  const raw = body.toString('utf8');
  if (path === undefined) return { text: raw };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { text: null, error: 'The response is not JSON.' };
  }
  if (json === null || typeof json !== 'object') return { text: null, error: 'The response is not a JSON object or array.' };
  let found: unknown[];
  try {
    found = JSONPath<unknown[]>({ path, json, eval: false, wrap: true });
  } catch {
    return { text: null, error: 'The response path could not be evaluated.' };
  }
  const first = found[0];
  if (typeof first === 'string') return { text: first };
  if (typeof first === 'number' || typeof first === 'boolean') return { text: String(first) };
  return { text: null, error: first === undefined ? 'The response path matched nothing.' : 'The response path matched a value that is not text.' };
}

/**
 * Whether a JSONPath is usable: no parentheses at all (every script form, `?(...)` and `(...)`, needs
 * them, and refusing them up front beats finding out on the first response), and it parses.
 */
export function checkResponsePath(path: string): string | undefined {
  const refused = 'responsePath is not a JSONPath this service evaluates (no script expressions).';
  if (/[()]/.test(path)) return refused;
  try {
    JSONPath({ path, json: {}, eval: false, wrap: true });
    return undefined;
  } catch {
    return refused;
  }
}
