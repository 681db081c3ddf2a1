"""The README's Python examples run as written (the guide's API, SPEC §5)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_the_guides_examples() -> None:
    joined = "\n".join(BLOCKS)
    for name in ("RetryPolicy", "HealthMonitor", "CircuitBreaker"):
        assert f"from wtd.self_healing import {name}" in joined


@pytest.mark.parametrize("code", BLOCKS)
def test_readme_python_example_runs(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, str(README), "exec"), {})
    out = capsys.readouterr().out
    if "HealthMonitor" in code:
        assert out == "Health: UNHEALTHY\nSuccess Rate: 50.00%\n"
