"""`.ci/run` installs exactly as README's Quick start says: its install lines and the test command,
character for character and in order (issue 16: a newcomer's first hour follows only the README)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_lines():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start"):readme.index("## The main job")]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_install_and_test_commands_verbatim():
    readme = _quick_start_lines()
    wanted = [line for line in readme if not line.startswith("ntm ")]       # all but the training run
    assert any("--index-url https://download.pytorch.org/whl/cpu" in line for line in wanted)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    positions = [ci.index(line) for line in wanted]                         # ValueError: a line CI does not run
    assert positions == sorted(positions)
