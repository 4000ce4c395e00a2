/**
 * Branch → environment: the one place that decides where a deployment stands (requirement 10).
 *
 * Pure (no CDK, no process.env): backend.ts passes the branch and the Amplify Hosting variables in.
 *
 *   main, hotfix/*   → production, SEND_MODE from the branch variable (default LIVE)
 *   release/*        → staging,    DRY_RUN always
 *   feature/*        → preview,    DRY_RUN always
 *   anything else    → preview,    DRY_RUN always (a sandbox too)
 *
 * A non-production deployment is never LIVE, whatever SEND_MODE says (10.7); the Python side refuses
 * SEND_MODE=LIVE outside production as well (gateway/config.py), so both ends hold the rule.
 */

export type EnvironmentName = 'production' | 'staging' | 'preview';
export type SendMode = 'LIVE' | 'DRY_RUN';
export type BackendType = 'branch' | 'sandbox';

export const SEND_MODES: readonly SendMode[] = ['LIVE', 'DRY_RUN'];

export interface BranchEnvironment {
  environment: EnvironmentName;
  sendMode: SendMode;
}

export interface Deployment extends BranchEnvironment {
  /** The branch (or sandbox) name as Amplify knows it, e.g. `feature/bulk-ui`. */
  branch: string;
  backendType: BackendType;
  /** Lowercase, non-alphanumerics → '-', at most 24 characters (a hash keeps long names unique). */
  slug: string;
  /** `wecare-<slug>-`: the prefix of every physical name of this deployment (tables, queues, functions). */
  resourcePrefix: string;
  /**
   * Only `main` owns the account-wide singletons: the custom domain base.wecare.digital, the log group
   * /base-wecare-digital/common, and the production data (point-in-time recovery, deletion protection,
   * tables retained when the stack goes). Every other deployment refers to the log group by name.
   */
  ownsSharedResources: boolean;
}

const SLUG_MAX = 24;

/** Which environment a branch deploys to, and its send mode; throws on an unknown SEND_MODE value. */
export function branchEnvironment(branch: string, requestedSendMode?: string): BranchEnvironment {
  const requested = parseSendMode(requestedSendMode);
  if (branch === 'main' || branch.startsWith('hotfix/')) {
    return { environment: 'production', sendMode: requested ?? 'LIVE' };
  }
  if (branch.startsWith('release/')) {
    return { environment: 'staging', sendMode: 'DRY_RUN' };
  }
  // feature/* and every branch not named above: preview, never LIVE.
  return { environment: 'preview', sendMode: 'DRY_RUN' };
}

/** `undefined` for unset/empty; the value for LIVE or DRY_RUN; an error for anything else. */
export function parseSendMode(value: string | undefined): SendMode | undefined {
  if (value === undefined || value.trim() === '') {
    return undefined;
  }
  const mode = value.trim();
  if ((SEND_MODES as readonly string[]).includes(mode)) {
    return mode as SendMode;
  }
  throw new Error(`SEND_MODE must be LIVE or DRY_RUN, got ${JSON.stringify(value)}`);
}

/** `feature/Bulk_UI` → `feature-bulk-ui`; long names are cut and end in 6 hex digits of a hash. */
export function branchSlug(branch: string): string {
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug === '') {
    throw new Error(`branch name ${JSON.stringify(branch)} has no letters or digits to name resources by`);
  }
  if (slug.length <= SLUG_MAX) {
    return slug;
  }
  return `${slug.slice(0, SLUG_MAX - 7).replace(/-+$/, '')}-${fnv1a(branch).slice(0, 6)}`;
}

export function deployment(
  branch: string,
  backendType: BackendType,
  requestedSendMode?: string,
): Deployment {
  // A sandbox is a developer's own copy: preview and DRY_RUN (a bad SEND_MODE still fails the synth).
  let env: BranchEnvironment;
  if (backendType === 'sandbox') {
    parseSendMode(requestedSendMode);
    env = { environment: 'preview', sendMode: 'DRY_RUN' };
  } else {
    env = branchEnvironment(branch, requestedSendMode);
  }
  const slug = backendType === 'sandbox' ? branchSlug(`sandbox-${branch}`) : branchSlug(branch);
  return {
    branch,
    backendType,
    environment: env.environment,
    sendMode: env.sendMode,
    slug,
    resourcePrefix: `wecare-${slug}-`,
    ownsSharedResources: backendType === 'branch' && branch === 'main',
  };
}

/** 32-bit FNV-1a as 8 hex digits: a short, stable, dependency-free hash for names. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
