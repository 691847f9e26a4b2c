// ESLint (flat config) for the review page's script, src/portkit/reports/review/assets/review.js,
// which tests/test_review_js_lint.py runs: the recommended rules, in a browser.
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  js.configs.recommended,
  {
    files: ["src/portkit/reports/review/assets/**/*.js"],
    languageOptions: {
      // what the script uses: ES5 statements, ES2015's Set and Map, ES2019's `catch {}`; it is
      // inlined as a classic <script>, not a module
      ecmaVersion: 2019,
      sourceType: "script",
      globals: globals.browser,
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
