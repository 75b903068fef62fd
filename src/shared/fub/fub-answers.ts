import { z } from 'zod';
import { cleanFubText, MAX_STAGE_NAME_LENGTH, parseFubTime } from './fub-text.js';

// What each FUB answer the service uses must look like. Anything else (an HTML page from a proxy,
// truncated JSON, `{}`, an error object with a 200) is not "nothing there": the client turns it into
// an error. Texts are cleaned here, once (see cleanFubText).

/** FUB's ids: numbers, or digits in a string in some answers. */
const fubId = z
  .union([z.number(), z.string().regex(/^\s*\d+\s*$/)], { error: 'expected an id' })
  .transform(Number)
  .refine((n) => Number.isSafeInteger(n) && n > 0, { error: 'expected a positive id' });

/** An id that may be absent; 0 or "" is FUB's "none". */
const optionalFubId = z
  .union([z.number(), z.string().regex(/^\s*\d*\s*$/)], { error: 'expected an id or null' })
  .nullish()
  .transform((v) => (v === null || v === undefined || v === '' ? null : Number(v)))
  .refine((n) => n === null || (Number.isSafeInteger(n) && n >= 0), { error: 'expected a positive id' })
  .transform((n) => (n === 0 ? null : n));

const text = z.string().transform(cleanFubText);

/** A stage's name: present, and short enough to be indexed (see MAX_STAGE_NAME_LENGTH). */
const stageName = text
  .refine((s) => s !== null, { error: 'expected a stage name' })
  .transform((s) => s!)
  .refine((s) => s.length <= MAX_STAGE_NAME_LENGTH, { error: `expected a stage name of at most ${MAX_STAGE_NAME_LENGTH} characters` });

const optionalText = z
  .string()
  .nullish()
  .transform((v) => (typeof v === 'string' ? cleanFubText(v) : null));

/** Descriptive text (names, the agent): a wrong type there says nothing about stages, so it is dropped, not fatal. */
const looseText = optionalText.catch(null);
const looseId = optionalFubId.catch(null);

const fubTime = z
  .string()
  .nullish()
  .transform((v, ctx) => {
    if (v === null || v === undefined || v.trim() === '') return null;
    const date = parseFubTime(v);
    if (date === null) {
      ctx.addIssue({ code: 'custom', message: 'expected a date' });
      return z.NEVER;
    }
    return date;
  });

/**
 * One person as FUB lists them. What decides a history (id, stage, stage id, `updated`, `created`)
 * must be well formed; a person without a stage is not one FUB sends (every person has one).
 */
export const personSchema = z.object({
  id: fubId,
  stage: stageName,
  stageId: optionalFubId,
  updated: fubTime,
  created: fubTime,
  firstName: looseText,
  lastName: looseText,
  assignedUserId: looseId,
  assignedTo: looseText,
  source: looseText,
});
export type PersonFields = z.output<typeof personSchema>;

/** GET /people: `_metadata` and a `people` array (each person checked on its own, see personSchema). */
export const peoplePageSchema = z.object({
  _metadata: z.object({
    next: z.string().nullish(),
    nextLink: z.string().nullish(),
    total: z.number().int().nonnegative().nullish(),
  }),
  people: z.array(z.unknown()),
});

/** GET /people/{id}: an object, the person itself or (seen in some code) wrapped as `{ "person": {...} }`. */
export const onePersonAnswerSchema = z
  .looseObject({})
  .transform((body): unknown => (body.person !== null && typeof body.person === 'object' ? body.person : body));

/** GET /stages: a `stages` array (an odd entry is skipped: it only names a stage, see stageSchema). */
export const stagesAnswerSchema = z.object({ stages: z.array(z.unknown()) });
export const stageSchema = z.object({ id: fubId, name: stageName });

export const webhookSchema = z.object({ id: fubId, event: z.string(), url: z.string(), status: z.string() });
export const webhooksAnswerSchema = z.object({ webhooks: z.array(webhookSchema) });
export type FubWebhook = z.output<typeof webhookSchema>;

/** A zod failure in a line: where in the answer, and what was wrong (never the value itself). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
