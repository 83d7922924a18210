// Makes the bare specifier 'vscode' resolve to the in-memory mock (test/support/vscode.ts) in
// unit tests, for ESM `import` (a module.register() resolve hook) and for CommonJS `require`
// (tsx loads our .ts files as CommonJS, and in Node 20 require() does not consult ESM hooks).
// Both paths load the same file, so tests importing '../support/vscode.ts' share its state.
import { register, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const mockUrl = new URL('./vscode.ts', import.meta.url).href;
const mockPath = fileURLToPath(mockUrl);

register(
  'data:text/javascript,' +
    encodeURIComponent(
      `export async function resolve(specifier, context, next) {
        if (specifier === 'vscode') return { url: ${JSON.stringify(mockUrl)}, shortCircuit: true };
        return next(specifier, context);
      }`,
    ),
);

const Module = createRequire(import.meta.url)('node:module');
const original = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'vscode') return mockPath;
  return original.call(this, request, ...rest);
};
