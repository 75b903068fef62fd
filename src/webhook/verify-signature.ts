import { createHmac, timingSafeEqual } from 'node:crypto';

/** FUB's signature: hex HMAC-SHA256, keyed by the system key, over base64 of the raw body bytes. */
export function signBody(rawBody: Buffer, systemKey: string): string {
  return createHmac('sha256', systemKey).update(rawBody.toString('base64')).digest('hex');
}

/** Constant-time check of a `FUB-Signature` header against the raw body. */
export function isValidSignature(rawBody: Buffer, header: string | undefined, systemKey: string): boolean {
  if (header === undefined) return false;
  const given = header.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(signBody(rawBody, systemKey), 'hex'));
}
