const SHOWN = 3;

/**
 * How a log line names the people of an event: their count and the first few ids, never the whole
 * list (a bulk edit names thousands, and every per-person line would repeat them all).
 */
export function idsForLog(ids: readonly number[]): { personCount: number; firstPersonIds: number[] } {
  return { personCount: ids.length, firstPersonIds: ids.slice(0, SHOWN) };
}

/** The same in words, for an error message: "1, 2, 3 and 1997 more". */
export function idsInWords(ids: readonly number[]): string {
  const shown = ids.slice(0, SHOWN).join(', ');
  return ids.length > SHOWN ? `${shown} and ${ids.length - SHOWN} more` : shown;
}
