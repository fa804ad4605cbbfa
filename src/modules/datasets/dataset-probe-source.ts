import { isUuid } from '../../platform/ids.js';
import type { DatasetProbeSource, ExploitComplexity } from '../probes/probe-contract.js';
import type { PlanProbe } from '../scans/scan-contract.js';
import type { DatasetsRepo } from './datasets.repo.js';

const NAME_MAX_LENGTH = 200;

/** The plan probe id of a dataset item: lower-case, dotted, within PROBE_ID_PATTERN (a UUID is 36 characters). */
export const datasetProbeId = (datasetId: string, ordinal: number) => `dataset.${datasetId.toLowerCase()}.${ordinal}`;
/** Items of one dataset form one family: findings deduplicate per family and objective. */
export const datasetFamily = (datasetId: string) => `dataset.${datasetId.toLowerCase()}`;

/**
 * Dataset items as plan probes (issue 7 §2, `DatasetProbeSource`): every item of the organisation's
 * live datasets among `datasetIds`, in the order asked, items by ordinal. Unknown, deleted and other
 * organisations' ids come back in `missing`, undistinguished (a scan answers them alike).
 */
export function createDatasetProbeSource(deps: { datasetsRepo: Pick<DatasetsRepo, 'findDatasets' | 'listItems'> }): DatasetProbeSource {
  return {
    async probesOf(orgId, datasetIds) {
      const wanted = [...new Set(datasetIds)];
      const found = new Map((await deps.datasetsRepo.findDatasets(orgId, wanted.filter(isUuid))).map((dataset) => [dataset.id, dataset]));
      const missing = wanted.filter((id) => !found.has(id));
      const probes: PlanProbe[] = [];
      for (const id of wanted) {
        const dataset = found.get(id);
        if (!dataset) continue;
        const complexity = (dataset.defaults as { complexity?: ExploitComplexity }).complexity ?? 'medium';
        for (const item of await deps.datasetsRepo.listItems(orgId, dataset.id, undefined, undefined)) {
          probes.push({
            id: datasetProbeId(dataset.id, item.ordinal),
            // Cut by code points: a cut surrogate pair would be a lone surrogate.
            name: Array.from(`${dataset.name} #${item.itemKey}`).slice(0, NAME_MAX_LENGTH).join(''),
            category: item.category,
            prompt: item.prompt,
            ...(item.objective === null ? {} : { objective: item.objective }),
            source: { kind: 'dataset', datasetId: dataset.id, itemId: item.id },
            family: datasetFamily(dataset.id),
            taxonomy: [...item.taxonomy],
            complexity,
          });
        }
      }
      return { probes, missing };
    },
  };
}
