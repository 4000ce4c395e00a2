/**
 * The HTTP API: one route per route of gateway/functions.json, each sent to the function that serves it
 * there (gateway/lambdas.py answers 404 for any other); auth-middleware is the Lambda authorizer of every
 * non-public route.
 *
 * All HTTP functions run the same FastAPI app (gateway.lambdas via Mangum), so a route reaching a
 * function still passes the app's own authentication and permission table; the routes only decide
 * which function (memory, timeout, metrics, alarms) serves which part of the API. No catch-all: a path
 * the app does not have is API Gateway's 404 and invokes nothing.
 */

import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { Deployment } from './environment.js';
import { EXISTING, FUNCTIONS, type FunctionSpec } from './settings.js';

type Method = 'ANY' | 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteSpec {
  method: Method;
  path: string;
  fn: string;
  /** Public routes skip the authorizer: sign-in (the app answers it) and the liveness probe. */
  public?: boolean;
}

export const AUTHORIZER_CACHE_SECONDS = 300;

/**
 * Routes of the app that are not on the HTTP API: inbound events arrive through the SNS subscription
 * (the webhooks stay for the embedded default), and /metrics is scraped inside the embedded default.
 */
export const NOT_EXPOSED: ReadonlySet<string> = new Set([
  'POST /webhooks/sns',
  'GET /webhooks/meta',
  'POST /webhooks/meta',
  'GET /metrics',
]);

/** Routes without the authorizer: sign-in (the app answers it) and the liveness probe. */
export const PUBLIC: ReadonlySet<string> = new Set(['GET /api/auth/config', 'POST /api/auth/login', 'GET /healthz']);

/** Every route gateway/functions.json gives a function, to that function, except NOT_EXPOSED. */
export function routesOf(functions: readonly FunctionSpec[] = FUNCTIONS): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (const fn of functions) {
    for (const route of fn.routes) {
      if (NOT_EXPOSED.has(route)) continue;
      const [method, path] = route.split(' ', 2) as [Method, string];
      if (!(method in apigwv2.HttpMethod)) throw new Error(`${fn.name}: unknown method in ${route}`);
      out.push({ method, path, fn: fn.name, ...(PUBLIC.has(route) ? { public: true } : {}) });
    }
  }
  return out;
}

export const ROUTES: readonly RouteSpec[] = routesOf();

export interface Api {
  api: apigwv2.HttpApi;
  domain?: apigwv2.DomainName;
}

export function createApi(scope: Construct, d: Deployment, functions: Record<string, IFunction>): Api {
  const lookup = (name: string): IFunction => {
    const fn = functions[name];
    if (!fn) throw new Error(`route to unknown function ${name}`);
    return fn;
  };
  // Only main maps base.wecare.digital: a custom domain name exists once per account and region.
  const domain = d.ownsSharedResources
    ? new apigwv2.DomainName(scope, 'Domain', {
        domainName: EXISTING.domainName,
        certificate: acm.Certificate.fromCertificateArn(scope, 'Certificate', EXISTING.certificateArn),
      })
    : undefined;
  const api = new apigwv2.HttpApi(scope, 'HttpApi', {
    apiName: `${d.resourcePrefix}api`,
    description: `WECARE.DIGITAL API (${d.environment}, ${d.branch})`,
    createDefaultStage: true,
  });
  if (domain && api.defaultStage) {
    new apigwv2.ApiMapping(scope, 'DomainMapping', { api, domainName: domain, stage: api.defaultStage });
  }
  const authorizer = new HttpLambdaAuthorizer('CognitoJwt', lookup('auth-middleware'), {
    authorizerName: `${d.resourcePrefix}auth-middleware`,
    responseTypes: [HttpLambdaResponseType.SIMPLE], // payload format 2.0, {"isAuthorized": bool}
    identitySource: ['$request.header.Authorization'],
    resultsCacheTtl: Duration.seconds(AUTHORIZER_CACHE_SECONDS),
  });
  const integrations = new Map<string, HttpLambdaIntegration>();
  const integration = (name: string): HttpLambdaIntegration => {
    let found = integrations.get(name);
    if (!found) {
      found = new HttpLambdaIntegration(`Integration-${name}`, lookup(name));
      integrations.set(name, found);
    }
    return found;
  };
  for (const route of ROUTES) {
    api.addRoutes({
      path: route.path,
      methods: [apigwv2.HttpMethod[route.method]],
      integration: integration(route.fn),
      ...(route.public ? {} : { authorizer }),
    });
  }
  return domain ? { api, domain } : { api };
}
