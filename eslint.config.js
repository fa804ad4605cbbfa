import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.cache/', 'data/', 'bench/results/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  security.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bench/*.mjs', '.ci/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      // Object-key lookups on typed records are the normal case in TypeScript; the rule cannot tell them apart.
      'security/detect-object-injection': 'off',
    },
  },
  {
    // Fastify plugins must return a promise even when they only register routes synchronously.
    files: ['src/**/*.routes.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // Operator-side code opens paths from configuration (DATA_DIR, key files, POLICY_FILE), never
    // from requests; modules and http/ keep the rule, where request input could reach a path.
    files: ['src/config/**', 'src/platform/**', 'src/ops/**', 'src/modules/users/bootstrap.service.ts'],
    rules: { 'security/detect-non-literal-fs-filename': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      // Parsed JSON bodies are typed by assertion in tests; that is the point of the assertion.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Asymmetric matchers (expect.any, expect.stringContaining) are typed any by vitest.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Tests build paths from temp dirs and fixtures they create themselves.
      'security/detect-non-literal-fs-filename': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
