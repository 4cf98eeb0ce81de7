// The container build file and the Kubernetes manifests, checked offline against the server they deploy: probe
// paths exist, the grace period covers preStop + the drain, the HPA scales on a metric /metrics exposes, every
// environment variable is one the server reads.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { parseAllDocuments } from 'yaml';
import { helpText } from '../src/server/cli-options.ts';
import { ApiSpec } from '../src/server/openapi.ts';
import { startServer } from './helpers/server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = `${root}deploy/kubernetes/`;
// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML, checked field by field below.
type Doc = any;
const load = (file: string): Doc[] =>
  parseAllDocuments(readFileSync(`${dir}${file}`, 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
    return d.toJS();
  });

describe('Kubernetes manifests', { timeout: 30_000 }, () => {
  const kustomization = load('kustomization.yaml')[0];
  const docs = (kustomization.resources as string[]).flatMap(load);
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deployment] = byKind('Deployment');
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  const env = new Map<string, string | undefined>(container.env.map((e: Doc) => [e.name, e.value]));

  test('kustomization lists every manifest file; each parses', () => {
    for (const file of kustomization.resources) assert.ok(existsSync(`${dir}${file}`), file);
    assert.deepEqual(byKind('Deployment').length, 1);
    assert.deepEqual(byKind('Service').length, 1);
    assert.deepEqual(byKind('HorizontalPodAutoscaler').length, 1);
  });

  test('probes hit the spec’s liveness and readiness operations on the container port', () => {
    const paths = ApiSpec.default().document.paths as Record<string, { get?: { operationId: string } }>;
    const probes = {
      startupProbe: 'getReadiness',
      livenessProbe: 'getLiveness',
      readinessProbe: 'getReadiness',
    } as const;
    const portName = container.ports[0].name;
    for (const [probe, operationId] of Object.entries(probes)) {
      const http = container[probe].httpGet;
      assert.equal(paths[http.path]?.get?.operationId, operationId, probe);
      assert.equal(http.port, portName, probe);
      assert.ok(container[probe].timeoutSeconds >= 6, `${probe}: above the server's 5 s worker ping`);
    }
    assert.equal(String(container.ports[0].containerPort), env.get('PORT'));
    assert.equal(env.get('HOST'), '0.0.0.0');
  });

  test('the grace period outlasts preStop plus the shutdown timeout', () => {
    const [cmd, seconds] = container.lifecycle.preStop.exec.command;
    assert.equal(cmd, 'sleep');
    const shutdown = Number(env.get('UNITOK_SHUTDOWN_TIMEOUT_SECONDS'));
    assert.ok(shutdown > 0);
    assert.ok(
      pod.terminationGracePeriodSeconds > Number(seconds) + shutdown,
      `${pod.terminationGracePeriodSeconds} s > ${seconds} s preStop + ${shutdown} s drain`,
    );
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });

  test('every environment variable is one the server reads', () => {
    const help = helpText();
    for (const name of env.keys()) assert.match(help, new RegExp(`\\[${name}\\]`), name);
  });

  test('resources, a non-root read-only container, the model volume read-only', () => {
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
    assert.ok(container.resources.limits.memory);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    const models = container.volumeMounts.find((m: Doc) => m.name === 'models');
    assert.equal(models.readOnly, true);
    assert.ok(env.get('UNITOK_MODEL')?.startsWith(models.mountPath));
    const claim = pod.volumes.find((v: Doc) => v.name === 'models').persistentVolumeClaim.claimName;
    assert.ok(byKind('PersistentVolumeClaim').some((p) => p.metadata.name === claim));
  });

  test('the Service selects the pods and targets the named port', () => {
    const [service] = byKind('Service');
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v);
    assert.deepEqual(deployment.spec.selector.matchLabels, service.spec.selector);
    assert.equal(service.spec.ports[0].targetPort, container.ports[0].name);
  });

  test('the HPA scales the Deployment on a queue metric that /metrics exposes, as prometheus-adapter names it', async () => {
    const [hpa] = byKind('HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
    assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
    const metric = hpa.spec.metrics[0].pods.metric.name;
    const adapter = load('prometheus-adapter-rules.yaml')[0].rules.custom;
    assert.ok(adapter.some((r: Doc) => r.name.as === metric && r.seriesQuery.startsWith(`${metric}{`)));
    const annotations = deployment.spec.template.metadata.annotations;
    assert.equal(annotations['prometheus.io/path'], '/metrics');
    assert.equal(annotations['prometheus.io/port'], env.get('PORT'));
    const { app } = await startServer();
    try {
      const text = (await request(app.server).get('/metrics')).text;
      assert.match(text, new RegExp(`^# TYPE ${metric} gauge$`, 'm'));
    } finally {
      await app.close();
    }
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(`${root}Dockerfile`, 'utf8');
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));

  test('multi-stage, non-root, runs src/main.ts, exposes the port the manifests use', () => {
    assert.ok(lines.filter((l) => l.startsWith('FROM ')).length >= 2, 'multi-stage');
    const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
    assert.ok(user && !/root|\b0\b/.test(user), 'runs as non-root');
    assert.match(text, /^CMD \["node", "--import", "tsx", "src\/main\.ts"\]$/m);
    assert.ok(existsSync(`${root}src/main.ts`));
    assert.match(text, /^EXPOSE 8000$/m);
    assert.match(text, /npm ci --omit=dev/);
    assert.match(text, /\/health\/live/);
    for (const copied of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const path of copied[1].split(' ')) assert.ok(existsSync(`${root}${path}`), `COPY ${path}`);
    }
  });
});
