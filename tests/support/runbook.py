"""The runbook in docs/operations.md, read as the cluster tests run it: the commands of the bash
block under a heading, as an operator would copy them."""

import re

from tests.support.kube import ROOT


def commands(heading: str) -> list[str]:
    """The commands of the first bash block under the heading that starts `### heading` in
    docs/operations.md; comment lines and trailing `  # ...` comments dropped."""
    text = (ROOT / "docs/operations.md").read_text()
    block = re.search(re.escape(f"### {heading}") + r".*?```bash\n(.*?)```", text, re.S)
    assert block, f"no bash block under ### {heading!r} in docs/operations.md"
    lines = (line.split("  #", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line and not line.startswith("#")]
