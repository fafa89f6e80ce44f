// ESLint (flat config), run by `npm run lint`: ESLint's and typescript-eslint's
// recommended rules over the TypeScript and JavaScript of the repository.
// Formatting is Prettier's job (.prettierrc.json), not ESLint's.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  // Generated or installed, not written here (as in .prettierignore).
  globalIgnores([
    'dist/',
    'build/',
    'prebuilds/',
    'reports/',
    'coverage/',
    'bench/results/',
    'docs/bench/',
    'docs/api/',
    '.stryker-tmp/',
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    // An eslint-disable comment that no longer suppresses anything is an error, so none goes stale.
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A name that starts with _ is unused on purpose: `using _held = mutex.acquireSync()`
      // holds a lock to the end of the scope, `for (const _ of messages)` only counts.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_' }],
      // An options interface that extends one other and adds nothing (LockOptions
      // extends AcquireOptions) gives the public API its own documented name.
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    // The scripts, fixtures, benchmarks and configs in JavaScript are CommonJS.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: {
      // require() is how CommonJS imports.
      '@typescript-eslint/no-require-imports': 'off',
      // A CommonJS module's top level is the scope of its wrapper function:
      // `const crypto = require('crypto')` shadows the global, it does not redeclare it.
      'no-redeclare': ['error', { builtinGlobals: false }],
    },
  },
  {
    // Node 20's globals Buffer and performance are getters: ~60 ns a use of
    // Buffer (a third of a Channel receive), ~9 of performance; the modules'
    // exports are plain bindings.
    files: ['lib/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: "import { Buffer } from 'node:buffer' (the global is a getter on Node 20)" },
        {
          name: 'performance',
          message: "import { performance } from 'node:perf_hooks' (the global is a getter on Node 20)",
        },
      ],
    },
  },
  {
    files: ['test/**'],
    languageOptions: { globals: globals.jest },
  },
);
