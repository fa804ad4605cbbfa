import { sql, type Kysely } from 'kysely';

/**
 * The raw-content grant (issue 6 §4): reading raw attack content (prompts, responses, evidence) is held
 * by no role, so it lives on the membership itself: when it was given and by whom (null: not held). It
 * belongs to one membership, so it never follows the user into another organisation, and a member who
 * leaves and is invited back starts without it. Both columns are set together or cleared together;
 * `granted_by` is a user id without a foreign key, like `created_by`, so erasing a user stays possible.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('memberships')
    .addColumn('raw_content_granted_at', 'timestamptz')
    .addColumn('raw_content_granted_by', 'uuid')
    .execute();
  await sql`ALTER TABLE memberships ADD CONSTRAINT memberships_raw_content_grant_whole
    CHECK ((raw_content_granted_at IS NULL) = (raw_content_granted_by IS NULL))`.execute(db);
}
