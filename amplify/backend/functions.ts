/**
 * The 17 Python 3.12 functions, each a custom CDK Function inside defineFunction.
 *
 * Every function runs as the existing role base-wecare-digital, imported immutable (once per stack):
 * the templates create no IAM role or policy, and nothing CDK or Amplify would grant reaches that role.
 * Logs go to /base-wecare-digital/common through the function's logging config (no LogRetention custom
 * resource); the log group is created in the functions' own stack by the deployment that owns it.
 */

import { defineFunction } from '@aws-amplify/backend';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { deployment, type Deployment } from './environment.js';
import { lambdaAsset, PLACEHOLDER } from './paths.js';
import { EXISTING, FUNCTIONS, type FunctionSpec, hostingSettings } from './settings.js';

const ROLE_ID = 'BaseWecareDigitalRole';
const LOG_GROUP_ID = 'CommonLogGroup';

/** The deployment this synthesis is for: the Amplify backend id in the CDK context, else AWS_BRANCH. */
let memo: Deployment | undefined;
export function deploymentOf(scope: Construct): Deployment {
  if (memo === undefined) {
    const type = scope.node.tryGetContext('amplify-backend-type') as string | undefined;
    const name = scope.node.tryGetContext('amplify-backend-name') as string | undefined;
    const backendType = type === 'sandbox' ? 'sandbox' : 'branch';
    const branch = name || (backendType === 'branch' ? process.env.AWS_BRANCH : undefined) || '';
    if (branch === '') {
      throw new Error('no branch: set AWS_BRANCH or the amplify-backend-name context (ampx sets both)');
    }
    memo = deployment(branch, backendType, process.env.SEND_MODE);
  }
  return memo;
}

/** The existing role, imported immutable: grants (Amplify's SSM grant, event sources...) add nothing. */
export function baseRole(scope: Construct): iam.IRole {
  const stack = Stack.of(scope);
  const found = stack.node.tryFindChild(ROLE_ID) as iam.IRole | undefined;
  return found ?? iam.Role.fromRoleArn(stack, ROLE_ID, EXISTING.roleArn, { mutable: false });
}

/** /base-wecare-digital/common: created (30 days) by the owner deployment, referred to by name elsewhere. */
export function commonLogGroup(scope: Construct, d: Deployment): logs.ILogGroup {
  const stack = Stack.of(scope);
  const found = stack.node.tryFindChild(LOG_GROUP_ID) as logs.ILogGroup | undefined;
  if (found) return found;
  if (d.ownsSharedResources) {
    return new logs.LogGroup(stack, LOG_GROUP_ID, {
      logGroupName: EXISTING.logGroupName,
      retention: logs.RetentionDays.ONE_MONTH, // LOG_RETENTION_DAYS (14.6: at least 30 days)
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
  return logs.LogGroup.fromLogGroupName(stack, LOG_GROUP_ID, EXISTING.logGroupName);
}

/** The marker a placeholder function's inline code carries (the tests look for it). */
export const PLACEHOLDER_MARKER = `WECARE_LAMBDA_ASSET=${PLACEHOLDER}`;

let sharedCode: lambda.Code | undefined;
function code(): lambda.Code {
  sharedCode ??= makeCode();
  return sharedCode;
}

function makeCode(): lambda.Code {
  const asset = lambdaAsset(process.env.WECARE_LAMBDA_ASSET);
  if (asset.kind === 'placeholder') {
    return lambda.Code.fromInline(
      `# ${PLACEHOLDER_MARKER}: synthesised without the application code; not deployable.\n` +
        '# Build it with scripts/package-lambdas.sh and synthesise without WECARE_LAMBDA_ASSET.\n',
    );
  }
  return lambda.Code.fromAsset(asset.path);
}

function createFunction(scope: Construct, fn: FunctionSpec): lambda.Function {
  const d = deploymentOf(scope);
  const hosting = hostingSettings(process.env);
  return new lambda.Function(scope, fn.name, {
    functionName: `${d.resourcePrefix}${fn.name}`,
    description: `WECARE.DIGITAL ${fn.name} (${d.environment}, ${d.branch}): ${fn.description}`.slice(0, 256),
    runtime: lambda.Runtime.PYTHON_3_12,
    architecture: lambda.Architecture.X86_64, // scripts/package-lambdas.sh installs manylinux x86_64 wheels
    handler: fn.handler,
    code: code(),
    role: baseRole(scope),
    timeout: Duration.seconds(fn.timeoutSeconds),
    memorySize: fn.memoryMb,
    logGroup: commonLogGroup(scope, d),
    ...(fn.name === 'bulk-worker' ? { reservedConcurrentExecutions: hosting.bulkWorkerConcurrency } : {}),
  });
}

/** name → defineFunction factory, for defineBackend. */
export function functionFactories(): Record<string, ReturnType<typeof defineFunction>> {
  return Object.fromEntries(
    FUNCTIONS.map((fn) => [fn.name, defineFunction((scope) => createFunction(scope, fn))]),
  );
}
