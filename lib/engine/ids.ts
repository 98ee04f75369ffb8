// List identifiers, unique within this process (reference 7.4). Lists are keyed by list id
// and I_T nexus, so two operations of ours must never share an id while either is alive.
// 4-byte ids (POPULATE TOKEN, WRITE USING TOKEN, RRTI, COPY OPERATION ABORT) start above the
// 1-byte LID1 range (as ddpt does) at a random base, so two odxcp processes on one host are
// unlikely to collide; a collision is answered by the target and handled by taking a new id.
import { randomInt } from 'node:crypto';

let next4 = 0x100 + randomInt(0, 0x7fff_0000);

export function nextListId4(): number {
  const id = next4;
  next4 = next4 >= 0xffff_fff0 ? 0x100 : next4 + 1;
  return id;
}

let next1 = randomInt(1, 256);

/** A LID1 list identifier (1..255) for LIST ID USAGE 00b/10b. */
export function nextListId1(): number {
  const id = next1;
  next1 = next1 >= 255 ? 1 : next1 + 1;
  return id;
}
