// Lone UTF-16 surrogates: not text. PostgreSQL's UTF-8 cannot hold them (the driver would quietly
// turn each into U+FFFD); here they become U+FFFD on purpose, once.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

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
