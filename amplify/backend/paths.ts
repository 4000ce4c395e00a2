import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: amplify/backend/paths.ts → ../.. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const TABLES_JSON = resolve(REPO_ROOT, 'gateway', 'store', 'tables.json');

/** The functions, their handlers, triggers, environment groups and routes (gateway/lambdas.py reads it too). */
export const FUNCTIONS_JSON = resolve(REPO_ROOT, 'gateway', 'functions.json');

/** What scripts/package-lambdas.sh builds: the project code and its runtime dependencies. */
export const LAMBDA_BUILD_DIR = resolve(REPO_ROOT, 'build', 'lambda');

export const PLACEHOLDER = 'placeholder';

export type LambdaAsset = { kind: 'directory'; path: string } | { kind: 'placeholder' };

/**
 * Where the functions' code comes from, decided explicitly:
 *
 * - `WECARE_LAMBDA_ASSET=placeholder`: a tiny inline stub (synthesis in tests; not deployable);
 * - `WECARE_LAMBDA_ASSET=<dir>`: that directory (relative to the repository root);
 * - unset: build/lambda, which must exist (run scripts/package-lambdas.sh first).
 */
export function lambdaAsset(setting: string | undefined): LambdaAsset {
  const value = (setting ?? '').trim();
  if (value === PLACEHOLDER) {
    return { kind: 'placeholder' };
  }
  const path = value === '' ? LAMBDA_BUILD_DIR : isAbsolute(value) ? value : resolve(REPO_ROOT, value);
  if (!existsSync(resolve(path, 'gateway', 'lambdas.py'))) {
    throw new Error(
      `no Lambda code at ${path} (gateway/lambdas.py missing): run scripts/package-lambdas.sh first, ` +
        `or set WECARE_LAMBDA_ASSET=${PLACEHOLDER} to synthesise with a stub that cannot be deployed`,
    );
  }
  return { kind: 'directory', path };
}
