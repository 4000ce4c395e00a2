/**
 * What the backend is made of, as plain data: the existing AWS resources it refers to, the 17 functions
 * and the environment variables each one gets. No CDK here, so it reads as a specification.
 *
 * The values of the group variables are the defaults of gateway/config.py's Settings (the pytest of the
 * backend compares them), so the Python side and the templates cannot drift apart silently.
 */

import { readFileSync } from 'node:fs';
import type { Deployment } from './environment.js';
import { FUNCTIONS_JSON } from './paths.js';

export const ACCOUNT = '809904170947';
export const REGION = 'us-east-1';

/** Existing resources: referenced, never created (requirement 11.7). */
export const EXISTING = {
  roleArn: `arn:aws:iam::${ACCOUNT}:role/base-wecare-digital`,
  topicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:base-wecare-digital`,
  certificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/9df65f48-cdff-4f45-8e6d-f33c8c0beb92`,
  domainName: 'base.wecare.digital',
  userPoolId: 'us-east-1_CC9u1fYh6',
  logGroupName: '/base-wecare-digital/common',
} as const;

/**
 * Custom CloudWatch metrics the Python side publishes (EMF; gateway/metrics.py EMF_NAMESPACE and the
 * BULK_JOBS_FAILED / TIER_USAGE_PERCENT names, which the backend's tests compare with these), each with the
 * one dimension TablePrefix = the deployment's TABLE_PREFIX.
 */
export const METRICS = {
  namespace: 'WecareGateway',
  dimension: 'TablePrefix',
  bulkJobFailed: 'bulk_jobs_failed_total',
  tierUsagePercent: 'whatsapp_tier_usage_percent',
  tierAlarmPercent: 80,
} as const;

export type Group = 'messaging' | 'storage' | 'bulk' | 'ai';
export type Trigger = 'http' | 'authorizer' | 'sns' | 'sqs' | 'schedule';

export interface FunctionSpec {
  name: string;
  handler: string;
  description: string;
  groups: readonly Group[];
  trigger: Trigger;
  /** "METHOD /path/{segment}": the API routes this function serves (gateway/functions.json). */
  routes: readonly string[];
  timeoutSeconds: number;
  memoryMb: number;
}

/** API Gateway gives an integration at most 30 s; the HTTP functions stop a second before. */
const HTTP_TIMEOUT = 29;
export const BULK_WORKER_TIMEOUT = 120;
export const AI_GENERATE_TIMEOUT = 60;

/** What only the deployment decides per function (the rest is in gateway/functions.json). */
const SIZING: Record<string, { description: string; timeoutSeconds?: number; memoryMb?: number }> = {
  'auth-middleware': { description: 'JWT validation (API authorizer); identity, users, policies, config routes' },
  'contacts-create': { description: 'Create a contact with opt-in defaults' },
  'contacts-read': { description: 'Retrieve contact details' },
  'contacts-update': { description: 'Update contact information and opt-in status' },
  'contacts-delete': { description: 'Soft-delete a contact' },
  'contacts-search': { description: 'Search contacts by name, phone or email' },
  'inbound-whatsapp-handler': { description: 'WhatsApp events from the EUM Social SNS topic', timeoutSeconds: 60 },
  'outbound-whatsapp': { description: 'Send WhatsApp (and POST /api/messages, any channel); message history' },
  'outbound-sms': { description: 'Send SMS (POST /api/channels/sms/messages)' },
  'outbound-email': { description: 'Send e-mail (POST /api/channels/email/messages)' },
  'bulk-job-create': { description: 'Create and validate bulk jobs' },
  'bulk-worker': { description: 'Process bulk-queue chunks', timeoutSeconds: BULK_WORKER_TIMEOUT, memoryMb: 1024 },
  'bulk-job-control': { description: 'Bulk job status, pause, resume, cancel, reports' },
  'dlq-replay': { description: 'List and replay dead-lettered messages' },
  'ai-query-kb': { description: 'AI suggestions on demand, approvals and feedback' },
  'ai-generate-response': { description: 'AI suggestions from ai-queue', timeoutSeconds: AI_GENERATE_TIMEOUT },
  'send-recovery': {
    description: 'Every minute: interrupted sends become unknown (never resent); due, released and deferred bulk work',
    timeoutSeconds: 60,
  },
};

