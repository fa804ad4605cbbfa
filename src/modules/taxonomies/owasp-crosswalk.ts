import type { OwaspData, OwaspEdition } from './taxonomy-files.js';

/**
 * Moves between OWASP editions. Only the adjacent crosswalks are stored (2023 → 2025, 2025 → 2026);
 * each is read both ways, and 2023 ↔ 2026 goes through 2025, naming the intermediate entry in the
 * relation so a reader can see why two entries were linked.
 */

export interface EditionLink {
  id: string;
  relation: string;
}

const ORDER: readonly OwaspEdition[] = ['2023', '2025', '2026'];

export interface OwaspCrosswalk {
  /** The entries of `toEdition` that carry `id` of `fromEdition`; itself ('same') when the editions match. */
  translate(fromEdition: OwaspEdition, id: string, toEdition: OwaspEdition): EditionLink[];
}

export function createOwaspCrosswalk(data: OwaspData): OwaspCrosswalk {
  // `${from}>${to}` → from-edition id → links into the to-edition
  const hops = new Map<string, Map<string, EditionLink[]>>();
  const add = (from: OwaspEdition, to: OwaspEdition, fromId: string, link: EditionLink) => {
    const key = `${from}>${to}`;
    const table = hops.get(key) ?? new Map<string, EditionLink[]>();
    hops.set(key, table);
    table.set(fromId, [...(table.get(fromId) ?? []), link]);
  };
  for (const row of data.crosswalks['2023-2025']) {
    add('2023', '2025', row.from, { id: row.to, relation: row.relation });
    add('2025', '2023', row.to, { id: row.from, relation: row.relation });
  }
  for (const row of data.crosswalks['2025-2026']) {
    add('2025', '2026', row.from, { id: row.to, relation: row.relation });
    add('2026', '2025', row.to, { id: row.from, relation: row.relation });
  }
  const hop = (from: OwaspEdition, to: OwaspEdition, id: string) => hops.get(`${from}>${to}`)?.get(id) ?? [];

  return {
    translate(fromEdition, id, toEdition) {
      if (fromEdition === toEdition) return [{ id, relation: 'same' }];
      const distance = Math.abs(ORDER.indexOf(fromEdition) - ORDER.indexOf(toEdition));
      if (distance === 1) return hop(fromEdition, toEdition, id).map((link) => ({ ...link }));
      const result = new Map<string, EditionLink>();
      for (const first of hop(fromEdition, '2025', id)) {
        for (const second of hop('2025', toEdition, first.id)) {
          if (result.has(second.id)) continue;
          const via = `owasp-llm-2025:${first.id}`;
          const relation = first.relation === 'same' && second.relation === 'same' ? `same (via ${via})` : `via ${via}: ${first.relation}, then ${second.relation}`;
          result.set(second.id, { id: second.id, relation });
        }
      }
      return [...result.values()];
    },
  };
}
