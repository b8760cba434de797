"""The test suite's own rules: a test that needs ../shared skips without it, except in CI
(`CI=true`), where it fails, so that a CI run cannot pass without those tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_shared

CONFTEST = Path(__file__).with_name("conftest.py")

pytest_plugins = ["pytester"]


def test_shared_files_are_returned_when_present(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_shared(tmp_path, "the folder") == tmp_path


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_missing_shared_files_skip_outside_ci(tmp_path, monkeypatch, ci) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="official split files not found at"):
        require_shared(tmp_path / "splits", "official split files")


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_shared_files_fail_in_ci(tmp_path, monkeypatch, ci) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI=true: put ../shared beside"):
        require_shared(tmp_path / "splits", "official split files")


def test_a_fixture_test_fails_in_ci_and_skips_elsewhere(pytester, monkeypatch) -> None:
    """Through pytest itself: a test using a fixture built on require_shared."""
    pytester.makeconftest(
        f"""
        import importlib.util
        from pathlib import Path

        import pytest

        spec = importlib.util.spec_from_file_location("suite_conftest", {str(CONFTEST)!r})
        suite = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(suite)

        @pytest.fixture
        def splits_dir():
            return suite.require_shared(Path("nowhere") / "splits", "official split files")
        """
    )
    pytester.makepyfile("def test_needs_splits(splits_dir):\n    assert False\n")
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=1)
    monkeypatch.setenv("CI", "true")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(errors=1)
