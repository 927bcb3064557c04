# Shared by scripts/test and scripts/dev: a project-local virtualenv with pinned dependencies.
# The dashboard's browser tests drive Debian's Chromium (Playwright's own download is not used):
# install it when missing and we may (root, as in CI).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Reinstall only when pyproject.toml or the lock changed since the last install. The lock's
# exact versions are constraints: what runs here is what was tested.
stamp=.venv/.stepwell-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
  touch "$stamp"
fi
