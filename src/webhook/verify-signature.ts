import { createHmac, timingSafeEqual } from 'node:crypto';

/** FUB's signature: hex HMAC-SHA256, keyed by the system key, over base64 of the raw body bytes. */
export function signBody(rawBody: Buffer, systemKey: string): string {
  return createHmac('sha256', systemKey).update(rawBody.toString('base64')).digest('hex');
}

/** Whether a `FUB-Signature` header can be a signature at all (64 hex digits); checked before any body is read. */
export function isWellFormedSignature(header: string | undefined): header is string {
  return header !== undefined && /^[0-9a-f]{64}$/.test(header.trim().toLowerCase());
}

/** Constant-time check of a `FUB-Signature` header against the raw body. */
export function isValidSignature(rawBody: Buffer, header: string | undefined, systemKey: string): boolean {
  if (!isWellFormedSignature(header)) return false;
  // Digest bytes against the header's bytes: no hex string of our own to make and parse again.
  const expected = createHmac('sha256', systemKey).update(rawBody.toString('base64')).digest();
  return timingSafeEqual(Buffer.from(header.trim(), 'hex'), expected);
}
