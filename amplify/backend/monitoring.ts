/**
 * Alarms → the existing SNS topic base-wecare-digital (14.7). CloudWatch alarm actions on SNS need no role.
 *
 * - every function: Errors ≥ 1 and Throttles ≥ 1 in 5 minutes;
 * - every dead-letter queue: ApproximateNumberOfMessagesVisible > 0;
 * - bulk jobs: WecareGateway/bulk_jobs_failed_total ≥ 1 in 5 minutes;
 * - WhatsApp tier: WecareGateway/whatsapp_tier_usage_percent ≥ 80 (13.9).
 *
 * The two custom metrics carry one dimension, TablePrefix = the deployment's TABLE_PREFIX, so a preview
 * branch's failures never wake the production alarms.
 */

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Deployment } from './environment.js';
import { EXISTING, METRICS } from './settings.js';

const PERIOD = Duration.minutes(5);

export function createAlarms(
  scope: Construct,
  d: Deployment,
  functions: Record<string, IFunction>,
  dlqs: Record<string, IQueue>,
): cloudwatch.Alarm[] {
  const topic = sns.Topic.fromTopicArn(scope, 'AlertTopic', EXISTING.topicArn);
  const action = new actions.SnsAction(topic);
  const alarms: cloudwatch.Alarm[] = [];
  const alarm = (id: string, description: string, props: Omit<cloudwatch.AlarmProps, 'alarmName'>): void => {
    const a = new cloudwatch.Alarm(scope, id, {
      alarmName: `${d.resourcePrefix}${id}`,
      alarmDescription: `WECARE.DIGITAL (${d.environment}, ${d.branch}): ${description}`,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...props,
    });
    a.addAlarmAction(action);
    alarms.push(a);
  };

  for (const [name, fn] of Object.entries(functions)) {
    alarm(`${name}-errors`, `${name} raised errors`, {
      metric: fn.metricErrors({ period: PERIOD, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm(`${name}-throttles`, `${name} was throttled`, {
      metric: fn.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
  for (const [name, queue] of Object.entries(dlqs)) {
    alarm(`${name}-not-empty`, `messages are waiting in ${name}`, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
  const custom = (metricName: string, statistic: string): cloudwatch.Metric =>
    new cloudwatch.Metric({
      namespace: METRICS.namespace,
      metricName,
      dimensionsMap: { [METRICS.dimension]: d.resourcePrefix },
      period: PERIOD,
      statistic,
    });
  alarm('bulk-job-failed', 'a bulk job failed', {
    metric: custom(METRICS.bulkJobFailed, 'Sum'),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
  alarm('whatsapp-tier-80-percent', `the WhatsApp tier is ${METRICS.tierAlarmPercent} % used (24 h window)`, {
    metric: custom(METRICS.tierUsagePercent, 'Maximum'),
    threshold: METRICS.tierAlarmPercent,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
  return alarms;
}
