/** Rows as an aligned text table for a terminal; a few lines, so no library. */
export function formatTable<T extends object>(items: T[], columns?: (keyof T & string)[]): string {
  if (items.length === 0) return '(none)';
  const rows = items as Record<string, unknown>[];
  const keys: string[] = columns ?? Object.keys(rows[0]!);
  const cell = (value: unknown): string =>
    value === null || value === undefined ? '' : value instanceof Date ? value.toISOString().replace('.000Z', 'Z') : String(value);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(keys.map((k) => cell(r[k]))))].join('\n');
}