const GROUPS: readonly Group[] = ['messaging', 'storage', 'bulk', 'ai'];

/** The trigger that decides a function's event source; "http" and "invoke" need none of their own. */
function primaryTrigger(name: string, triggers: readonly string[]): Trigger {
  for (const kind of ['authorizer', 'sns', 'sqs', 'schedule'] as const) {
    if (triggers.some((t) => t === kind || t.startsWith(`${kind}:`))) return kind;
  }
  if (triggers.includes('http')) return 'http';
  throw new Error(`${FUNCTIONS_JSON}: ${name} has no trigger this backend knows (${triggers.join(', ')})`);
}

export function loadFunctions(path: string = FUNCTIONS_JSON): FunctionSpec[] {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as {
    functions?: Record<string, { handler: string; triggers: string[]; groups: string[]; routes: string[] }>;
  };
  if (!doc.functions) throw new Error(`${path}: no "functions" object`);
  return Object.entries(doc.functions).map(([name, spec]) => {
    const sizing = SIZING[name];
    if (!sizing) throw new Error(`${path}: ${name} has no sizing in amplify/backend/settings.ts`);
    const groups = spec.groups.map((g) => {
      if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`${path}: ${name}: unknown group ${g}`);
      return g as Group;
    });
    return {
      name,
      handler: spec.handler,
      description: sizing.description,
      groups,
      trigger: primaryTrigger(name, spec.triggers),
      routes: spec.routes,
      timeoutSeconds: sizing.timeoutSeconds ?? HTTP_TIMEOUT,
      memoryMb: sizing.memoryMb ?? 512,
    };
  });
}

/** The 16 functions of the requirements' "Lambda Function List", then the scheduled send-recovery. */
export const FUNCTIONS: readonly FunctionSpec[] = loadFunctions();

/** Group variables: exactly the requirements' "Lambda Environment Variables Configuration". */
export const GROUP_ENV: Record<Group, Record<string, string>> = {
  messaging: {
    WHATSAPP_PHONE_NUMBER_ID_1: 'phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54',
    WHATSAPP_PHONE_NUMBER_ID_2: 'phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06',
    SMS_POOL_ID: 'pool-6fbf5a5f390d4eeeaa7dbae39d78933e',
    SES_SENDER_EMAIL: 'one@wecare.digital',
    SES_SENDER_NAME: 'WECARE.DIGITAL',
  },
  storage: {
    MEDIA_BUCKET: 'auth.wecare.digital',
    MEDIA_INBOUND_PREFIX: 'whatsapp-media/whatsapp-media-incoming/',
    MEDIA_OUTBOUND_PREFIX: 'whatsapp-media/whatsapp-media-outgoing/',
  },
  bulk: {
    REPORT_BUCKET: 'stream.wecare.digital',
    REPORT_PREFIX: 'base-wecare-digital/reports/',
    BULK_CONFIRMATION_THRESHOLD: '20',
  },
  ai: {
    BEDROCK_KB_ID: 'FZBPKGTOYE',
    BEDROCK_AGENT_ID: 'HQNT0JXN8G',
    // BEDROCK_AGENT_ALIAS_ID comes from the Amplify Hosting branch variable (see hostingEnv below).
    BEDROCK_FOUNDATION_MODEL: 'amazon.nova-pro-v1:0',
  },
};

/** Secrets: Amplify secret() → SSM; the function sees a placeholder and AMPLIFY_SSM_ENV_CONFIG. */
export const SECRETS = ['WHATSAPP_ACCESS_TOKEN', 'APP_SECRET'] as const;

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;
export const COGNITO_APP_CLIENT_ID_PLACEHOLDER = 'UNSET-set-COGNITO_APP_CLIENT_ID-in-Amplify-Hosting';
/** Bedrock's built-in alias of an agent's working draft; set BEDROCK_AGENT_ALIAS_ID for a versioned one. */
export const BEDROCK_DRAFT_ALIAS = 'TSTALIASID';

