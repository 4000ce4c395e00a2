/**
 * What a branch would deploy as, without synthesising anything:
 *
 *   npx tsx scripts/branch-environment.ts main feature/x          # SEND_MODE from the environment
 *   npx tsx scripts/branch-environment.ts --json '[{"branch":"main","sendMode":"DRY_RUN"}]'
 *
 * Prints one JSON object per case: the deployment (environment, sendMode, slug, resourcePrefix...) or
 * the error the synthesis would stop with. tests/amplify uses the --json form.
 */

import { deployment, type BackendType } from '../backend/environment.js';

interface Case {
  branch: string;
  sendMode?: string;
  backendType?: BackendType;
}

const args = process.argv.slice(2);
const cases: Case[] =
  args[0] === '--json'
    ? (JSON.parse(args[1] ?? '[]') as Case[])
    : args.map((branch) => ({ branch, sendMode: process.env.SEND_MODE }));

const results = cases.map((c) => {
  try {
    return { input: c, deployment: deployment(c.branch, c.backendType ?? 'branch', c.sendMode) };
  } catch (error) {
    return { input: c, error: error instanceof Error ? error.message : String(error) };
  }
});
console.log(JSON.stringify(results, null, 2));
