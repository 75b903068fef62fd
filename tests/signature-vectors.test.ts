import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isValidSignature } from '../src/webhook/verify-signature.js';

// FUB-Signature against vectors computed with openssl, not with our own signBody (see the README there).
const DIR = join(import.meta.dirname, 'fixtures', 'signatures');
const KEY = 'fub-known-answer-key-2026';
const vectors = readFileSync(join(DIR, 'signatures.txt'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => line.split(' ') as [string, string]);

describe('FUB-Signature known answers (computed outside our code)', () => {
  it('has the three vectors: ASCII, non-ASCII text, a trailing newline', () => {
    expect(vectors.map(([file]) => file)).to.deep.equal(['ascii.json', 'non-ascii.json', 'trailing-newline.json']);
    expect(readFileSync(join(DIR, 'trailing-newline.json')).at(-1)).to.equal(0x0a);
    expect(readFileSync(join(DIR, 'non-ascii.json')).length).to.be.greaterThan(readFileSync(join(DIR, 'non-ascii.json'), 'utf8').length);
  });

  for (const [file, signature] of vectors) {
    it(`accepts ${file} signed by openssl, and refuses it changed by one byte or under another key`, () => {
      const body = readFileSync(join(DIR, file));
      expect(isValidSignature(body, signature, KEY)).to.equal(true);
      expect(isValidSignature(body, signature.toUpperCase(), KEY), 'hex case').to.equal(true);
      const altered = Buffer.from(body);
      altered[altered.length - 2]! ^= 1;
      expect(isValidSignature(altered, signature, KEY)).to.equal(false);
      expect(isValidSignature(body, signature, `${KEY}x`)).to.equal(false);
      // The body without its trailing newline is a different body.
      if (file === 'trailing-newline.json') expect(isValidSignature(body.subarray(0, -1), signature, KEY)).to.equal(false);
    });
  }
});