export interface HostingEnv {
  SEND_MODE?: string;
  LOG_LEVEL?: string;
  COGNITO_APP_CLIENT_ID?: string;
  COGNITO_DOMAIN?: string;
  BEDROCK_AGENT_ALIAS_ID?: string;
  BULK_WORKER_CONCURRENCY?: string;
}

export interface HostingSettings {
  logLevel: string;
  cognitoAppClientId: string;
  /** The Hosted UI domain (a prefix or https://host); '' leaves the UI without a way to sign in. */
  cognitoDomain: string;
  bedrockAgentAliasId: string;
  bulkWorkerConcurrency: number;
  warnings: string[];
}

/** The Amplify Hosting branch variables the backend reads (18.2, 18.10), validated. */
export function hostingSettings(env: HostingEnv): HostingSettings {
  const warnings: string[] = [];
  const logLevel = (env.LOG_LEVEL ?? '').trim() || 'INFO';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.LOG_LEVEL)}`);
  }
  let cognitoAppClientId = (env.COGNITO_APP_CLIENT_ID ?? '').trim();
  if (cognitoAppClientId === '') {
    cognitoAppClientId = COGNITO_APP_CLIENT_ID_PLACEHOLDER;
    warnings.push('COGNITO_APP_CLIENT_ID is not set: every sign-in will be refused until it is');
  }
  const cognitoDomain = (env.COGNITO_DOMAIN ?? '').trim();
  if (cognitoDomain === '') {
    warnings.push('COGNITO_DOMAIN is not set: the UI cannot sign in through the Cognito Hosted UI until it is');
  }
  const bedrockAgentAliasId = (env.BEDROCK_AGENT_ALIAS_ID ?? '').trim() || BEDROCK_DRAFT_ALIAS;
  const rawConcurrency = (env.BULK_WORKER_CONCURRENCY ?? '').trim() || '2';
  const bulkWorkerConcurrency = Number(rawConcurrency);
  if (!Number.isInteger(bulkWorkerConcurrency) || bulkWorkerConcurrency < 2 || bulkWorkerConcurrency > 5) {
    throw new Error(`BULK_WORKER_CONCURRENCY must be a whole number from 2 to 5, got ${JSON.stringify(rawConcurrency)}`);
  }
  return { logLevel, cognitoAppClientId, cognitoDomain, bedrockAgentAliasId, bulkWorkerConcurrency, warnings };
}

export interface Wiring {
  tablePrefix: string;
  bulkQueueUrl: string;
  aiQueueUrl: string;
  inboundDlqUrl: string;
  bulkDlqUrl: string;
  outboundDlqUrl: string;
}

/**
 * The plain (non-secret) variables of one function: global ones, the wiring every Lambda runtime
 * requires (RUNTIME_REQUIREMENTS in gateway/config.py), then its groups'. AWS_REGION is never set:
 * Lambda reserves it and sets it itself.
 */
export function functionEnvironment(
  fn: FunctionSpec,
  d: Deployment,
  hosting: HostingSettings,
  wiring: Wiring,
): Record<string, string> {
  const env: Record<string, string> = {
    SEND_MODE: d.sendMode,
    LOG_LEVEL: hosting.logLevel,
    ENVIRONMENT: d.environment,
    COGNITO_USER_POOL_ID: EXISTING.userPoolId,
    COGNITO_APP_CLIENT_ID: hosting.cognitoAppClientId,
    COGNITO_DOMAIN: hosting.cognitoDomain,
    TABLE_PREFIX: wiring.tablePrefix,
    BULK_QUEUE_URL: wiring.bulkQueueUrl,
    AI_QUEUE_URL: wiring.aiQueueUrl,
    INBOUND_DLQ_URL: wiring.inboundDlqUrl,
    BULK_DLQ_URL: wiring.bulkDlqUrl,
    OUTBOUND_DLQ_URL: wiring.outboundDlqUrl,
  };
  for (const group of fn.groups) {
    Object.assign(env, GROUP_ENV[group]);
    if (group === 'ai') {
      env.BEDROCK_AGENT_ALIAS_ID = hosting.bedrockAgentAliasId;
    }
  }
  return env;
}
