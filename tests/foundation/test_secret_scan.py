"""The secret scanner itself: it must catch a leak, in any encoding, from print or from logging."""

import base64
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def plugin_importable(monkeypatch):
    """The inner pytest runs in a child process: let it import the plugin from this checkout."""
    monkeypatch.setenv("PYTHONPATH", str(REPOSITORY))

LEAKING_TEST = '''
import logging
from hedgectl.config.secrets import Secret

def test_leaks_through_{how}():
    secret = Secret("{value}", source="test")
    text = {expression}
    {emit}
'''

CASES = {
    "print": ("secret.reveal()", "print(text)"),
    "logging": ("secret.reveal()", "logging.getLogger('hedgectl.x').info('key %s', text)"),
    "base64": ("__import__('base64').b64encode(secret.reveal().encode()).decode()", "print(text)"),
    "hex": ("secret.reveal().encode().hex()", "print(text)"),
}


@pytest.mark.parametrize("how", list(CASES))
def test_the_scanner_fails_a_test_that_leaks_a_secret(pytester, how):
    expression, emit = CASES[how]
    value = "s3cr3t-" + base64.b64encode(how.encode()).decode().strip("=") + "-value"
    pytester.makeconftest('pytest_plugins = ["tests.secret_scan"]\n')
    pytester.makepyfile(LEAKING_TEST.format(how=how, value=value, expression=expression, emit=emit))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--show-capture=no")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*a configured secret appeared in hedgectl's output or logs*"])
    assert value not in result.stdout.str()  # the report masks what it found


def test_the_scanner_passes_a_test_that_only_prints_the_mask(pytester):
    pytester.makeconftest('pytest_plugins = ["tests.secret_scan"]\n')
    pytester.makepyfile(
        "from hedgectl.config.secrets import Secret\n"
        "def test_prints_the_mask():\n"
        "    secret = Secret('another-long-secret-value', source='test')\n"
        "    print(secret, repr(secret))\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
