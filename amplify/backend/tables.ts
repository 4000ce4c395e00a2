/**
 * The 11 DynamoDB tables, read from gateway/store/tables.json at synth time (the one definition the
 * SQLite and DynamoDB adapters and the tests read too); nothing about them is restated here.
 */

import { readFileSync } from 'node:fs';
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { Deployment } from './environment.js';
import { TABLES_JSON } from './paths.js';

type KeyType = 'S' | 'N';

export interface KeyDef {
  name: string;
  type: KeyType;
}

export interface IndexDef {
  partitionKey: KeyDef;
  sortKey?: KeyDef;
}

export interface TableDef {
  partitionKey: KeyDef;
  sortKey?: KeyDef;
  ttlAttribute?: string;
  retentionSeconds?: number;
  indexes?: Record<string, IndexDef>;
}

function key(value: unknown, where: string): KeyDef {
  const k = value as Partial<KeyDef> | undefined;
  if (!k || typeof k.name !== 'string' || (k.type !== 'S' && k.type !== 'N')) {
    throw new Error(`${TABLES_JSON}: ${where} must be {"name": string, "type": "S"|"N"}`);
  }
  return { name: k.name, type: k.type };
}

/** The parsed and checked tables.json: logical name → definition. */
export function loadTableDefs(path: string = TABLES_JSON): Record<string, TableDef> {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { tables?: Record<string, Record<string, unknown>> };
  if (!doc.tables || typeof doc.tables !== 'object') {
    throw new Error(`${path}: expected {"tables": {...}}`);
  }
  const out: Record<string, TableDef> = {};
  for (const [name, raw] of Object.entries(doc.tables)) {
    const def: TableDef = { partitionKey: key(raw.partitionKey, `${name}.partitionKey`) };
    if (raw.sortKey !== undefined) def.sortKey = key(raw.sortKey, `${name}.sortKey`);
    if (raw.ttlAttribute !== undefined) {
      if (typeof raw.ttlAttribute !== 'string') throw new Error(`${path}: ${name}.ttlAttribute must be a string`);
      def.ttlAttribute = raw.ttlAttribute;
    }
    const indexes = (raw.indexes ?? {}) as Record<string, Record<string, unknown>>;
    def.indexes = {};
    for (const [indexName, index] of Object.entries(indexes)) {
      def.indexes[indexName] = {
        partitionKey: key(index.partitionKey, `${name}.indexes.${indexName}.partitionKey`),
        ...(index.sortKey !== undefined ? { sortKey: key(index.sortKey, `${name}.indexes.${indexName}.sortKey`) } : {}),
      };
    }
    out[name] = def;
  }
  return out;
}

function attribute(k: KeyDef): dynamodb.Attribute {
  return { name: k.name, type: k.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER };
}

/**
 * One table per definition, named `${TABLE_PREFIX}${LogicalName}`; on demand, SSE with the AWS owned
 * key (the default), TTL where the JSON names one. Production (`main`) data gets point-in-time recovery,
 * deletion protection and survives the stack; a preview/staging/hotfix branch's tables go with it.
 */
export function createTables(scope: Construct, d: Deployment): Record<string, dynamodb.Table> {
  const tables: Record<string, dynamodb.Table> = {};
  const production = d.ownsSharedResources;
  for (const [name, def] of Object.entries(loadTableDefs())) {
    const table = new dynamodb.Table(scope, name, {
      tableName: `${d.resourcePrefix}${name}`,
      partitionKey: attribute(def.partitionKey),
      ...(def.sortKey ? { sortKey: attribute(def.sortKey) } : {}),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      ...(def.ttlAttribute ? { timeToLiveAttribute: def.ttlAttribute } : {}),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: production },
      deletionProtection: production,
      removalPolicy: production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    for (const [indexName, index] of Object.entries(def.indexes ?? {})) {
      table.addGlobalSecondaryIndex({
        indexName,
        partitionKey: attribute(index.partitionKey),
        ...(index.sortKey ? { sortKey: attribute(index.sortKey) } : {}),
        projectionType: dynamodb.ProjectionType.ALL,
      });
    }
    tables[name] = table;
  }
  return tables;
}
