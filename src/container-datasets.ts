import type { Clock } from './platform/clock.js';
import type { Db } from './platform/db/database.js';
import type { TaxonomyService } from './modules/taxonomies/taxonomy.types.js';
import { createDatasetProbeSource } from './modules/datasets/dataset-probe-source.js';
import { createDatasetsRepo } from './modules/datasets/datasets.repo.js';
import { createDatasetsService } from './modules/datasets/datasets.service.js';

/**
 * Wires datasets (issue 7 §2): the import/preview service behind /datasets, and `probeSource`, the
 * `DatasetProbeSource` a scan's probe selection uses to turn `datasets: [...]` into plan probes.
 */
export function createDatasetsModule(deps: { db: Db; clock: Clock; taxonomy: Pick<TaxonomyService, 'isValidRef'> }) {
  const datasetsRepo = createDatasetsRepo({ db: deps.db });
  return {
    service: createDatasetsService({ db: deps.db, datasetsRepo, taxonomy: deps.taxonomy, clock: deps.clock }),
    probeSource: createDatasetProbeSource({ datasetsRepo }),
  };
}

export type DatasetsModule = ReturnType<typeof createDatasetsModule>;
