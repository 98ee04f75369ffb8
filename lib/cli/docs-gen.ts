// The man page and the shell completions, generated from the same commander definitions as
// --help, so the three cannot drift (a unit spec checks every option of every command is in
// each). `odxcp man` prints the page; the build writes it to man/odxcp.1 (package.json `man`).
import type { Command, Option } from 'commander';
import { allCommands, commandPath, EXAMPLES } from './common';
import { exitCodesMarkdown } from './exit-codes';

function visible(c: Command): boolean {
  return (c as unknown as { _hidden?: boolean })._hidden !== true;
}

/** Commands a user can type (`token populate`), hidden ones aside, with their options. */
export function documentedCommands(program: Command): Command[] {
  return allCommands(program).filter((c) => visible(c) && (c.parent === program || visible(c.parent as Command)));
}

function optionNames(o: Option): string[] {
  return [o.short, o.long].filter((x): x is string => x !== undefined);
}

function usedOptions(c: Command): Option[] {
  return c.options.filter((o) => !o.hidden);
}

/** Escape text for roff: backslashes, leading dots and quotes, hyphens in option names. */
function roff(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

/** The man page, section 1. */
export function manPage(program: Command, version: string, date = '2026'): string {
  const out: string[] = [
    `.TH ODXCP 1 "${date}" "odxcp ${version}" "User Commands"`,
    '.SH NAME',
    `odxcp \\- ${roff(program.description())}`,
    '.SH SYNOPSIS',
  ];
  for (const c of documentedCommands(program)) {
    if (c.commands.length > 0 && c.registeredArguments.length > 0 && c.commands.some(visible)) continue;
    out.push(`.B odxcp ${roff(commandPath(c))}`, `${roff(c.usage())}`, '.br');
  }
  out.push('.B odxcp', 'if=SRC of=DST [bs=BS] [count=N] [skip=N] [seek=N] [copy options]', '.SH DESCRIPTION', roff(
    'odxcp hands a copy between two SCSI LUNs of one array to the array: token copy (ODX: POPULATE TOKEN, WRITE USING TOKEN), EXTENDED COPY (LID1), and a buffered host copy that continues from where an offload stopped. Sizes are bytes with an optional K, M, G or T suffix (powers of 1024), or Nb for N logical blocks of the device the option belongs to.',
  ));
  out.push('.SH COMMANDS');
  for (const c of documentedCommands(program)) {
    out.push('.SS', `odxcp ${roff(commandPath(c))} ${roff(c.usage())}`, roff(c.description()));
    for (const a of c.registeredArguments) out.push('.TP', `.I ${roff(a.name().toUpperCase())}`, roff(a.description));
    for (const o of usedOptions(c)) out.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
    const ex = EXAMPLES[commandPath(c)];
    if (ex) {
      out.push('.PP', 'Examples:', '.RS', '.nf');
      for (const e of ex) out.push(roff(e));
      out.push('.fi', '.RE');
    }
  }
  out.push('.SH EXIT STATUS', 'odxcp uses the exit statuses of sg3_utils:', '.nf');
  for (const line of exitCodesMarkdown().split('\n').filter((l) => /^\| \d/.test(l))) {
    const [status, name, meaning] = line.split('|').slice(1, 4).map((x) => x.trim().replace(/`/g, ''));
    out.push(roff(`${(status ?? '').padEnd(4)} ${(name ?? '').padEnd(34)} ${meaning ?? ''}`));
  }
  out.push('.fi', '.SH ENVIRONMENT', '.TP', '.B ODXCP_DEBUG=1', 'stack traces with every error (\\-v traces SCSI commands).', '.TP', '.B XCOPY_TO_SRC, XCOPY_TO_DST', 'in the sg_xcopy form, where EXTENDED COPY is sent (as sg_xcopy).');
  out.push('.SH SEE ALSO', 'sg_xcopy(8), ddpt(8), ddptctl(8), lsscsi(8)');
  return `${out.join('\n')}\n`;
}

interface Spec {
  path: string;
  subcommands: string[];
  options: string[];
  /** Option names that take a value, with the values when they are a fixed set. */
  values: Record<string, string[]>;
  /** Options whose value is a file (`<file>`): completed with file names. */
  files: string[];
}

/** Values listed in an option's help as `a|b|c`. */
function choices(o: Option): string[] {
  const m = /(?:^|[\s:])([a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)+)/.exec(o.description);
  return m?.[1] ? m[1].split('|') : [];
}

function specs(program: Command): Spec[] {
  const all = [program, ...documentedCommands(program)];
  return all.map((c) => {
    const values: Record<string, string[]> = {};
    const files: string[] = [];
    for (const o of usedOptions(c)) {
      if (!(o.required || o.optional)) continue;
      for (const n of optionNames(o)) {
        values[n] = choices(o);
        if (/<file>/.test(o.flags)) files.push(n);
      }
    }
    return {
      path: c === program ? '' : commandPath(c),
      subcommands: c.commands.filter((s) => visible(s) && s.name() !== 'help').map((s) => s.name()),
      options: usedOptions(c).flatMap(optionNames),
      values,
      files,
    };
  });
}

/** `odxcp completion bash`: source it, or put it in bash-completion's directory. */
export function bashCompletion(program: Command): string {
  const cases = specs(program).map((s) => {
    const vals = Object.entries(s.values)
      .map(([n, v]) => `      ${n}) ${v.length > 0 ? `COMPREPLY=($(compgen -W "${v.join(' ')}" -- "$cur"))` : s.files.includes(n) ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()'}; return;;`)
      .join('\n');
    return `    "${s.path}")\n${vals ? `      case "$prev" in\n${vals}\n      esac\n` : ''}      words_here="${[...s.subcommands, ...s.options].join(' ')}";;`;
  });
  return `# bash completion for odxcp (generated from its command definitions: odxcp completion bash)
_odxcp() {
  local cur prev path="" words_here w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue;; esac
    case " \${path:+$path }$w " in
${specs(program)
  .filter((s) => s.path !== '')
  .map((s) => `      " ${s.path} ") path="${s.path}";;`)
  .join('\n')}
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
  [[ "$cur" == -* ]] || COMPREPLY+=($(compgen -f -- "$cur"))
}
complete -o filenames -F _odxcp odxcp
`;
}

function zshQuote(s: string): string {
  return s.replace(/'/g, "'\\''").replace(/[[\]:]/g, '\\$&');
}

/** `odxcp completion zsh`: a #compdef file (fpath) or `source <(odxcp completion zsh)`. */
export function zshCompletion(program: Command): string {
  const fns = specs(program).map((s) => {
    const name = `_odxcp_${s.path.replace(/ /g, '_') || 'main'}`;
    const c = s.path === '' ? program : documentedCommands(program).find((x) => commandPath(x) === s.path);
    const opts = (c ? usedOptions(c) : []).map((o) => {
      const names = optionNames(o);
      const desc = zshQuote(o.description.split(/[.(;]/)[0]?.trim() ?? '');
      const arg = o.required || o.optional ? (choices(o).length > 0 ? `:value:(${choices(o).join(' ')})` : /<file>/.test(o.flags) ? ':file:_files' : ':value: ') : '';
      return names.map((n) => `    '${n}[${desc}]${arg}'`).join(' \\\n');
    });
    const subs = s.subcommands.map((sub) => {
      const sc = c?.commands.find((x) => x.name() === sub);
      return `'${sub}:${zshQuote(sc?.description().split(/[:;(]/)[0]?.trim() ?? '')}'`;
    });
    const body =
      s.subcommands.length > 0
        ? `  _arguments -C \\\n${opts.join(' \\\n')}${opts.length ? ' \\\n' : ''}    '1: :->sub' '*:: :->rest'\n  case $state in\n    sub) local -a subs; subs=(${subs.join(' ')}); _describe command subs;;\n    rest) local f=${s.path === '' ? '_odxcp_' : `${name}_`}\${words[1]}; (( $+functions[$f] )) && $f || _files;;\n  esac`
        : `  _arguments \\\n${opts.join(' \\\n')}${opts.length ? ' \\\n' : ''}    '*:file:_files'`;
    return `${name}() {\n${body}\n}`;
  });
  return `#compdef odxcp
# zsh completion for odxcp (generated from its command definitions: odxcp completion zsh)
${fns.join('\n')}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _odxcp_main "$@"; else compdef _odxcp_main odxcp; fi
`;
}
