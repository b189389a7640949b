import subprocess
import sys


def test_loading_the_models_prints_no_warning() -> None:
    """pydantic's warning about Sender.register would open every command's output."""
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import crmreport.config.models"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == ""
