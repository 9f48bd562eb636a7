/**
 * The Redis Cluster slot of a key (CLUSTER KEYSLOT): CRC16-XMODEM of the key's bytes modulo
 * 16384, where a key holding a non-empty `{…}` hashes only what is between its first `{` and
 * the next `}` (the hash tag). Callers group the keys of a multi-key script by it, since a
 * script may only touch keys of one slot. Tested against a real cluster's CLUSTER KEYSLOT.
 */

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

export const SLOT_COUNT = 16384;
const OPEN = 0x7b; // '{'
const CLOSE = 0x7d; // '}'

export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(OPEN);
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1);
    // "{}" (empty tag) or no closing brace: the whole key is hashed.
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc % SLOT_COUNT;
}
