/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth`, by one pass over the characters (no
 * recursion, so any input is safe). JSON.parse copes with deep nesting, but JSON.stringify, which
 * re-serializes each event for the inbox, overflows the stack near 5,000 levels. FUB's envelopes
 * nest 3 deep.
 */
export function exceedsJsonDepth(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}
