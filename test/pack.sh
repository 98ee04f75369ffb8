#!/usr/bin/env bash
# The package as users get it: `npm pack`, then `npm install ./odxcp-*.tgz` in an empty
# directory (the addon builds from source there; the dependencies come from the registry), and
# check what that install gives: the `odxcp` command, `require('odxcp')` through the exports
# map, the typings for TypeScript, and the man page. Part of .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/odxcp-pack.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "pack: FAIL: $*" >&2; exit 1; }

npm pack --silent --pack-destination "$work" >"$work/pack.out"
tgz=$(ls "$work"/odxcp-*.tgz)
tar -tzf "$tgz" >"$work/list"
for f in package/bin/odxcp package/dist/lib/odxcp-cli.js package/dist/lib/index.js package/dist/lib/index.d.ts package/man/odxcp.1 package/binding.gyp package/native/addon.cc; do
  grep -qx "$f" "$work/list" || fail "$f is not in the tarball"
done
! grep -q '^package/dist/test/' "$work/list" || fail "the tests are in the tarball"

mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund "$tgz" >"$work/install.log" 2>&1 || { tail -30 "$work/install.log"; fail "npm install of the tarball"; }

odxcp=./node_modules/.bin/odxcp
[ "$($odxcp --version)" = "$(node -p "require('$repo/package.json').version")" ] || fail "odxcp --version"
$odxcp list --json >"$work/list.json" || fail "odxcp list exits $?"
$odxcp --help >"$work/help" || fail "odxcp --help exits $?"
grep -q "completion" "$work/help" || fail "odxcp --help has no completion command"
$odxcp completion bash | bash -n || fail "the bash completion does not parse"
set +e
$odxcp info /nonexistent >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" = 15 ] || fail "odxcp info /nonexistent exits $rc, not 15"

node -e "
const o = require('odxcp');
for (const k of ['copy', 'planCopy', 'ScsiDevice', 'commands', 'setCommandTrace', 'scanLuns', 'EXIT_CODES']) if (!(k in o)) throw new Error('require(\"odxcp\") has no ' + k);
if (require('odxcp/package.json').name !== 'odxcp') throw new Error('odxcp/package.json');
let refused = false;
try { require('odxcp/dist/lib/cli/main.js'); } catch (e) { refused = e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'; }
if (!refused) throw new Error('a deep import is not refused by the exports map');
o.loadNative();
" || fail "require('odxcp')"

# The typings through the exports map, with both module resolutions TypeScript users pick.
cat >use.ts <<'TS'
import { copy, planCopy, ScsiDevice, type CopyResult, type CommandTraceRecord } from 'odxcp';
const f: (o: Parameters<typeof copy>[0]) => Promise<CopyResult> = copy;
const t: CommandTraceRecord | undefined = undefined;
export { f, t, planCopy, ScsiDevice };
TS
for res in node node16; do
  mod=commonjs; [ "$res" = node16 ] && mod=node16
  "$repo/node_modules/.bin/tsc" --noEmit --strict --types node --typeRoots "$repo/node_modules/@types" --module "$mod" --moduleResolution "$res" use.ts || fail "typings with --moduleResolution $res"
done

[ -s node_modules/odxcp/man/odxcp.1 ] || fail "no man page in the install"
grep -q '^\.TH ODXCP 1' node_modules/odxcp/man/odxcp.1 || fail "man page header"
echo "pack: ok ($(basename "$tgz"), $(wc -l <"$work/list") files; odxcp, require('odxcp'), typings (node, node16), man page)"
