/**
 * The SQS queues: bulk-queue (→ bulk-dlq), ai-queue (→ ai-dlq), inbound-dlq, outbound-dlq.
 *
 * inbound-dlq and outbound-dlq are written by the Python side itself (it dead-letters an event it
 * could not process, then dlq-replay replays it through the same code). bulk-dlq also receives what
 * bulk-queue's redrive policy moves after 5 failed receives. ai-queue has its own ai-dlq: its messages
 * (a stored message id) are not outbound sends, so outbound-dlq's replayer must never see them.
 */

import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Deployment } from './environment.js';
import { AI_GENERATE_TIMEOUT, BULK_WORKER_TIMEOUT } from './settings.js';

export const MAX_RECEIVE_COUNT = 5;
/** AWS's advice for a Lambda event source: visibility timeout ≥ 6 × the function's timeout. */
export const VISIBILITY_FACTOR = 6;

export interface Queues {
  bulkQueue: sqs.Queue;
  bulkDlq: sqs.Queue;
  aiQueue: sqs.Queue;
  aiDlq: sqs.Queue;
  inboundDlq: sqs.Queue;
  outboundDlq: sqs.Queue;
}

export function createQueues(scope: Construct, d: Deployment): Queues {
  // No enforceSSL: it would add a QueuePolicy; the SDK calls TLS endpoints anyway.
  const make = (name: string, props: sqs.QueueProps = {}): sqs.Queue =>
    new sqs.Queue(scope, name, {
      queueName: `${d.resourcePrefix}${name}`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      ...props,
    });
  const dlq = (name: string): sqs.Queue => make(name, { retentionPeriod: Duration.days(14) });

  const bulkDlq = dlq('bulk-dlq');
  const aiDlq = dlq('ai-dlq');
  const inboundDlq = dlq('inbound-dlq');
  const outboundDlq = dlq('outbound-dlq');
  const bulkQueue = make('bulk-queue', {
    visibilityTimeout: Duration.seconds(VISIBILITY_FACTOR * BULK_WORKER_TIMEOUT),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: bulkDlq, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
  const aiQueue = make('ai-queue', {
    visibilityTimeout: Duration.seconds(VISIBILITY_FACTOR * AI_GENERATE_TIMEOUT),
    retentionPeriod: Duration.days(4),
    deadLetterQueue: { queue: aiDlq, maxReceiveCount: MAX_RECEIVE_COUNT },
  });
  return { bulkQueue, bulkDlq, aiQueue, aiDlq, inboundDlq, outboundDlq };
}
