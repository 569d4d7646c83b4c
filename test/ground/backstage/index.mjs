// The proving ground's Backstage: the real catalog backend from its npm packages (with the
// scaffolder's Template kind), on the loopback address its config names, with an in-memory
// SQLite database. Started and stopped by the ground (test/ground/backstage.ts).
import {createBackend} from '@backstage/backend-defaults'
import catalog from '@backstage/plugin-catalog-backend'
import templates from '@backstage/plugin-catalog-backend-module-scaffolder-entity-model'

const backend = createBackend()
backend.add(catalog)
backend.add(templates)
backend.start().then(
  () => console.log('backstage ready'),
  (error) => {
    console.error('backstage did not start', error)
    process.exit(1)
  },
)
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => backend.stop().finally(() => process.exit(0)))
