import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats ships CommonJS with a default export that NodeNext sees as the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const common: Options = {
  // Unknown fields are errors, not silently dropped (DESIGN §9).
  removeAdditional: false,
  allErrors: true,
  useDefaults: true,
  strict: false,
};

/**
 * Two validators: bodies are never coerced ({"prompt":123} must not become "123"), while path
 * and query strings are text by nature and coerced to the declared types.
 */
export function registerValidation(app: FastifyInstance) {
  const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const textAjv = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? bodyAjv : textAjv;
    return ajv.compile(schema);
  });
}
