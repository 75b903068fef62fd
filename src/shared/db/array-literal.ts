/** What a batch statement's array parameters hold. */
export type ArrayElement = string | number | boolean | Date | null | undefined;

/**
 * A PostgreSQL array literal of `values` (cast it in SQL: `${arrayLiteral(ids)}::bigint[]`), made in
 * one join. The driver's own serializer builds it by appending element after element and formats
 * each Date field by field: for a bulk move's batches that was the costliest step of sending them,
 * and a sixth of all the recording allocated. Texts are quoted and escaped as the driver does;
 * numbers, booleans and times (ISO 8601, UTC) need no quotes.
 */
export function arrayLiteral(values: readonly ArrayElement[]): string {
  return `{${values.map(element).join(',')}}`;
}

function element(value: ArrayElement): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, '\\$&')}"`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  return time(value);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * ISO 8601 for years 1 to 9999 (UTC). Other years as PostgreSQL reads them ("10000-…", "0001-… BC"),
 * which toISOString does not write ("+010000-…", "0000-…"): FUB may send such a time, and one must
 * not fail a whole page of a poll. An invalid Date becomes text PostgreSQL refuses as data, so the
 * statement fails as a database refusal (retried event by event), not as a JavaScript throw.
 */
function time(value: Date): string {
  if (Number.isNaN(value.getTime())) return '"invalid time"';
  const year = value.getUTCFullYear();
  if (year >= 1 && year <= 9999) return value.toISOString();
  const clock = `${pad(value.getUTCHours())}:${pad(value.getUTCMinutes())}:${pad(value.getUTCSeconds())}.${pad(value.getUTCMilliseconds(), 3)}`;
  return `"${pad(year < 1 ? 1 - year : year, 4)}-${pad(value.getUTCMonth() + 1)}-${pad(value.getUTCDate())} ${clock}+00${year < 1 ? ' BC' : ''}"`;
}
