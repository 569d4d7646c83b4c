import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  // Skeletons are templates (${{ }}), not code until rendered.
  {ignores: ['dist/', 'node_modules/', 'tmp/', 'skeletons/']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        setInterval: 'readonly',
        AbortController: 'readonly',
      },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
)
