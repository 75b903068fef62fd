import { FubMalformedAnswerError, PEOPLE_PER_REQUEST, type FubClient, type FubPerson } from '../shared/fub/fub-client.js';

/** What one fetch learned about one person. */
export type PersonRead = { person: FubPerson } | { absent: true } | { error: Error };

export interface PeopleFetch {
  /** The read of one person of this fetch; never rejects (a failed chunk is an `error` read). */
  read(personId: number): Promise<PersonRead>;
  /** Resolves once the reads started ahead of need have finished. */
  settled(): Promise<void>;
}

/**
 * Reads people in chunks of one FUB call each, every chunk on its own: a chunk FUB fails on, or a
 * person it sends in a shape we cannot read, fails only the people concerned. Chunks are read ahead
 * in order, `ahead` at a time (until `stopped`), and any chunk is read at once when asked for.
 */
export function fetchPeopleInChunks(
  fub: Pick<FubClient, 'getPeopleByIds'>,
  personIds: readonly number[],
  options: { ahead?: number; stopped?: () => boolean } = {},
): PeopleFetch {
  const unique = [...new Set(personIds)];
  const chunks: Chunk[] = [];
  const chunkOf = new Map<number, Chunk>();
  for (let i = 0; i < unique.length; i += PEOPLE_PER_REQUEST) {
    const chunk = makeChunk(fub, unique.slice(i, i + PEOPLE_PER_REQUEST));
    chunks.push(chunk);
    for (const id of chunk.ids) chunkOf.set(id, chunk);
  }
  let nextChunk = 0;
  const readAhead = Array.from({ length: Math.min(options.ahead ?? 1, chunks.length) }, async () => {
    while (nextChunk < chunks.length && !options.stopped?.()) await chunks[nextChunk++]!.start();
  });
  return {
    async read(personId) {
      const chunk = chunkOf.get(personId);
      if (!chunk) return { error: new Error(`person ${personId} was not part of this fetch`) };
      return (await chunk.start()).get(personId)!;
    },
    async settled() {
      await Promise.all(readAhead);
    },
  };
}

interface Chunk {
  ids: number[];
  /** Reads the chunk (once; later calls share it). Never rejects. */
  start(): Promise<Map<number, PersonRead>>;
}

function makeChunk(fub: Pick<FubClient, 'getPeopleByIds'>, ids: number[]): Chunk {
  let reading: Promise<Map<number, PersonRead>> | undefined;
  return {
    ids,
    start() {
      reading ??= fub.getPeopleByIds(ids).then(
        (answer) => {
          const unreadable = new Map(answer.unreadable.filter((u) => u.id !== null).map((u) => [u.id!, u.reason]));
          // A person sent without a usable id could be any of those missing: none of them is "not found".
          const nameless = answer.unreadable.find((u) => u.id === null);
          return new Map(
            ids.map((id): [number, PersonRead] => {
              const person = answer.people.get(id);
              if (person) return [id, { person }];
              const reason = unreadable.get(id);
              if (reason !== undefined) return [id, { error: new FubMalformedAnswerError(`FUB sent person ${id} in a shape we cannot read (${reason})`, 200) }];
              if (nameless) return [id, { error: new FubMalformedAnswerError(`FUB sent a person without a usable id (${nameless.reason}); person ${id} may be that one`, 200) }];
              return [id, { absent: true }];
            }),
          );
        },
        (error: unknown) => new Map(ids.map((id): [number, PersonRead] => [id, { error: error instanceof Error ? error : new Error(String(error)) }])),
      );
      return reading;
    },
  };
}
