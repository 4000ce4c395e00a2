/**
 * WECARE.DIGITAL: the Amplify Gen 2 backend (docs/deployment.md explains every part).
 *
 * Stacks: `function` (Amplify's: the 17 functions, the log group, their triggers), `data` (the 11
 * tables and the queues), `api` (the HTTP API), `monitoring` (alarms). The only IAM in the templates is
 * Amplify's own branch linker (AmplifyBranchLinker*, root stack); the functions run as the existing role.
 */

import { defineBackend, secret } from '@aws-amplify/backend';
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SnsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sns from 'aws-cdk-lib/aws-sns';
import { createApi } from './backend/api.js';
import { deploymentOf, functionFactories } from './backend/functions.js';
import { createAlarms } from './backend/monitoring.js';
import { createQueues } from './backend/queues.js';
import { EXISTING, FUNCTIONS, functionEnvironment, hostingSettings, SECRETS } from './backend/settings.js';
import { createTables } from './backend/tables.js';

const backend = defineBackend(functionFactories());
const d = deploymentOf(backend.stack);
const hosting = hostingSettings(process.env);
for (const warning of hosting.warnings) {
  console.warn(`[wecare] warning: ${warning}`);
}

const amplifyFunction = (name: string) => {
  const found = backend[name];
  if (!found) throw new Error(`no function ${name} in the backend`);
  return found;
};
const functions: Record<string, IFunction> = Object.fromEntries(
  FUNCTIONS.map((fn) => [fn.name, amplifyFunction(fn.name).resources.lambda]),
);

// Data: tables named ${TABLE_PREFIX}${LogicalName}, queues ${prefix}<queue>.
const dataStack = backend.createStack('data');
createTables(dataStack, d);
const queues = createQueues(dataStack, d);

// Environment: every variable through Amplify's addEnvironment (a provided function's variables are
// rendered from it), the secrets as secret(): a placeholder and their SSM paths in AMPLIFY_SSM_ENV_CONFIG.
for (const fn of FUNCTIONS) {
  const target = amplifyFunction(fn.name);
  const env = functionEnvironment(fn, d, hosting, {
    tablePrefix: d.resourcePrefix,
    bulkQueueUrl: queues.bulkQueue.queueUrl,
    aiQueueUrl: queues.aiQueue.queueUrl,
    inboundDlqUrl: queues.inboundDlq.queueUrl,
    bulkDlqUrl: queues.bulkDlq.queueUrl,
    outboundDlqUrl: queues.outboundDlq.queueUrl,
  });
  for (const [key, value] of Object.entries(env)) {
    target.addEnvironment(key, value);
  }
  for (const name of SECRETS) {
    target.addEnvironment(name, secret(name));
  }
}

// Triggers, in the functions' stack. Event source mappings (not addEventSource(SqsEventSource), which
// would add a queue policy for the role): the role already may receive from and delete on the queues.
functions['bulk-worker'].addEventSourceMapping('BulkQueue', {
  eventSourceArn: queues.bulkQueue.queueArn,
  batchSize: 1, // one chunk (100 recipients) per invocation: the slowest channel (SMS 5/s) fits 120 s
  reportBatchItemFailures: true,
});
functions['ai-generate-response'].addEventSourceMapping('AiQueue', {
  eventSourceArn: queues.aiQueue.queueArn,
  batchSize: 5,
  reportBatchItemFailures: true,
});
const functionStack = Stack.of(functions['inbound-whatsapp-handler']);
const topic = sns.Topic.fromTopicArn(functionStack, 'EumSocialTopic', EXISTING.topicArn);
functions['inbound-whatsapp-handler'].addEventSource(new SnsEventSource(topic));
new events.Rule(functionStack, 'SendRecoverySchedule', {
  ruleName: `${d.resourcePrefix}send-recovery`,
  description: 'WECARE.DIGITAL: every minute, interrupted sends become unknown and due bulk work runs',
  schedule: events.Schedule.rate(Duration.minutes(1)),
  targets: [new targets.LambdaFunction(functions['send-recovery'], { retryAttempts: 0 })],
});

// HTTP API (auth-middleware authorizes every non-public route) and, on main, base.wecare.digital.
const apiStack = backend.createStack('api');
const { api, domain } = createApi(apiStack, d, functions);

// Alarms → the existing topic.
const monitoringStack = backend.createStack('monitoring');
createAlarms(monitoringStack, d, functions, {
  'inbound-dlq': queues.inboundDlq,
  'bulk-dlq': queues.bulkDlq,
  'outbound-dlq': queues.outboundDlq,
  'ai-dlq': queues.aiDlq,
});

backend.addOutput({
  custom: {
    wecare: {
      environment: d.environment,
      sendMode: d.sendMode,
      tablePrefix: d.resourcePrefix,
      apiEndpoint: api.apiEndpoint,
      ...(domain ? { customDomain: EXISTING.domainName, domainTarget: domain.regionalDomainName } : {}),
    },
  },
});
