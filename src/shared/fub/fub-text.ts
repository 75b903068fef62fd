// Lone UTF-16 surrogates: not text. PostgreSQL's UTF-8 cannot hold them (the driver would quietly
// turn each into U+FFFD); here they become U+FFFD on purpose, once.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Longest stage name taken from FUB (UTF-16 units, so at most 1,500 bytes of UTF-8). Stage names are
 * short labels, and they are indexed: PostgreSQL refuses an index entry over about 2.7 kB, so one
 * longer name would fail the whole statement it is in (a poll's page, say), not only its person.
 */
export const MAX_STAGE_NAME_LENGTH = 500;

/**
 * Text from FUB made storable, once, where it enters: NUL removed (PostgreSQL rejects it in `text`),
 * lone surrogates replaced by U+FFFD, then trimmed (FUB's stage names are free text: "Lead " is
 * "Lead"). Null when nothing is left.
 */
export function cleanFubText(value: string): string | null {
  const text = value.replaceAll('\u0000', '').replace(LONE_SURROGATE, '\uFFFD').trim();
  return text === '' ? null : text;
}

/**
 * The first bytes of an answer or a value, quoted, for error messages and logs: escaped so that NUL
 * or a lone surrogate in it cannot make the error itself unstorable.
 */
export function quoteStart(text: string, max = 200): string {
  const start = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(start);
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * A time as FUB prints it (ISO 8601, "2026-03-11T16:48:12Z"), or null for anything else: Date alone
 * would read "1" as the year 2001 and trust it.
 */
export function parseFubTime(value: string): Date | null {
  const text = value.trim();
  if (!ISO_TIME.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}
