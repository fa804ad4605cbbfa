import type { ColumnType } from 'kysely';

/** The built-in probe library (issue 7 §1): seeded versions and their probes, global (no orgId). */

/** One seeded version of data/probes/library/; the newest seeded one is current. */
export interface ProbeLibraryVersionsTable {
  version: string;
  contentHash: string;
  probeCount: number;
  seededAt: ColumnType<Date, Date | undefined, never>;
  isCurrent: ColumnType<boolean, boolean | undefined, boolean>;
}

/** One probe of one library version (append-only: a change is a new version). */
export interface ProbeLibraryTable {
  id: string;
  version: string;
  /** File order across the library (files by name, probes as written): plans freeze probes in it. */
  position: number;
  contentHash: string;
  name: string;
  category: string;
  family: string;
  goal: string;
  prompt: string;
  defaultConverters: ColumnType<Array<{ id: string; params?: unknown }>, string, never>;
  defaultScorers: ColumnType<Array<{ id: string; params?: unknown }>, string, never>;
  taxonomy: ColumnType<string[], string, never>;
  complexity: 'low' | 'medium' | 'high';
  impact: string;
  tags: ColumnType<string[], string, never>;
  isDefault: boolean;
  createdAt: ColumnType<Date, Date | undefined, never>;
}
