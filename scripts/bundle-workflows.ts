import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../worker/create';

/** `npm run check`: bundle the workflow code as the worker would, so a bad import fails here. */
const started = Date.now();
const bundle = await bundleWorkflowCode({
  ...WORKFLOW_BUNDLE_OPTIONS,
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error } as never,
});
process.stdout.write(`workflow bundle ok: ${(bundle.code.length / 1024).toFixed(0)} KiB in ${Date.now() - started} ms\n`);
