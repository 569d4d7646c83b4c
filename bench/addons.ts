// Add-ons on the proving ground (real Crossplane and Argo CD), measured (npm run bench:addons):
//  1. kplat's own time in `addons:create`, outside its two waits (Crossplane's provisioning
//     and the app's restart), median of 3, and the API requests it makes;
//  2. `kplat addons --all` over 20 add-ons of 5 apps and over 200 add-ons of 50 apps, side by
//     side: the API requests (the same number, whatever the count) and the time.
import * as k8s from '@kubernetes/client-node'
import {applyDocuments} from '../test/ground/cluster.js'
import {median, requests, startBench} from './harness.js'

const {ground, kplat} = await startBench('addons')

try {
  const admin = ground.cluster.adminConfig()
  // 1. addons:create, three times on one app.
  const app = `bench-addons-${Date.now().toString(36)}`
  await kplat(['create', app, '--no-clone'])
  const owns: number[] = []
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now()
    const {stderr} = await kplat(['addons:create', 'gcs-bucket', '--app', app, '--name', `${app}-b${i}`], {
      KPLAT_DEBUG: '1',
    })
    const total = (Date.now() - t0) / 1000
    const step = (label: RegExp) =>
      Number(new RegExp(`${label.source}.*\\.\\.\\. done \\((\\d+\\.\\d)s\\)`).exec(stderr)?.[1] ?? 0)
    const waits = step(/Waiting for/) + step(/Restarting/)
    owns.push(total - waits)
    console.log(
      `addons:create ${i + 1}: ${total.toFixed(1)} s in all, ${step(/Waiting for/).toFixed(1)} s provisioning, ${step(/Restarting/).toFixed(1)} s for the app's restart, kplat's own time ${(total - waits).toFixed(1)} s, ${requests(stderr)} API requests`,
    )
  }

  console.log(
    `kplat's own time in addons:create: median ${median(owns).toFixed(1)} s (of ${owns.map((o) => o.toFixed(1)).join(', ')})`,
  )

  // 2. addons --all over many add-ons: an XRD of the bench's own with no Composition, so
  // Crossplane composes nothing for its 200 instances, and Applications that Argo CD will
  // not sync (their project does not exist), so only the listing is measured.
  const group = 'bench.kplat.dev'
  await applyDocuments(admin, [
    {
      apiVersion: 'apiextensions.crossplane.io/v2',
      kind: 'CompositeResourceDefinition',
      metadata: {name: `caches.${group}`},
      spec: {
        scope: 'Namespaced',
        group,
        names: {kind: 'Cache', plural: 'caches'},
        versions: [
          {
            name: 'v1',
            served: true,
            referenceable: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {spec: {type: 'object', properties: {sizeMB: {type: 'integer'}}}},
              },
            },
          },
        ],
      },
    },
  ])
  const extensions = admin.makeApiClient(k8s.ApiextensionsV1Api)
  for (let i = 0; ; i++) {
    const crd = await extensions.readCustomResourceDefinition({name: `caches.${group}`}).catch(() => undefined)
    if (crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break
    if (i > 300) throw new Error('the bench XRD was not served')
    await new Promise((r) => setTimeout(r, 100))
  }

  const made = new Set<number>()
  const makeApps = async (count: number) => {
    for (let a = 0; a < count; a++) {
      if (made.has(a)) continue
      made.add(a)
      const name = `bench-list-${a}`
      await applyDocuments(
        admin,
        [
          {apiVersion: 'v1', kind: 'Namespace', metadata: {name}},
          {
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'Application',
            metadata: {
              name,
              namespace: 'argocd',
              labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': name},
            },
            spec: {
              project: 'bench-none',
              source: {repoURL: 'http://127.0.0.1:9/none.git', path: 'chart'},
              destination: {server: 'https://kubernetes.default.svc', namespace: name},
            },
          },
          ...[0, 1, 2, 3].map((i) => ({
            apiVersion: `${group}/v1`,
            kind: 'Cache',
            metadata: {
              name: `cache-${i}`,
              namespace: name,
              labels: {'app.kubernetes.io/managed-by': 'kplat', 'kplat.dev/app': name},
            },
            spec: {sizeMB: 64},
          })),
        ],
        {parallel: false},
      )
    }
  }

  for (const apps of [5, 50]) {
    await makeApps(apps)
    const times: number[] = []
    let count = 0
    let listed = 0
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now()
      const {stdout, stderr} = await kplat(['addons', '--all', '--json'], {KPLAT_DEBUG: '1'})
      times.push(Date.now() - t0)
      count = requests(stderr)
      listed = (JSON.parse(stdout) as Array<{service: string}>).filter((a) => a.service === 'cache').length
    }

    console.log(
      `kplat addons --all over ${listed} add-ons of ${apps} apps: ${count} API requests, median ${median(times)} ms of 5 (${times.join(', ')})`,
    )
  }
} finally {
  await ground.stop()
}
