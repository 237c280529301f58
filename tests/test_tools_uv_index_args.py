"""tools/uv_index_args.py: pip's package sources handed on to uv by `make env`."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "uv_index_args", Path(__file__).resolve().parents[1] / "tools" / "uv_index_args.py"
)
uv_index_args = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(uv_index_args)

LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels /more/wheels'
global.index-url='https://mirror.example/simple'
install.index-url='https://other.example/simple'
"""


def test_sources_are_collected_without_repeats_and_unrelated_options_dropped():
    sources = uv_index_args.parse_pip_config(LISTING)
    assert sources == {
        "find-links": ["/opt/wheels", "/more/wheels"],
        "constraint": ["/etc/xdg/pip/constraints.txt"],
        "extra-index-url": ["file:///opt/pypi/simple", "file:///opt/pypi-more/simple"],
        "index-url": ["https://other.example/simple"],
    }


def test_index_url_from_the_environment_wins_over_the_files():
    listing = LISTING + ":env:.index-url='https://env.example/simple'\n"
    assert uv_index_args.parse_pip_config(listing)["index-url"] == ["https://env.example/simple"]
    listing = ":env:.index-url='https://env.example/simple'\n" + LISTING
    assert uv_index_args.parse_pip_config(listing)["index-url"] == ["https://env.example/simple"]


def test_uv_arguments_pair_each_value_with_its_option_and_match_pips_index_strategy():
    arguments = uv_index_args.uv_arguments(uv_index_args.parse_pip_config(LISTING))
    assert arguments == [
        "--index-url", "https://other.example/simple",
        "--extra-index-url", "file:///opt/pypi/simple",
        "--extra-index-url", "file:///opt/pypi-more/simple",
        "--find-links", "/opt/wheels",
        "--find-links", "/more/wheels",
        "--constraint", "/etc/xdg/pip/constraints.txt",
        "--index-strategy", "unsafe-best-match",
    ]


def test_no_configuration_gives_only_the_index_strategy():
    assert uv_index_args.uv_arguments(uv_index_args.parse_pip_config("")) == [
        "--index-strategy", "unsafe-best-match"
    ]


def test_an_unreadable_line_is_named():
    with pytest.raises(ValueError, match="no-equals-sign"):
        uv_index_args.parse_pip_config("global.find-links='/opt/wheels'\nno-equals-sign\n")
