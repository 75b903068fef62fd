// Found by an adversarial review (each failed before its fix): nameUnknownStages gives a move to a name no list knew the id of "the
// read that followed it", taken as the first read of updated >= the move's second in storage order
// (receivedAt). A read of that same second made before the move (an edit a moment earlier, fetched
// by the webhook server) is picked instead of the one after it: the id is lost (two arrivals for one
// move) or the wrong id is given, and the result depends on which report was stored first.
import { expect } from 'chai';
import type { SnapshotEvidence } from '../src/shared/stages/evidence.js';
import { arrivals, at, brief, move, read, rebuild, T0 } from './support/rebuild-edge-support.js';

const hotLead = { id: 9, name: 'Hot Lead' };
const received = (ms: number) => new Date(T0 + 60_000 + ms);

describe('rebuild edge: a stage no list knew, with a read of the same second made before the move', () => {
  // FUB: in Lead. At 60.1 a note is added (peopleUpdated; the webhook server fetches at 60.2: Lead,
  // updated 60). At 60.5 the person moves to the new stage "Hot" (id 9), which an admin renames to
  // "Hot Lead" before the peopleStageUpdated naming "Hot" is taken in: no list ever knew "Hot".
  // A poll at 65 finds Hot Lead (id 9), updated 60. One move, into stage 9.
  const before = read('Lead', 60, { readAt: at(60.2), receivedAt: received(300) });
  const named = move('Hot', 60, 60_000 + 900);
  const after = (receivedMs: number): SnapshotEvidence => ({ ...read('x', 60, { readAt: at(65), receivedAt: received(receivedMs) }), stage: hotLead });

  it('gives the move the id the read after it shows, whichever read was stored first', () => {
    const storedLast = rebuild([read('Lead', 0), before, named, after(5_300)]);
    // Before the fix: first_seen Lead, Lead>Hot@60 (id null), Hot>Hot Lead@60: two arrivals for one move.
    expect(arrivals(storedLast), brief(storedLast).join(', ')).to.deep.equal({ 9: 1 });
    const storedFirst = rebuild([read('Lead', 0), { ...before, receivedAt: received(9_000) }, named, after(5_300)]);
    expect(brief(storedLast)).to.deep.equal(brief(storedFirst));
  });

  it('does not give the move the id of a stage the person was in before it', () => {
    // Same, but the 60.1 change was a move to Q whose webhooks were lost: the 60.2 fetch shows Q.
    const inQ = { ...before, stage: { id: 2, name: 'Q' } };
    const rows = rebuild([read('Lead', 0), inQ, named, after(5_300)]);
    // Before the fix: Lead>Hot (stage_to 'Hot' with Q's id 2), Hot>Hot Lead (inferred): the webhook's row
    // says the person moved into Q under the name of stage 9.
    const hotRow = rows.find((r) => r.eventId === named.eventId)!;
    expect(hotRow.to, brief(rows).join(', ')).to.deep.equal({ id: 9, name: 'Hot' });
  });
});
