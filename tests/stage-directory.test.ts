// Which id a stage name stands for, when FUB's settings gain a stage and it is used at once.
import { expect } from 'chai';
import { createStageDirectory } from '../src/shared/stages/stage-directory.js';
import { createHarness, type Harness } from './support/harness.js';

describe('stage directory', function () {
  this.timeout(60_000);
  let h: Harness;
  let stageListReads = 0;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(async () => {
    await h.reset();
    stageListReads = 0;
    h.sim.faults.push((req) => {
      if (req.path === '/v1/stages') stageListReads += 1;
      return undefined;
    });
  });
  after(() => h.close());

  it('learns the id of a stage created in FUB right after the last read of the list, instead of recording the move without one', async () => {
    h.sim.stageId('Lead');
    const stages = createStageDirectory({ db: h.tdb.db, fub: h.fub, log: h.log });
    await stages.refresh();
    // Seconds later an admin adds a stage and moves a lead into it: the webhook names it.
    const closed = h.sim.stageId('Closed');
    await stages.resolve(['Closed']);
    expect(stages.idOf('Closed')).to.equal(closed);
    expect(stageListReads).to.equal(2);
  });

  it('asks FUB about names it has never heard of at most a few times a minute', async () => {
    const stages = createStageDirectory({ db: h.tdb.db, fub: h.fub, log: h.log });
    await stages.refresh();
    for (let i = 0; i < 30; i++) await stages.resolve([`No such stage ${i}`]);
    // The first read, then at most ten more in the minute; a name already asked about is not asked again.
    expect(stageListReads).to.be.within(2, 11);
    for (let i = 0; i < 30; i++) await stages.resolve([`No such stage ${i}`]);
    expect(stageListReads).to.be.within(2, 11);
  });
});
