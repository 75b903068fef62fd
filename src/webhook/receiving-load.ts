/**
 * How many webhook requests are being received at this moment. The processor shares the cores with
 * the receiving path: while a burst is coming in it gives way, so acknowledgements stay fast, and
 * then records the burst in fewer, bigger batches.
 */
export interface ReceivingLoad {
  enter(): void;
  leave(): void;
  /** Many requests at once: a burst (FUB's bulk updates), not a steady trickle. */
  busy(): boolean;
}

// A trickle of 100 webhooks a second has about one request in hand at a time; FUB's bulk
// deliveries come over dozens of connections at once.
const BUSY_AT = 8;

export function createReceivingLoad(busyAt = BUSY_AT): ReceivingLoad {
  let inHand = 0;
  return {
    enter: () => void (inHand += 1),
    leave: () => void (inHand -= 1),
    busy: () => inHand >= busyAt,
  };
}
