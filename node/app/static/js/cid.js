// Content ids of files the user picks: CIDv1, raw codec, sha2-256, base32
// multibase ("bafkrei…"), byte for byte as wire.cid_of computes them
// (docs/token-profile.md), so a promise's `out` names the very bytes a fulfil
// will carry and any observer can check the delivery.

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
// CIDv1 (0x01), raw (0x55), sha2-256 (0x12), 32-byte digest (0x20).
const PREFIX = [0x01, 0x55, 0x12, 0x20];

function base32(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export async function cidOf(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return "b" + base32(new Uint8Array([...PREFIX, ...digest]));
}

/** A file's bytes, base64 (a fulfil carries its artifacts so in JSON). */
export function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export async function readFiles(input) {
  return Promise.all([...input.files].map(async (f) => new Uint8Array(await f.arrayBuffer())));
}
