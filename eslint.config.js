// Type-aware lint for the whole repository. The rules are the ones that catch real faults in a
// daemon: a promise nobody awaits or catches is an error that vanishes (or an unhandled
// rejection that kills the process), and an async function handed to an event emitter turns
// its failures into exactly that.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['vitest.config.ts', '**/dist/**', '**/node_modules/**', '**/*.js', '**/*.d.ts'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        project: ['./packages/*/tsconfig.json', './hub/tsconfig.json', './hub/ui/tsconfig.json', './agent/tsconfig.json', './cli/tsconfig.json', './test/tsconfig.typecheck.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
);
