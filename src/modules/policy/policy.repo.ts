import { sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';

export interface PolicyVersionRow {
  sequence: number;
  contentHash: string;
  content: unknown;
  source: string;
  appliedAt: Date;
}

export function createPolicyRepo(db: Db) {
  return {
    async latest(): Promise<PolicyVersionRow | undefined> {
      return db.selectFrom('policyVersions').selectAll().orderBy('sequence', 'desc').limit(1).executeTakeFirst();
    },

    /**
     * Records a version unless it equals the latest. The sequence is max+1 inside one statement;
     * a racing process inserting the same number loses on the primary key and retries.
     */
    async appendIfChanged(contentHash: string, content: unknown, source: string): Promise<PolicyVersionRow> {
      for (let attempt = 0; ; attempt++) {
        try {
          return await db.transaction().execute(async (trx) => {
            const latest = await trx.selectFrom('policyVersions').selectAll().orderBy('sequence', 'desc').limit(1).executeTakeFirst();
            if (latest?.contentHash === contentHash) return latest;
            return trx
              .insertInto('policyVersions')
              .values({
                sequence: sql<number>`(select coalesce(max(sequence), 0) + 1 from policy_versions)`,
                contentHash,
                content: JSON.stringify(content),
                source,
              })
              .returningAll()
              .executeTakeFirstOrThrow();
          });
        } catch (error) {
          if (attempt >= 3 || (error as { code?: string }).code !== '23505') throw error;
        }
      }
    },

    async list(limit: number, beforeSequence: number | undefined): Promise<PolicyVersionRow[]> {
      let query = db.selectFrom('policyVersions').selectAll().orderBy('sequence', 'desc').limit(limit);
      if (beforeSequence !== undefined) query = query.where('sequence', '<', beforeSequence);
      return query.execute();
    },
  };
}

export type PolicyRepo = ReturnType<typeof createPolicyRepo>;
