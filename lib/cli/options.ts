// Checks every command shares, made where commander would otherwise be silent or vague: an
// option given twice (commander keeps the last one), words left over after the arguments
// (commander only counts them), and an empty device path.
import type { Command } from 'commander';
import { UsageError } from '../errors';

/** Every option that takes a value, in `cmd` and its subcommands, refuses a second value. */
export function refuseRepeats(cmd: Command): Command {
  for (const o of cmd.options) {
    if ((o.required || o.optional) && !o.variadic && !o.parseArg) {
      const name = o.long ?? o.short ?? o.flags;
      o.argParser((value: string, previous: unknown) => {
        if (previous !== undefined && previous !== o.defaultValue) {
          throw new UsageError(`${name}: given twice ('${String(previous)}' and '${value}'); give it once`);
        }
        return value;
      });
    }
  }
  for (const c of cmd.commands) refuseRepeats(c);
  return cmd;
}

/** What `cmd` takes, for messages: "SRC DST", "DEVICE...". */
function expectedArgs(cmd: Command): string {
  const a = cmd.registeredArguments.map((r) => `${r.name().toUpperCase()}${r.variadic ? '...' : ''}`);
  return a.length === 0 ? 'no arguments' : a.join(' ');
}

/**
 * Instead of commander's "too many arguments. Expected 2 arguments but got 3.", name the word
 * that was not understood. Call on the program: it applies to every subcommand.
 */
export function explainExcessArguments(program: Command): void {
  const allow = (c: Command) => {
    c.allowExcessArguments(true);
    for (const s of c.commands) allow(s);
  };
  for (const c of program.commands) allow(c);
  program.hook('preAction', (_this, action) => {
    if (action.name() === 'token') return; // says which subcommand it did not understand
    const regs = action.registeredArguments;
    if (regs.length > 0 && regs[regs.length - 1]?.variadic) return;
    const extra = action.args.slice(regs.length);
    if (extra.length === 0) return;
    const words = extra.map((w) => `'${w}'`).join(', ');
    throw new UsageError(`${action.name()}: ${words} not understood (${action.name()} takes ${expectedArgs(action)}; options start with --)`);
  });
}

/** A device argument must at least be a path. */
export function checkDevicePath(p: string, what: string): void {
  if (p.trim() === '') throw new UsageError(`${what}: empty device path (give /dev/sdX, /dev/sgN or a /dev/disk/by-* link)`);
}
