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
  // An invalid Date throws here, as it would fail the statement anyway.
  return value.toISOString();
}
