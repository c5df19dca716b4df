# JupyterLab as a reader of this book meets it: `make lab` and tests/browser/test_jupyterlab.py load
# this file with `jupyter lab --config=lab/jupyter_lab_config.py`. Nothing here leaves 127.0.0.1.
from pathlib import Path

HERE = Path(__file__).resolve().parent

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.ServerApp.ip = "127.0.0.1"
# No news feed and no update check (the announcements plugin would otherwise ask about news and
# the server would fetch https://jupyterlab.github.io/assets/feed.xml and query PyPI).
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# The extension manager's default ("pypi") asks PyPI for the latest version of every extension.
c.LabApp.extension_manager = "readonly"
# Settings overrides (settings/overrides.json): news off, no update check.
c.LabApp.app_settings_dir = str(HERE / "settings")
# The server's root is the repository (chapters show ../figures/*.svg, outside notebooks/);
# JupyterLab opens on the chapters' folder.
c.ServerApp.root_dir = str(HERE.parent)
c.LabApp.default_url = "/lab/tree/notebooks"
