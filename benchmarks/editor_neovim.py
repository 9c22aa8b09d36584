"""Drive `dropout-guard server` from a real editor: Neovim, headless (a check, not a test:
it needs `nvim` on PATH, 0.7 or newer).

    python benchmarks/editor_neovim.py [--server "dropout-guard server"]

Writes the small project of the server's tests (tests/programs.py: a training loop whose
helper in another file switches the model to eval) to a temporary folder, starts Neovim
with no user configuration, attaches the server to `train.py` with Neovim's own LSP client
(`vim.lsp.start_client`, present from 0.7 on), and checks what an editor user sees:

1. the cross-file DG102 appears, with `source` dropout-guard and code DG102;
2. typing the fix (`model.train()` after the evaluation) clears it;
3. undoing the fix brings it back, and the code actions at it offer the rule's fix and
   "Disable for this line";
4. the server stops cleanly when the client stops it.

Prints one line per step and exits 1 when one fails. The waits are Neovim's own
`vim.wait` with a two-minute ceiling, far above the second the steps take.
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from programs import LOOP, TRAIN  # noqa: E402

LUA = r"""
local out = {}
local function log(s) table.insert(out, s) end
local cmd = vim.fn.json_decode(vim.env.DG_SERVER)
local client_id = vim.lsp.start_client({ name = 'dropout_guard', cmd = cmd, root_dir = vim.env.DG_ROOT })
vim.cmd('edit ' .. vim.env.DG_ROOT .. '/train.py')
vim.lsp.buf_attach_client(0, client_id)
local limit = 120000
local function diags() return vim.diagnostic.get(0) end
local shown = vim.wait(limit, function() return #diags() > 0 end, 50)
for _, d in ipairs(diags()) do
  log(string.format('diagnostic %d:%d source=%s code=%s %s', d.lnum + 1, d.col + 1, d.source or '?',
      tostring(d.code), d.message:sub(1, 60)))
end
log('step1 ' .. tostring(shown and diags()[1].source == 'dropout-guard' and diags()[1].code == 'DG102'))
vim.api.nvim_buf_set_lines(0, 12, 12, false, { '        model.train()' })
log('step2 ' .. tostring(vim.wait(limit, function() return #diags() == 0 end, 50)))
vim.api.nvim_buf_set_lines(0, 12, 13, false, {})
local back = vim.wait(limit, function() return #diags() > 0 end, 50)
local titles = {}
if back then
  local d = diags()[1]
  local params = vim.lsp.util.make_range_params()
  params.range = { start = { line = d.lnum, character = d.col }, ['end'] = { line = d.end_lnum, character = d.end_col } }
  params.context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics(0, d.lnum) }
  local res = vim.lsp.buf_request_sync(0, 'textDocument/codeAction', params, limit)
  for _, r in pairs(res or {}) do
    for _, a in ipairs(r.result or {}) do table.insert(titles, a.title); log('action ' .. a.title) end
  end
end
local function has(word) for _, t in ipairs(titles) do if t:find(word, 1, true) then return true end end return false end
log('step3 ' .. tostring(back and has('model.train()') and has('Disable for this line')))
vim.lsp.stop_client(client_id)
log('step4 ' .. tostring(vim.wait(limit, function() return vim.lsp.client_is_stopped(client_id) end, 50)))
vim.fn.writefile(out, vim.env.DG_ROOT .. '/result.txt')
vim.cmd('qa!')
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=f"{shlex.quote(sys.executable)} -m dropout_guard server",
                    help="the command that starts the server (default: this Python's dropout_guard)")
    args = ap.parse_args()
    nvim = shutil.which("nvim")
    if nvim is None:
        print("nvim is not on PATH: nothing to check", file=sys.stderr)
        return 2
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("")
        (root / "loop.py").write_text(LOOP)
        (root / "train.py").write_text(TRAIN)
        (root / "check.lua").write_text(LUA)
        env = {"DG_SERVER": json.dumps(shlex.split(args.server)), "DG_ROOT": str(root),
               "PATH": "/usr/bin:/bin", "HOME": tmp}
        subprocess.run([nvim, "--headless", "-u", "NONE", "-c", f"luafile {root / 'check.lua'}"],
                       env=env, cwd=root, check=False)
        result = (root / "result.txt").read_text().splitlines() if (root / "result.txt").exists() else []
    print(version)
    for line in result:
        print(" ", line)
    steps = [line for line in result if line.startswith("step")]
    ok = len(steps) == 4 and all(line.endswith("true") for line in steps)
    print("all steps passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
