"""Python 2 statements read as Python 3 (``lint/legacy.py``): each rewrite, and that every
other token keeps its line and column."""
import ast

import pytest

from dropout_guard.lint.legacy import python2_as_python3

CASES = [
    ("print 'a', b\n", "print('a', b)\n"),
    ("print x,\n", "print(x)\n"),
    ("print\n", "print()\n"),
    ("print >>sys.stderr, 'x'\n", "print( 'x')\n"),
    ("if ok: print 'yes'\n", "if ok: print('yes')\n"),
    ("print 'a'; y = f(x)\n", "print('a');y = f(x)\n"),
    ("print ('a', 1) + b\n", "print(('a', 1) + b)\n"),
    ("print('a', file=f)\nprint 'b'\n", "print('a', file=f)\nprint('b')\n"),
    ("print(x)\nprint 'a' % (1,\n         2)\n", "print(x)\nprint('a' % (1,\n         2))\n"),
    ("exec 'x = 1'\n", "exec('x = 1')\n"),
    ("try:\n    pass\nexcept (A, B), e:\n    pass\n", "try:\n    pass\nexcept (A, B) as e:\n    pass\n"),
    ("raise ValueError, 'bad %s' % x\n", "raise ValueError( 'bad %s' % x)\n"),
    ("if a <> b:\n    pass\n", "if a != b:\n    pass\n"),
    ("x = y.cuda(async=True)\n", "x = y.cuda(non_blocking=True)\n"),
    ("k = sorted(p, key=lambda (i, g): g)\n", "k = sorted(p, key=lambda  i, g : g)\n"),
    ("k = map(lambda ((a, b), c): c, p)\n", "k = map(lambda   a, b , c : c, p)\n"),
]


@pytest.mark.parametrize("py2, py3", CASES)
def test_rewrites(py2, py3):
    assert python2_as_python3(py2) == py3
    ast.parse(py3)


def test_columns_kept_after_a_print():
    out = python2_as_python3("def f(m, x):\n    print 'go'\n    return m(x)\n")
    call = [n for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "m"][0]
    assert (call.lineno, call.col_offset) == (3, 11)


@pytest.mark.parametrize("src", ["print = log\nprint.x = 1\n", "x = 1\n", "y = `x`\n"])
def test_nothing_to_rewrite(src):
    assert python2_as_python3(src) is None
