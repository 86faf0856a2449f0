"""The floors of the codebase: the import contracts hold, and the checker does catch a broken one."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        + "sys.exit(lint_imports_command())"]


def test_layer_contracts_hold():
    proc = subprocess.run(LINT, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "0 broken" in proc.stdout


def test_an_upward_import_is_caught(tmp_path):
    # A miniature of the project with one import pointing up: export -> app.
    for package, body in {"app": "import export\n", "export": "import app\n", "base": ""}.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body)
    (tmp_path / "setup.cfg").write_text(textwrap.dedent("""
        [importlinter]
        root_packages = app
            export
            base
        [importlinter:contract:floors]
        name = floors
        type = layers
        layers = app
            export
            base
    """))
    proc = subprocess.run(LINT, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert proc.returncode != 0
    assert "export is not allowed to import app" in proc.stdout
