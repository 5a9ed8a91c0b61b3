import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { build, type Plugin } from 'esbuild';
import { WORKFLOW_BUNDLE_OPTIONS } from '../worker/create';
import { ENTRY_POINTS } from './lib/entry-points';

/**
 * `npm run build`: the production build in dist/. Each process's entry point is compiled with its
 * own code into one JavaScript file (the packages stay in node_modules), and the workflow code is
 * bundled ahead of time (dist/workflow-bundle.js), which the worker loads instead of bundling it
 * when it starts. The image runs `node dist/<entry>.js` with no TypeScript tooling.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');

/**
 * A package's file named without its extension (`pkg/lib/x_pb`): tsx finds it, Node's ESM loader
 * does not. The import keeps pointing into node_modules, with the extension that file has, when
 * the package lets that name resolve to the same file (a package with an `exports` map keeps its
 * own names).
 */
const packageFilesWithExtensions: Plugin = {
  name: 'package-files-with-extensions',
  setup(b) {
    const require = createRequire(path.join(ROOT, 'package.json'));
    b.onResolve({ filter: /^(@[^/]+\/)?[^./@][^/]*\/.+/ }, (args) => {
      let resolved: string;
      try {
        resolved = require.resolve(args.path);
      } catch {
        return { path: args.path, external: true };
      }
      const ext = path.extname(resolved);
      if (!ext || args.path.endsWith(ext)) return { path: args.path, external: true };
      try {
        if (require.resolve(args.path + ext) === resolved) return { path: args.path + ext, external: true };
      } catch {
        // Not a name the package gives out: keep the one the code used.
      }
      return { path: args.path, external: true };
    });
  },
};

export async function buildProduction(outdir = DIST): Promise<{ files: string[]; workflowBundleBytes: number }> {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRY_POINTS).map(([name, src]) => [name, path.join(ROOT, src)])),
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages load from node_modules as they are (native modules, their own files).
    packages: 'external',
    sourcemap: true,
    // Stack traces name the source files.
    sourcesContent: false,
    logLevel: 'warning',
    plugins: [packageFilesWithExtensions],
    // One file per entry point, no shared chunks: code that finds the project's folders from its
    // own location (import.meta) sees dist/, one level below the root, as it sees its source folder.
  });
  const bundle = await bundleWorkflowCode({
    ...WORKFLOW_BUNDLE_OPTIONS,
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } as never,
  });
  await writeFile(path.join(outdir, 'workflow-bundle.js'), bundle.code);
  return { files: Object.keys(ENTRY_POINTS).map((n) => `${n}.js`), workflowBundleBytes: bundle.code.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const out = await buildProduction(process.argv[2] ? path.resolve(process.argv[2]) : DIST);
  process.stdout.write(
    `built ${out.files.map((f) => `dist/${f}`).join(', ')} and dist/workflow-bundle.js (${(out.workflowBundleBytes / 1024).toFixed(0)} KiB) in ${Date.now() - started} ms\n`,
  );
}
