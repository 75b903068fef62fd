import type { Trx } from '../db/database.js';

/** What is known of a person when a row is recorded: it goes on the row. */
export interface KnownDetails {
  firstName: string | null;
  lastName: string | null;
  assignedUserId: number | null;
  assignedUserName: string | null;
  leadSource: string | null;
}

/** Rows recorded before the person's name, agent or lead source was known get them once they are. */
export async function fillMissingDetails(trx: Trx, personId: number, details: KnownDetails): Promise<void> {
  if (details.firstName !== null || details.lastName !== null) {
    await trx
      .updateTable('stage_changes')
      .set({ first_name: details.firstName, last_name: details.lastName })
      .where('person_id', '=', personId)
      .where('first_name', 'is', null)
      .where('last_name', 'is', null)
      .execute();
  }
  if (details.assignedUserId !== null || details.assignedUserName !== null) {
    await trx
      .updateTable('stage_changes')
      .set({ assigned_user_id: details.assignedUserId, assigned_user_name: details.assignedUserName })
      .where('person_id', '=', personId)
      .where('assigned_user_id', 'is', null)
      .where('assigned_user_name', 'is', null)
      .execute();
  }
  if (details.leadSource !== null) {
    await trx
      .updateTable('stage_changes')
      .set({ lead_source: details.leadSource })
      .where('person_id', '=', personId)
      .where('lead_source', 'is', null)
      .execute();
  }
}
